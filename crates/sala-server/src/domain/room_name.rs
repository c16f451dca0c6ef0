//! Room names: 1–64 characters of `[a-z0-9_.-]` after lower-casing (SPEC §2).

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    /// The room every node creates on its first start.
    pub const GENERAL: &'static str = "general";

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
