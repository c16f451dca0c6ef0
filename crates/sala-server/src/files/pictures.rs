//! What Sala does to an uploaded picture before anyone sees it: drops its metadata (EXIF
//! carries where a photo was taken), reads its size, and makes a thumbnail, all within
//! bounds a lying header cannot push.
//!
//! Everything here is blocking file and CPU work: callers run it off the async threads.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use image::{ImageFormat, ImageReader, Limits};

use super::sniff::Sniffed;

/// Widest and tallest picture Sala decodes.
pub const MAX_SIDE: u32 = 12_000;
/// Most pixels Sala decodes (about a 48-megapixel photo).
pub const MAX_PIXELS: u64 = 50_000_000;
/// Most memory one decode may take (RGBA at `MAX_PIXELS` is 200 MB; the decoders'
/// allocations are held to this, so a header that lies about the size fails, not the node).
pub const MAX_DECODE_BYTES: u64 = 256 << 20;
/// A thumbnail fits in this square.
pub const THUMBNAIL_SIDE: u32 = 320;

/// A picture's size and its thumbnail's bytes (PNG, or JPEG for a JPEG).
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub thumbnail: Vec<u8>,
}

/// Why a picture was refused.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("the image is larger than {MAX_SIDE} pixels a side or {MAX_PIXELS} pixels")]
    TooLarge,
    #[error("the image cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Copies `input` to `output` without the metadata segments a JPEG or PNG may carry
/// (EXIF, XMP, IPTC, text chunks); other kinds are not handled here.
pub fn strip_metadata(kind: Sniffed, input: &Path, output: &Path) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(input)?);
    let mut writer = BufWriter::with_capacity(64 * 1024, File::create(output)?);
    match kind {
        Sniffed::Jpeg => strip_jpeg(&mut reader, &mut writer)?,
        Sniffed::Png => strip_png(&mut reader, &mut writer)?,
        _ => {
            io::copy(&mut reader, &mut writer)?;
        }
    }
    writer
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?
        .sync_all()
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// JPEG: segments up to the start of scan, without APP1 (EXIF, XMP) and APP13 (IPTC);
/// the scan and what follows it are copied as they are.
fn strip_jpeg(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
    let mut soi = [0u8; 2];
    reader.read_exact(&mut soi)?;
    if soi != [0xFF, 0xD8] {
        return Err(invalid("not a JPEG"));
    }
    writer.write_all(&soi)?;
    loop {
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte)?;
        if byte[0] != 0xFF {
            return Err(invalid("a JPEG segment does not start with a marker"));
        }
        // Fill bytes (0xFF repeated) may come before the marker's code.
        let mut marker = 0xFF;
        while marker == 0xFF {
            reader.read_exact(&mut byte)?;
            marker = byte[0];
        }
        if matches!(marker, 0x01 | 0xD0..=0xD9) {
            writer.write_all(&[0xFF, marker])?;
            if marker == 0xD9 {
                return Ok(());
            }
            continue;
        }
        let mut length = [0u8; 2];
        reader.read_exact(&mut length)?;
        let length = u16::from_be_bytes(length);
        if length < 2 {
            return Err(invalid("a JPEG segment is shorter than its length field"));
        }
        let mut body = reader.by_ref().take(u64::from(length - 2));
        if matches!(marker, 0xE1 | 0xED) {
            io::copy(&mut body, &mut io::sink())?;
        } else {
            writer.write_all(&[0xFF, marker])?;
            writer.write_all(&length.to_be_bytes())?;
            io::copy(&mut body, writer)?;
        }
        if marker == 0xDA {
            // Start of scan: the compressed picture and the markers after it.
            io::copy(reader, writer)?;
            return Ok(());
        }
    }
}

/// PNG: every chunk but `eXIf` and the text chunks, up to and with `IEND`.
fn strip_png(reader: &mut impl Read, writer: &mut impl Write) -> io::Result<()> {
    let mut signature = [0u8; 8];
    reader.read_exact(&mut signature)?;
    writer.write_all(&signature)?;
    loop {
        let mut head = [0u8; 8];
        reader.read_exact(&mut head)?;
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = &head[4..8];
        // The data and its CRC.
        let mut chunk = reader.by_ref().take(u64::from(length) + 4);
        if matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt") {
            io::copy(&mut chunk, &mut io::sink())?;
        } else {
            writer.write_all(&head)?;
            let copied = io::copy(&mut chunk, writer)?;
            if copied != u64::from(length) + 4 {
                return Err(invalid("a PNG chunk is cut short"));
            }
        }
        if kind == b"IEND" {
            return Ok(());
        }
    }
}

/// Reads the picture at `path` (already without its metadata): its size from the header,
/// refused if over the bounds, then decoded within [`MAX_DECODE_BYTES`] and shrunk to a
/// thumbnail.
pub fn inspect(kind: Sniffed, path: &Path) -> Result<Picture, PictureError> {
    let format = match kind {
        Sniffed::Png => ImageFormat::Png,
        Sniffed::Jpeg => ImageFormat::Jpeg,
        Sniffed::Gif => ImageFormat::Gif,
        _ => return Err(PictureError::Unreadable("not a picture".into())),
    };
    let open = || -> Result<ImageReader<BufReader<File>>, PictureError> {
        let mut reader = ImageReader::open(path)?;
        reader.set_format(format);
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_SIDE);
        limits.max_image_height = Some(MAX_SIDE);
        limits.max_alloc = Some(MAX_DECODE_BYTES);
        reader.limits(limits);
        Ok(reader)
    };
    let (width, height) = open()?.into_dimensions().map_err(refusal)?;
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PictureError::TooLarge);
    }
    let picture = open()?.decode().map_err(refusal)?;
    let small = picture.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let mut thumbnail = io::Cursor::new(Vec::new());
    match kind {
        Sniffed::Jpeg => image::DynamicImage::ImageRgb8(small.to_rgb8())
            .write_to(&mut thumbnail, ImageFormat::Jpeg),
        _ => small.write_to(&mut thumbnail, ImageFormat::Png),
    }
    .map_err(|err| PictureError::Unreadable(err.to_string()))?;
    Ok(Picture {
        width,
        height,
        thumbnail: thumbnail.into_inner(),
    })
}

fn refusal(err: image::ImageError) -> PictureError {
    match err {
        image::ImageError::Limits(_) => PictureError::TooLarge,
        image::ImageError::IoError(err) => PictureError::Io(err),
        other => PictureError::Unreadable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::{strip_jpeg, strip_png};

    #[test]
    fn jpeg_loses_its_exif_and_keeps_the_rest() {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend([0xFF, 0xE0, 0x00, 0x04, b'J', b'F']); // APP0, kept
        jpeg.extend([0xFF, 0xE1, 0x00, 0x08, b'E', b'x', b'i', b'f', 0, 0]); // APP1, dropped
        jpeg.extend([0xFF, 0xDA, 0x00, 0x03, 0x01, 0x12, 0x34, 0xFF, 0xD9]); // scan, kept
        let mut out = Vec::new();
        strip_jpeg(&mut jpeg.as_slice(), &mut out).unwrap();
        let mut expected = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, b'J', b'F'];
        expected.extend([0xFF, 0xDA, 0x00, 0x03, 0x01, 0x12, 0x34, 0xFF, 0xD9]);
        assert_eq!(out, expected);
    }

    #[test]
    fn png_loses_its_exif_chunk() {
        fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
            let mut bytes = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
            bytes.extend(kind);
            bytes.extend(data);
            bytes.extend([0, 0, 0, 0]);
            bytes
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &[1; 13]));
        png.extend(chunk(b"eXIf", b"GPS here"));
        png.extend(chunk(b"IDAT", &[2; 5]));
        png.extend(chunk(b"IEND", &[]));
        let mut out = Vec::new();
        strip_png(&mut png.as_slice(), &mut out).unwrap();
        let mut expected = b"\x89PNG\r\n\x1a\n".to_vec();
        expected.extend(chunk(b"IHDR", &[1; 13]));
        expected.extend(chunk(b"IDAT", &[2; 5]));
        expected.extend(chunk(b"IEND", &[]));
        assert_eq!(out, expected);
    }
}
