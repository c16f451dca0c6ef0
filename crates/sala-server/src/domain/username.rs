//! Usernames: 3–32 characters of `[A-Za-z0-9_.-]`, unique case-insensitively (the store
//! folds case for uniqueness; the name is kept as typed).

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// # Errors
    /// When the length or a character breaks the rule.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if !(3..=32).contains(&value.len()) {
            return Err(ValidationError::new(
                "username",
                "must be 3 to 32 characters",
            ));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(ValidationError::new(
                "username",
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for name in ["abc", "Alice_01", "a.b-c", &"x".repeat(32)] {
            assert!(Username::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_bad_lengths_and_characters() {
        for name in [
            "",
            "ab",
            &"x".repeat(33),
            "al ice",
            "bob'--",
            "émile",
            "a/b",
            "a@b",
        ] {
            assert!(Username::parse(name).is_err(), "{name}");
        }
    }
}
