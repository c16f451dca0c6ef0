//! Message text: 1–4000 characters after trimming (SPEC §2).

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    /// Trims, then checks the length.
    ///
    /// # Errors
    /// When nothing is left after trimming, or more than 4000 characters are, or it holds a
    /// NUL character (no backend stores one the same way; PostgreSQL refuses it).
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let text = value.trim();
        if text.is_empty() || text.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new("text", "must be 1 to 4000 characters"));
        }
        if text.contains('\0') {
            return Err(ValidationError::new(
                "text",
                "must not contain NUL characters",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text of a message that carries files: as [`Self::parse`], but it may be empty.
    pub fn parse_beside_files(value: &str) -> Result<Self, ValidationError> {
        if value.trim().is_empty() {
            return Ok(Self(String::new()));
        }
        Self::parse(value)
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for MessageText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::MessageText;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(MessageText::parse("  hi \n").unwrap().into_inner(), "hi");
        assert!(MessageText::parse(" \n\t ").is_err());
        assert!(MessageText::parse(&"é".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"é".repeat(4001)).is_err());
        assert!(MessageText::parse("a\0b").is_err());
    }
}
