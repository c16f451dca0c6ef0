//! The content type of an upload, read from its first bytes: what the client says is never
//! trusted (an HTML page named `cat.png` is HTML).

/// The kinds of content Sala tells apart. Only the raster images a thumbnail is made of
/// are shown inline; everything else downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Zip,
    /// SVG, HTML, XML: text a browser could run script in.
    Markup(&'static str),
    /// Valid UTF-8 without NUL bytes.
    Text,
    Binary,
}

impl Sniffed {
    /// Bytes [`sniff`] looks at.
    pub const PREFIX: usize = 512;

    /// The type a download is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Pdf => "application/pdf",
            Self::Zip => "application/zip",
            Self::Markup(kind) => kind,
            Self::Text => "text/plain; charset=utf-8",
            Self::Binary => "application/octet-stream",
        }
    }

    /// Whether Sala reads its size and makes a thumbnail (and shows it inline).
    pub fn is_picture(self) -> bool {
        matches!(self, Self::Png | Self::Jpeg | Self::Gif)
    }
}

/// What `prefix` (the first [`Sniffed::PREFIX`] bytes, or all of a shorter file) is.
pub fn sniff(prefix: &[u8]) -> Sniffed {
    if prefix.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Png;
    }
    if prefix.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Jpeg;
    }
    if prefix.starts_with(b"GIF87a") || prefix.starts_with(b"GIF89a") {
        return Sniffed::Gif;
    }
    if prefix.len() >= 12 && &prefix[..4] == b"RIFF" && &prefix[8..12] == b"WEBP" {
        return Sniffed::Webp;
    }
    if prefix.starts_with(b"%PDF-") {
        return Sniffed::Pdf;
    }
    if prefix.starts_with(b"PK\x03\x04") {
        return Sniffed::Zip;
    }
    let text = match std::str::from_utf8(prefix) {
        Ok(text) => text,
        // A multi-byte character cut at the end of the prefix is still text.
        Err(err) if err.error_len().is_none() => {
            std::str::from_utf8(&prefix[..err.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return Sniffed::Binary,
    };
    // Text has no control characters but the whitespace ones (and ESC, for coloured
    // terminal logs).
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c' | '\x1b'))
    {
        return Sniffed::Binary;
    }
    let start = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    if start.contains("<svg") {
        Sniffed::Markup("image/svg+xml")
    } else if [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<script",
        "<iframe",
    ]
    .iter()
    .any(|tag| start.contains(tag))
    {
        Sniffed::Markup("text/html")
    } else if start.starts_with("<?xml") {
        Sniffed::Markup("application/xml")
    } else {
        Sniffed::Text
    }
}

#[cfg(test)]
mod tests {
    use super::{Sniffed, sniff};

    #[test]
    fn the_bytes_decide_not_the_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Sniffed::Png);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Sniffed::Jpeg);
        assert_eq!(sniff(b"GIF89a"), Sniffed::Gif);
        assert_eq!(sniff(b"%PDF-1.7"), Sniffed::Pdf);
        assert_eq!(sniff(b"hello"), Sniffed::Text);
        assert_eq!(sniff(b""), Sniffed::Text);
        assert_eq!(sniff(b"a\0b"), Sniffed::Binary);
        assert_eq!(sniff(&[7; 8]), Sniffed::Binary);
        assert_eq!(sniff(b"a\tb\r\n"), Sniffed::Text);
        assert_eq!(sniff(&[0xC3]), Sniffed::Text, "a character cut short");
        assert_eq!(sniff(&[0xFF, 0xFE, 0x00]), Sniffed::Binary);
        assert_eq!(
            sniff(b"<?xml version=\"1.0\"?>\n<svg onload=alert(1)>"),
            Sniffed::Markup("image/svg+xml")
        );
        assert_eq!(sniff(b"  <!DOCTYPE html><p>"), Sniffed::Markup("text/html"));
        assert_eq!(
            sniff(b"hi <script>x</script>"),
            Sniffed::Markup("text/html")
        );
        assert!(!Sniffed::Markup("image/svg+xml").is_picture());
    }
}
