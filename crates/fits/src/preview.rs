//! PNG previews of images: block-averaged, zscale-stretched, 8-bit grey.
//!
//! The archive makes a preview (image binned to at most `max_size` pixels on its long side) and
//! a thumbnail of every stacked image when it is archived; the web server serves them and makes
//! missing ones on demand. FITS row 1 is the bottom row, so rows are flipped to put north-up
//! images the right way up on screen. NaN pixels are drawn black.

use crate::image::{ImageError, ImageFile};
use std::path::Path;
use tomoe_core::stats::zscale;

/// Sizes of a preview and its thumbnail (longest side, pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewSizes {
    /// Preview.
    pub preview: usize,
    /// Thumbnail.
    pub thumb: usize,
}

impl Default for PreviewSizes {
    fn default() -> Self {
        Self {
            preview: 1000,
            thumb: 200,
        }
    }
}

/// A preview and a thumbnail as PNG bytes.
#[derive(Debug, Clone)]
pub struct Previews {
    /// The preview PNG.
    pub preview: Vec<u8>,
    /// The thumbnail PNG.
    pub thumb: Vec<u8>,
    /// zscale limits used for both.
    pub limits: (f64, f64),
}

/// Errors making previews.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// Reading the image failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Encoding failed.
    #[error("PNG encoding: {0}")]
    Png(String),
}

/// Averages `factor × factor` blocks (NaN pixels left out; a block of NaNs stays NaN).
pub fn bin(data: &[f32], width: usize, height: usize, factor: usize) -> (Vec<f32>, usize, usize) {
    let f = factor.max(1);
    let (bw, bh) = (width.div_ceil(f), height.div_ceil(f));
    let mut sum = vec![0.0f64; bw * bh];
    let mut n = vec![0u32; bw * bh];
    for y in 0..height {
        let row = &data[y * width..(y + 1) * width];
        let base = (y / f) * bw;
        for (x, &v) in row.iter().enumerate() {
            if v.is_finite() {
                sum[base + x / f] += f64::from(v);
                n[base + x / f] += 1;
            }
        }
    }
    let out = sum
        .iter()
        .zip(&n)
        .map(|(&s, &k)| {
            if k > 0 {
                (s / f64::from(k)) as f32
            } else {
                f32::NAN
            }
        })
        .collect();
    (out, bw, bh)
}

/// Encodes an image as 8-bit grey PNG with linear stretch between `limits`, top row = last
/// FITS row.
pub fn encode_png(
    data: &[f32],
    width: usize,
    height: usize,
    limits: (f64, f64),
) -> Result<Vec<u8>, PreviewError> {
    let (lo, hi) = limits;
    let scale = if hi > lo { 255.0 / (hi - lo) } else { 0.0 };
    let mut px = Vec::with_capacity(width * height);
    for y in (0..height).rev() {
        for &v in &data[y * width..(y + 1) * width] {
            px.push(if v.is_finite() {
                ((f64::from(v) - lo) * scale).clamp(0.0, 255.0).round() as u8
            } else {
                0
            });
        }
    }
    let mut out = Vec::new();
    {
        let w = u32::try_from(width).map_err(|e| PreviewError::Png(e.to_string()))?;
        let h = u32::try_from(height).map_err(|e| PreviewError::Png(e.to_string()))?;
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc
            .write_header()
            .map_err(|e| PreviewError::Png(e.to_string()))?;
        wr.write_image_data(&px)
            .map_err(|e| PreviewError::Png(e.to_string()))?;
    }
    Ok(out)
}

/// Where the preview and thumbnail of an archived file live: `<dir>/<rel>.png` and
/// `<dir>/<rel>.thumb.png`, `rel` being the file's path in the archive (`<year>/<night>/<file>`).
pub fn preview_paths(dir: &Path, rel: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        dir.join(format!("{rel}.png")),
        dir.join(format!("{rel}.thumb.png")),
    )
}

/// Renders both PNGs of `src` and writes them to `preview_paths(dir, rel)` atomically
/// (temporary name, then rename).
pub fn write_previews(src: &Path, dir: &Path, rel: &str) -> Result<(), PreviewError> {
    let v = render(src, PreviewSizes::default())?;
    let (p, t) = preview_paths(dir, rel);
    for (path, bytes) in [(&p, &v.preview), (&t, &v.thumb)] {
        let io = |e: std::io::Error| PreviewError::Png(format!("{}: {e}", path.display()));
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
    }
    Ok(())
}

/// Makes the preview and thumbnail of the first plane of a FITS image.
pub fn render(path: &Path, sizes: PreviewSizes) -> Result<Previews, PreviewError> {
    let mut img = ImageFile::open(path)?;
    let (w, h) = (img.width(), img.height());
    let mut buf = Vec::new();
    img.read_frame(0, &mut buf)?;
    let limits = zscale(&buf).unwrap_or((0.0, 1.0));
    let long = w.max(h).max(1);
    let pf = long.div_ceil(sizes.preview.max(1));
    let tf = long.div_ceil(sizes.thumb.max(1));
    let (p, pw, ph) = bin(&buf, w, h, pf);
    let (t, tw, th) = bin(&buf, w, h, tf);
    Ok(Previews {
        preview: encode_png(&p, pw, ph, limits)?,
        thumb: encode_png(&t, tw, th, limits)?,
        limits,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn binning_averages_and_skips_nan() {
        let d = [1.0, 3.0, 5.0, f32::NAN, 2.0, 4.0, f32::NAN, f32::NAN, 9.0];
        let (b, w, h) = bin(&d, 3, 3, 2);
        assert_eq!((w, h), (2, 2));
        assert_eq!(b[0], 2.0); // 1, 3, NaN, 2
        assert_eq!(b[1], 4.5); // 5, 4
        assert!(b[2].is_nan()); // NaN, NaN
        assert_eq!(b[3], 9.0);
    }

    #[test]
    fn png_round_trips_with_flipped_rows_and_stretch() {
        let d = [0.0f32, 10.0, 20.0, f32::NAN];
        let png_bytes = encode_png(&d, 2, 2, (0.0, 20.0)).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut r = dec.read_info().unwrap();
        let mut out = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut out).unwrap();
        assert_eq!((info.width, info.height), (2, 2));
        // Top row of the PNG is FITS row 2: 20 → 255, NaN → 0; then 0 → 0, 10 → 128.
        assert_eq!(&out[..4], &[255, 0, 0, 128]);
    }
}
