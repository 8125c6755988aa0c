//! What tests of a blur need (feature `testing`): a sharp image of small
//! print, and a measure of how much fine detail an image holds.

use std::io::Cursor;

use image::{DynamicImage, RgbImage};
use tracker_core::tracking::ImageFormat;

/// A `width` × `height` page of black text-like strokes on white (glyphs
/// of 7 × 10 pixels in lines 16 pixels apart, as small print is),
/// encoded as `format`.
///
/// # Panics
///
/// If the image cannot be encoded (a side of 0).
pub fn sharp_page(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let page = RgbImage::from_fn(width, height, |x, y| {
        let line = y % 16;
        let glyph = x % 9;
        let ink = (3..13).contains(&line)
            && glyph < 7
            && match (x / 9 + y / 16) % 4 {
                0 => glyph == 1 || glyph == 5 || line == 8,
                1 => glyph < 2 || line == 3 || line == 12,
                2 => glyph == 3 || line % 4 == 0,
                _ => (glyph + line) % 5 == 0,
            };
        image::Rgb(if ink { [0; 3] } else { [255; 3] })
    });
    let format = match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Webp => image::ImageFormat::WebP,
    };
    let mut out = Cursor::new(Vec::new());
    page.write_to(&mut out, format).expect("the page encodes");
    out.into_inner()
}

/// The fine detail of an encoded image: the mean squared 4-neighbour
/// Laplacian of its luma. Sharp text scores in the thousands; a blur
/// that makes it unreadable takes that down by orders of magnitude.
///
/// # Panics
///
/// If `image` does not decode, or a side is shorter than 3 pixels.
pub fn detail(image: &[u8]) -> f64 {
    let luma = image::load_from_memory(image)
        .map(DynamicImage::into_luma8)
        .expect("an image");
    let (width, height) = luma.dimensions();
    assert!(width > 2 && height > 2, "{width} × {height} is too small");
    let at = |x: u32, y: u32| f64::from(luma.get_pixel(x, y).0[0]);
    let mut sum = 0.0;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let l = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            sum += l * l;
        }
    }
    sum / f64::from((width - 2) * (height - 2))
}
