//! The files a `send` attaches, by id.

use super::ValidationError;

/// 0 to [`Attachments::MAX`] distinct file ids, each as uploads hand them out (32 hex
/// digits). Whether each is the sender's, of the room, and unsent, the store checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachments(Vec<String>);

impl Attachments {
    pub const MAX: usize = 10;

    pub fn parse(ids: Vec<String>) -> Result<Self, ValidationError> {
        if ids.len() > Self::MAX {
            return Err(ValidationError::new(
                "attachments",
                "must be at most 10 files",
            ));
        }
        for (index, id) in ids.iter().enumerate() {
            if !is_file_id(id) {
                return Err(ValidationError::new("attachments", "must be file ids"));
            }
            if ids[..index].contains(id) {
                return Err(ValidationError::new(
                    "attachments",
                    "must not name a file twice",
                ));
            }
        }
        Ok(Self(ids))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

/// Whether `id` has the form of a file id (32 lowercase hex digits).
pub fn is_file_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::Attachments;

    #[test]
    fn ids_are_checked_for_form_count_and_repeats() {
        let id = "0123456789abcdef0123456789abcdef".to_owned();
        assert!(Attachments::parse(vec![id.clone()]).is_ok());
        assert!(Attachments::parse(vec![]).unwrap().is_empty());
        assert!(Attachments::parse(vec![id.clone(), id.clone()]).is_err());
        assert!(Attachments::parse(vec!["../etc".into()]).is_err());
        assert!(Attachments::parse(vec![id.to_uppercase()]).is_err());
        let many = (0..11).map(|n| format!("{n:032x}")).collect();
        assert!(Attachments::parse(many).is_err());
    }
}
