//! Photos for the field: the camera's file becomes one light enough for 2G.
//!
//! A cheap phone's camera gives a 4000×3000 JPEG of 3–5 MB with EXIF naming the phone, its serial
//! and often the place. Over 100 kbit/s that is five minutes per photo, and the encrypted store
//! grows by as much. On the device, before anything is stored, a photo is decoded, turned upright
//! by its EXIF orientation, scaled so its long side is at most [`MAX_SIDE`] px, and re-encoded as
//! a baseline JPEG of at most [`MAX_BYTES`] (quality stepped down, then the size, until it fits).
//! Re-encoding writes no metadata at all: no EXIF, no GPS, no maker notes, no thumbnail.
//! [`thumbnail`] makes the small picture the visit and household screens show.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;

/// Longest side of a stored photo, px: a house front and a KK stay legible to a supervisor.
pub const MAX_SIDE: u32 = 1280;
/// Largest stored photo, bytes: 20 s at 100 kbit/s.
pub const MAX_BYTES: usize = 250_000;
/// JPEG qualities tried in turn; below the last, the picture is made smaller instead.
const QUALITIES: [u8; 4] = [82, 72, 62, 52];

/// A file the phone gave that is not a picture this app can read.
#[derive(Debug, thiserror::Error)]
#[error("not a readable photo: {0}")]
pub struct Unreadable(String);

fn decode(bytes: &[u8]) -> Result<DynamicImage, Unreadable> {
    let err = |e: &dyn std::fmt::Display| Unreadable(e.to_string());
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(&e))?
        .into_decoder()
        .map_err(|e| err(&e))?;
    // A phone held upright writes a landscape JPEG with an orientation tag; the tag goes with
    // the metadata, so the pixels are turned now.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| err(&e))?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, Unreadable> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img.to_rgb8())
        .map_err(|e| Unreadable(e.to_string()))?;
    Ok(out)
}

fn fit(img: DynamicImage, side: u32) -> DynamicImage {
    if img.width().max(img.height()) > side {
        img.resize(side, side, FilterType::Triangle)
    } else {
        img
    }
}

/// The photo as stored and sent: upright, long side ≤ [`MAX_SIDE`], ≤ [`MAX_BYTES`], JPEG, no
/// metadata.
pub fn prepare(bytes: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let mut img = fit(decode(bytes)?, MAX_SIDE);
    loop {
        for q in QUALITIES {
            let out = jpeg(&img, q)?;
            if out.len() <= MAX_BYTES {
                return Ok(out);
            }
        }
        // Noise-like pictures (a dark room at high ISO) stay large at any quality: smaller then.
        let side = img.width().max(img.height()) * 4 / 5;
        if side < 64 {
            return jpeg(&img, QUALITIES[QUALITIES.len() - 1]);
        }
        img = fit(img, side);
    }
}

/// A small JPEG of a stored photo, long side `side` px, for the screens.
pub fn thumbnail(bytes: &[u8], side: u32) -> Result<Vec<u8>, Unreadable> {
    jpeg(&fit(decode(bytes)?, side), 70)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_png_becomes_a_jpeg_without_growing_past_the_limits() {
        let img = image::RgbImage::from_fn(300, 200, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut png = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let out = prepare(&png).unwrap();
        assert_eq!(&out[..2], &[0xFF, 0xD8], "a JPEG");
        let back = image::load_from_memory(&out).unwrap();
        assert_eq!((back.width(), back.height()), (300, 200), "never enlarged");
        assert!(prepare(b"not a photo").is_err());
    }
}
