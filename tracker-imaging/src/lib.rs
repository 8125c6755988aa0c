//! The screenshot blur of tracker: [`ImageBlur`] decodes a PNG, JPEG or
//! WebP screenshot, blurs it beyond reading and encodes the result, for
//! [`TrackerBuilder::blur`](tracker_core::TrackerBuilder::blur).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tracker_core::ScreenshotBlur;
//! use tracker_core::tracking::ImageFormat;
//! use tracker_imaging::ImageBlur;
//!
//! let checkerboard = image::GrayImage::from_fn(64, 64, |x, y| image::Luma([((x ^ y) & 1) as u8 * 255]));
//! let mut png = std::io::Cursor::new(Vec::new());
//! checkerboard.write_to(&mut png, image::ImageFormat::Png)?;
//!
//! let blurred = ImageBlur::default().blur(png.into_inner(), ImageFormat::Png).await?;
//! assert_eq!(ImageFormat::detect(&blurred), Some(ImageFormat::Png));
//! # Ok(()) }
//! ```

use std::io::Cursor;

use async_trait::async_trait;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageError, ImageReader, Limits};
use tracker_core::tracking::ImageFormat;
use tracker_core::{Error, Result, ScreenshotBlur};

#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// The widest and tallest image decoded, in pixels: a large desktop fits.
const MAX_SIDE: u32 = 16_384;
/// The most a decoder may allocate: an image claiming more is refused
/// before its pixels are.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;
/// The blur's sigma on the shrunk image, in its pixels.
const SMALL_SIGMA: f32 = 2.0;
/// The quality of the JPEG written for a JPEG screenshot.
const JPEG_QUALITY: u8 = 80;

/// A [`ScreenshotBlur`] on the `image` crate: a blur whose radius grows
/// with the image (about a Gaussian of sigma a hundredth of the longest
/// side, at least 8 pixels), so text is unreadable at any screen size.
/// A JPEG comes back as a JPEG, a PNG or WebP as a PNG; nothing of the
/// original's metadata (EXIF and its thumbnail, text chunks) is kept.
/// What does not decode, or is larger than 16384 × 16384 pixels or
/// 512 MiB decoded, is refused with a validation error on `image`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ImageBlur;

#[async_trait]
impl ScreenshotBlur for ImageBlur {
    async fn blur(&self, image: Vec<u8>, format: ImageFormat) -> Result<Vec<u8>> {
        // Decoding, blurring and encoding a large screenshot takes tens
        // to hundreds of milliseconds of CPU: not on a request thread.
        tokio::task::spawn_blocking(move || blur(&image, format))
            .await
            .map_err(|e| Error::storage("blur", e))?
    }
}

/// `image` decoded as `format`, blurred, and encoded.
fn blur(image: &[u8], format: ImageFormat) -> Result<Vec<u8>> {
    let picture = decode(image, format)?;
    let mut out = Cursor::new(Vec::new());
    let written = match format {
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => blur_pixels(&DynamicImage::ImageRgb8(picture.into_rgb8()))
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
        ImageFormat::Png | ImageFormat::Webp => {
            let picture = if picture.color().has_alpha() {
                DynamicImage::ImageRgba8(picture.into_rgba8())
            } else {
                DynamicImage::ImageRgb8(picture.into_rgb8())
            };
            blur_pixels(&picture).write_with_encoder(PngEncoder::new(&mut out))
        }
    };
    written.map_err(|e| Error::storage("blur", e))?;
    Ok(out.into_inner())
}

/// `picture` blurred as a Gaussian of sigma `max(8, longest side / 100)`
/// would, at a fraction of the cost: shrunk by sigma / 2 (each pixel the
/// mean of its block), blurred with sigma 2 there, and stretched back.
/// What comes out holds no more detail than the small image, so no
/// sharpening can bring the text back.
fn blur_pixels(picture: &DynamicImage) -> DynamicImage {
    let (width, height) = (picture.width(), picture.height());
    let sigma = (width.max(height) as f32 / 100.0).max(8.0);
    let shrink = sigma / SMALL_SIGMA;
    let small = |side: u32| ((side as f32 / shrink).round() as u32).max(1);
    picture
        .thumbnail_exact(small(width), small(height))
        .fast_blur(SMALL_SIGMA)
        .resize_exact(width, height, FilterType::Triangle)
}

/// `image` decoded as `format` within the limits; what does not decode is
/// a validation error on `image`.
fn decode(image: &[u8], format: ImageFormat) -> Result<DynamicImage> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = ImageReader::with_format(
        Cursor::new(image),
        match format {
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Webp => image::ImageFormat::WebP,
        },
    );
    reader.limits(limits);
    reader.decode().map_err(|e| {
        let why = match e {
            ImageError::Limits(_) => format!(
                "is too large to blur: at most {MAX_SIDE} × {MAX_SIDE} pixels and {} MiB decoded",
                MAX_ALLOC / 1024 / 1024
            ),
            e => format!("cannot be decoded as {}: {e}", format.media_type()),
        };
        Error::invalid("image", why)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{detail, sharp_page};

    async fn blurred(bytes: &[u8], format: ImageFormat) -> Result<Vec<u8>> {
        ImageBlur::default().blur(bytes.to_vec(), format).await
    }

    #[tokio::test]
    async fn text_loses_its_fine_detail() {
        let sharp = sharp_page(640, 400, ImageFormat::Png);
        let out = blurred(&sharp, ImageFormat::Png).await.unwrap();
        let (before, after) = (detail(&sharp), detail(&out));
        assert!(before > 1000.0, "the page is sharp: {before}");
        assert!(
            after < before / 10.0,
            "detail {after} after the blur, {before} before"
        );
    }

    #[tokio::test]
    async fn every_accepted_format_gives_an_accepted_image_of_its_size() {
        for (format, expected) in [
            (ImageFormat::Png, ImageFormat::Png),
            (ImageFormat::Jpeg, ImageFormat::Jpeg),
            (ImageFormat::Webp, ImageFormat::Png),
        ] {
            let out = blurred(&sharp_page(640, 400, format), format)
                .await
                .unwrap();
            assert_eq!(ImageFormat::detect(&out), Some(expected), "{format:?}");
            let back = image::load_from_memory(&out).unwrap();
            assert_eq!((back.width(), back.height()), (640, 400), "{format:?}");
        }
    }

    #[tokio::test]
    async fn an_alpha_channel_is_kept_in_a_png() {
        let sharp = DynamicImage::ImageRgba8(image::RgbaImage::from_fn(64, 48, |x, _| {
            image::Rgba([0, 0, 0, if x < 32 { 255 } else { 0 }])
        }));
        let mut png = Cursor::new(Vec::new());
        sharp.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let out = blurred(png.get_ref(), ImageFormat::Png).await.unwrap();
        assert!(image::load_from_memory(&out).unwrap().color().has_alpha());
    }

    #[tokio::test]
    async fn what_does_not_decode_is_refused_on_image() {
        let png = sharp_page(640, 400, ImageFormat::Png);
        let truncated = &png[..png.len() / 2];
        for (bytes, format) in [
            (&b"definitely not an image"[..], ImageFormat::Png),
            (
                &b"\xFF\xD8\xFF garbage after a JPEG signature"[..],
                ImageFormat::Jpeg,
            ),
            (&b"RIFF\0\0\0\0WEBPgarbage"[..], ImageFormat::Webp),
            (b"", ImageFormat::Png),
            (truncated, ImageFormat::Png),
        ] {
            let err = blurred(bytes, format).await.unwrap_err();
            assert_eq!(err.code(), "validation", "{err}");
            let fields: Vec<_> = err.field_errors().iter().map(|f| &f.field).collect();
            assert_eq!(fields, ["image"], "{err}");
        }
    }
    #[tokio::test]
    async fn an_image_past_the_limits_is_refused_before_it_is_decoded() {
        // A PNG header claiming 20000 × 20000 RGB pixels, its CRC right.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&20_000u32.to_be_bytes());
        png.extend_from_slice(&20_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0x6c, 0x12, 0xd1, 0x6e]);
        let err = blurred(&png, ImageFormat::Png).await.unwrap_err();
        assert_eq!(err.field_errors().len(), 1, "{err}");
        assert!(err.field_errors()[0].message.contains("too large"), "{err}");
    }
}
