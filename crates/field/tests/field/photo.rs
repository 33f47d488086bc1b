//! A real camera-sized photo, made at test time: 4000×3000, JPEG at quality 95, with EXIF that
//! names the phone and says "rotate 90°". What the app stores is upright, ≤ 1280 px, ≤ 250 KB
//! and carries no metadata.

use image::codecs::jpeg::JpegEncoder;
use verivali_field::photo::{MAX_BYTES, MAX_SIDE, prepare, thumbnail};

/// A minimal little-endian TIFF/EXIF block: Make = "VerivaliPhone", Orientation = 6.
fn exif() -> Vec<u8> {
    let mut t = vec![0x49, 0x49, 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00];
    t.extend_from_slice(&2u16.to_le_bytes());
    // Make: ASCII, 14 bytes at offset 38 (after the IFD).
    t.extend_from_slice(&0x010Fu16.to_le_bytes());
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&14u32.to_le_bytes());
    t.extend_from_slice(&38u32.to_le_bytes());
    // Orientation: SHORT 6 (the camera was turned: rotate 90° clockwise to view).
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&[6, 0, 0, 0]);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(b"VerivaliPhone\0");
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + t.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&t);
    app1
}

fn camera_photo() -> Vec<u8> {
    let mut seed: u32 = 0x2545_F491;
    let img = image::RgbImage::from_fn(4000, 3000, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (seed % 24) as u8;
        image::Rgb([
            (x / 16) as u8 ^ n,
            (y / 12) as u8 ^ n,
            ((x + y) / 28) as u8 ^ n,
        ])
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&img)
        .unwrap();
    // The EXIF segment goes right after the start-of-image marker, where cameras write it.
    let mut out = jpeg[..2].to_vec();
    out.extend(exif());
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_camera_photo_is_stored_upright_small_and_without_metadata() {
    let camera = camera_photo();
    assert!(
        camera.len() > 2_000_000,
        "a camera-sized file: {}",
        camera.len()
    );
    assert!(contains(&camera, b"VerivaliPhone"));
    let stored = prepare(&camera).unwrap();
    eprintln!(
        "camera photo {} bytes -> stored {} bytes",
        camera.len(),
        stored.len()
    );
    assert!(stored.len() <= MAX_BYTES, "{} bytes", stored.len());
    assert!(!contains(&stored, b"Exif"), "EXIF stripped");
    assert!(
        !contains(&stored, b"VerivaliPhone"),
        "the phone's name stripped"
    );
    let back = image::load_from_memory(&stored).unwrap();
    // Turned by the orientation tag: portrait, long side at the limit.
    assert_eq!((back.width(), back.height()), (MAX_SIDE * 3 / 4, MAX_SIDE));
    let thumb = thumbnail(&stored, 160).unwrap();
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!((t.width(), t.height()), (120, 160));
}
