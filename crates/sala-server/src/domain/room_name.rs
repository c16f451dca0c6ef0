//! Room names: 1–64 characters of `[a-z0-9_.-]` after lower-casing (SPEC §2).

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    /// The room every node creates on its first start.
    pub const GENERAL: &'static str = "general";

    /// What every DM's handle starts with; no room can be created with such a name.
    pub const DM_PREFIX: &'static str = "dm.";

    /// A name for a new public or private room: as [`parse`](Self::parse), and not one of
    /// the names DMs use.
    ///
    /// # Errors
    /// As `parse`, or a name starting with [`DM_PREFIX`](Self::DM_PREFIX).
    pub fn for_new_room(value: &str) -> Result<Self, ValidationError> {
        let name = Self::parse(value)?;
        if name.0.starts_with(Self::DM_PREFIX) {
            return Err(ValidationError::new(
                "name",
                "names starting with 'dm.' are kept for direct messages",
            ));
        }
        Ok(name)
    }

    /// Lower-cases, then checks.
    ///
    /// # Errors
    /// When the length or a character breaks the rule.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let name = value.to_ascii_lowercase();
        if !(1..=64).contains(&name.len()) {
            return Err(ValidationError::new("name", "must be 1 to 64 characters"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        {
            return Err(ValidationError::new(
                "name",
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(name))
    }
}

impl AsRef<str> for RoomName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::RoomName;

    #[test]
    fn new_rooms_may_not_take_a_dm_handle() {
        assert!(RoomName::for_new_room("dm.abc").is_err());
        assert!(RoomName::for_new_room("DM.abc").is_err());
        assert!(RoomName::for_new_room("dm-talk").is_ok());
        assert!(
            RoomName::parse("dm.abc").is_ok(),
            "DMs are joined by their handle"
        );
    }

    #[test]
    fn lower_cases_valid_names() {
        assert_eq!(
            RoomName::parse("Rust-Lang.2").unwrap().as_ref(),
            "rust-lang.2"
        );
    }

    #[test]
    fn rejects_bad_names() {
        for name in [
            "",
            &"r".repeat(65),
            "two words",
            "drop;table",
            "naïve",
            "a/b",
        ] {
            assert!(RoomName::parse(name).is_err(), "{name}");
        }
    }
}
