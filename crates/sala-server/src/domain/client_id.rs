use super::ValidationError;

/// The key a client gives a `send` so that a resend after a lost ack is stored once
/// (SPEC §3): 1 to 128 characters, kept exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub const MAX_CHARS: usize = 128;

    /// # Errors
    /// When `value` is empty or longer than 128 characters.
    pub fn parse(value: String) -> Result<Self, ValidationError> {
        if value.is_empty() || value.chars().count() > Self::MAX_CHARS || value.contains('\0') {
            return Err(ValidationError::new(
                "client_id",
                "must be 1 to 128 characters, without NUL",
            ));
        }
        Ok(Self(value))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::ClientId;

    #[test]
    fn bounds_in_characters_and_keeps_the_value_as_given() {
        assert_eq!(ClientId::parse(" a ".into()).unwrap().into_inner(), " a ");
        assert!(ClientId::parse(String::new()).is_err());
        assert!(ClientId::parse("é".repeat(128)).is_ok());
        assert!(ClientId::parse("é".repeat(129)).is_err());
    }
}
