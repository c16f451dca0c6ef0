//! The name an uploaded file is shown and downloaded under.

use super::ValidationError;

/// A file's name: 1 to 255 bytes of UTF-8, the last part of whatever path the client
/// sent (`../../etc/passwd` is `passwd`: the name never touches a file system, since the
/// bytes are stored under their hash, but a download must not suggest a path either), and
/// no control characters or bidirectional overrides (`U+202E` makes `exe.txt` read as
/// `txt.exe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub const MAX_BYTES: usize = 255;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.chars().any(forbidden) {
            return Err(ValidationError::new(
                "name",
                "must not contain control characters or bidirectional overrides",
            ));
        }
        let last = value.rsplit(['/', '\\']).next().unwrap_or_default().trim();
        if last.is_empty() || last == "." || last == ".." {
            return Err(ValidationError::new("name", "must name a file"));
        }
        if last.len() > Self::MAX_BYTES {
            return Err(ValidationError::new("name", "must be at most 255 bytes"));
        }
        Ok(Self(last.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Control characters (NUL, newlines, escapes) and the characters that reorder text.
fn forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::FileName;

    #[test]
    fn a_path_keeps_its_last_part() {
        assert_eq!(
            FileName::parse("../../etc/passwd").unwrap().as_ref(),
            "passwd"
        );
        assert_eq!(
            FileName::parse("C:\\Users\\a\\b.png").unwrap().as_ref(),
            "b.png"
        );
        assert_eq!(
            FileName::parse("<script>.html").unwrap().as_ref(),
            "<script>.html"
        );
        assert_eq!(
            FileName::parse("日本語.txt").unwrap().as_ref(),
            "日本語.txt"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "   ",
            "..",
            "a/..",
            "dir/",
            "a\0b",
            "a\nb",
            "evil\u{202E}txt.exe",
        ] {
            assert!(FileName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(FileName::parse(&"a".repeat(255)).is_ok());
        assert!(FileName::parse(&"a".repeat(256)).is_err());
        assert!(FileName::parse(&"é".repeat(150)).is_err(), "300 bytes");
    }
}
