//! A reaction: one emoji, as a person picks it from a keyboard or a picker.

use unicode_segmentation::UnicodeSegmentation as _;

use super::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

impl Emoji {
    /// The most bytes one emoji takes (a family of four with skin tones is 25 to 35; the
    /// longest flags of subdivisions are 28).
    pub const MAX_BYTES: usize = 32;

    /// One grapheme, at most 32 bytes, made of emoji code points and the joiners,
    /// variation selectors, skin tones, keycaps and tags that build them.
    ///
    /// # Errors
    /// Anything else: text, two emoji, whitespace, a lone modifier.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let refuse = || ValidationError::new("emoji", "must be one emoji");
        if value.is_empty() || value.len() > Self::MAX_BYTES || value.graphemes(true).count() != 1 {
            return Err(refuse());
        }
        let mut pictures = 0;
        for c in value.chars() {
            match kind(c) {
                Part::Picture => pictures += 1,
                Part::Builder => {}
                Part::Other => return Err(refuse()),
            }
        }
        // Digits, `#` and `*` are emoji only as keycaps (with U+20E3).
        let keycap = value.contains('\u{20E3}');
        if pictures == 0 && !keycap {
            return Err(refuse());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

enum Part {
    Picture,
    Builder,
    Other,
}

fn kind(c: char) -> Part {
    match u32::from(c) {
        0x1F000..=0x1FAFF
        | 0x2600..=0x27BF
        | 0x2300..=0x23FF
        | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF
        | 0x25A0..=0x25FF
        | 0x2934..=0x2935
        | 0x3030
        | 0x303D
        | 0x3297
        | 0x3299
        | 0x00A9
        | 0x00AE
        | 0x203C
        | 0x2049
        | 0x2122
        | 0x2139
        | 0x24C2 => Part::Picture,
        // Joiner, variation selectors, keycap, tags (subdivision flags), and the digits,
        // `#` and `*` keycaps start with.
        0x200D | 0xFE0E | 0xFE0F | 0x20E3 | 0xE0020..=0xE007F => Part::Builder,
        _ if c.is_ascii_digit() || c == '#' || c == '*' => Part::Builder,
        _ => Part::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_of_any_build_is_a_reaction() {
        for emoji in ["👍", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇮", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "☕"]
        {
            assert!(Emoji::parse(emoji).is_ok(), "{emoji}");
        }
    }

    #[test]
    fn text_two_emoji_and_long_strings_are_not() {
        let long = "👍".repeat(50);
        for bad in [
            "", "a", "ok", "👍👍", " 👍", "1", "#", "\u{200D}", "<b>", &long, "👍\0",
        ] {
            assert!(Emoji::parse(bad).is_err(), "{bad:?}");
        }
    }
}
