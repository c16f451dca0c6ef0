//! Passwords: 8–128 characters. Never logged: `Debug` prints a placeholder.

use super::ValidationError;

pub struct Password(String);

impl Password {
    /// # Errors
    /// When it is shorter than 8 or longer than 128 characters.
    pub fn parse(value: String) -> Result<Self, ValidationError> {
        let chars = value.chars().count();
        if !(8..=128).contains(&chars) {
            return Err(ValidationError::new(
                "password",
                "must be 8 to 128 characters",
            ));
        }
        Ok(Self(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn bounds_are_counted_in_characters() {
        assert!(Password::parse("ééééééé".into()).is_err());
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("x".repeat(128)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let password = Password::parse("hunter2hunter2".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
