//! Short free texts: a room's topic and a status note. Trimmed; empty means none.

use super::ValidationError;

fn optional_text(
    value: Option<&str>,
    field: &'static str,
    max_chars: usize,
    problem: &'static str,
) -> Result<Option<String>, ValidationError> {
    let Some(text) = value.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max_chars || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new(field, problem));
    }
    Ok(Some(text.to_owned()))
}

/// A room topic: up to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomTopic(Option<String>);

impl RoomTopic {
    /// # Errors
    /// When it is longer than 200 characters or holds control characters.
    pub fn parse(value: Option<&str>) -> Result<Self, ValidationError> {
        optional_text(
            value,
            "topic",
            200,
            "must be at most 200 characters, without control characters",
        )
        .map(Self)
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A status note ("in a meeting until 3"): up to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNote(Option<String>);

impl StatusNote {
    /// # Errors
    /// When it is longer than 200 characters or holds control characters.
    pub fn parse(value: Option<&str>) -> Result<Self, ValidationError> {
        optional_text(
            value,
            "note",
            200,
            "must be at most 200 characters, without control characters",
        )
        .map(Self)
    }

    pub fn into_inner(self) -> Option<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{RoomTopic, StatusNote};

    #[test]
    fn blank_means_none() {
        assert_eq!(RoomTopic::parse(Some("   ")).unwrap().as_deref(), None);
        assert_eq!(StatusNote::parse(None).unwrap().into_inner(), None);
    }

    #[test]
    fn trims_and_bounds() {
        assert_eq!(
            RoomTopic::parse(Some(" hi ")).unwrap().as_deref(),
            Some("hi")
        );
        assert!(RoomTopic::parse(Some(&"x".repeat(201))).is_err());
        assert!(StatusNote::parse(Some("bell\u{7}")).is_err());
    }
}
