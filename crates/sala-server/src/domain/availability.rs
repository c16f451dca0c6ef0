//! A status change: `busy` or `available`, with an optional note (SPEC §2, §5).

use super::{StatusNote, ValidationError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub busy: bool,
    pub note: Option<String>,
}

impl Availability {
    /// # Errors
    /// An unknown status word, or a note that breaks its rule.
    pub fn parse(status: &str, note: Option<&str>) -> Result<Self, ValidationError> {
        let busy = match status {
            "busy" => true,
            "available" => false,
            _ => {
                return Err(ValidationError::new(
                    "status",
                    "must be \"busy\" or \"available\"",
                ));
            }
        };
        let note = StatusNote::parse(note)?.into_inner();
        Ok(Self { busy, note })
    }
}
