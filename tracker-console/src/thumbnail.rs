//! Gallery thumbnails: a screenshot shrunk to fit 320 × 200 as a JPEG,
//! drawn once per screenshot and kept by the service beside the image.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The box a thumbnail fits in, keeping the screenshot's proportions.
pub(crate) const WIDTH: u32 = 320;
/// See [`WIDTH`].
pub(crate) const HEIGHT: u32 = 200;

/// The thumbnail of `image`, or `None` when it is not an image this can
/// decode within its limits (the gallery then shows the image itself).
pub(crate) fn draw(image: &[u8]) -> Option<Vec<u8>> {
    // A screenshot of a large desktop fits; a crafted image that claims
    // to be enormous is refused before its pixels are allocated.
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(512 * 1024 * 1024);
    let mut reader = ImageReader::new(Cursor::new(image))
        .with_guessed_format()
        .ok()?;
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    // JPEG has no alpha channel: drop it before encoding.
    let small = DynamicImage::ImageRgb8(picture.thumbnail(WIDTH, HEIGHT).to_rgb8());
    let mut out = Cursor::new(Vec::new());
    small.write_to(&mut out, ImageFormat::Jpeg).ok()?;
    Some(out.into_inner())
}

/// [`draw`] on a blocking thread, so decoding a large image holds no
/// request thread.
pub(crate) async fn draw_off_thread(image: Vec<u8>) -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(move || draw(&image))
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 255])
        });
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(picture)
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn a_screenshot_shrinks_to_a_small_jpeg_of_its_proportions() {
        let full = png(1920, 1080);
        let thumb = draw(&full).expect("a PNG decodes");
        assert!(thumb.starts_with(&[0xFF, 0xD8]), "a JPEG");
        let back = image::load_from_memory(&thumb).unwrap();
        assert_eq!((back.width(), back.height()), (320, 180));
        assert!(thumb.len() < 32 * 1024, "{} bytes", thumb.len());
    }

    #[test]
    fn what_is_not_an_image_draws_nothing() {
        assert_eq!(draw(b"\x89PNG\r\n\x1a\nnot really"), None);
        assert_eq!(draw(b""), None);
    }
}
