use super::ValidationError;

/// How many items one page of a listing holds: the `limit` of a message history (over
/// `/ws`, Socket.io or HTTP) or of the room list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    /// The size when the client gives none.
    pub const DEFAULT: u32 = 50;

    /// A page of messages: 1 to 200.
    ///
    /// # Errors
    /// When `limit` is outside 1–200.
    pub fn of_messages(limit: Option<u32>) -> Result<Self, ValidationError> {
        Self::within(limit, 200, "must be 1 to 200")
    }

    /// A page of rooms: 1 to 100.
    ///
    /// # Errors
    /// When `limit` is outside 1–100.
    pub fn of_rooms(limit: Option<u32>) -> Result<Self, ValidationError> {
        Self::within(limit, 100, "must be 1 to 100")
    }

    fn within(
        limit: Option<u32>,
        max: u32,
        problem: &'static str,
    ) -> Result<Self, ValidationError> {
        match limit.unwrap_or(Self::DEFAULT) {
            size @ 1.. if size <= max => Ok(Self(size)),
            _ => Err(ValidationError::new("limit", problem)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::PageSize;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(PageSize::of_messages(None).unwrap().get(), 50);
        assert_eq!(PageSize::of_messages(Some(200)).unwrap().get(), 200);
        assert!(PageSize::of_messages(Some(0)).is_err());
        assert!(PageSize::of_messages(Some(201)).is_err());
        assert_eq!(PageSize::of_rooms(Some(100)).unwrap().get(), 100);
        assert!(PageSize::of_rooms(Some(101)).is_err());
    }
}
