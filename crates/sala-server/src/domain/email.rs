//! Email addresses: a pragmatic check (one `@`, a local part, a dotted domain, no spaces or
//! control characters, at most 254 bytes). Deliverability is not ours to judge.

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// When the address is not shaped like `local@domain.tld`.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("email", "must be a valid address");
        let value = value.trim();
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value.to_owned()))
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_ordinary_addresses() {
        for value in [
            "a@b.co",
            "first.last+tag@example.org",
            " alice@example.org ",
        ] {
            assert!(Email::parse(value).is_ok(), "{value}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for value in [
            "",
            "alice",
            "@example.org",
            "alice@",
            "alice@org",
            "a@b@c.d",
            "a b@c.d",
            "a@b..c",
        ] {
            assert!(Email::parse(value).is_err(), "{value}");
        }
    }
}
