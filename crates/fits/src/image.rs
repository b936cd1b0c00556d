//! Reading primary-HDU images and cubes one plane (frame) at a time.
//!
//! [`ImageFile`] keeps the file open and reads only the plane asked for, so a 2000 × 1128 × 120
//! cube (1 GB) is processed with 9 MB of pixels in memory. Uncompressed BITPIX 8, 16, 32, 64,
//! −32 and −64 are supported, with `BSCALE`/`BZERO` applied and `BLANK` (integer images)
//! turned into NaN. Pixels come out as `f32`, row-major, NAXIS1 fastest, row 0 = FITS y = 1.

use crate::header::{Header, HeaderError};
use crate::structure::{data_len, read_primary, StructureError};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Errors reading image data.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file or its header could not be read.
    #[error(transparent)]
    Structure(#[from] StructureError),
    /// The primary HDU is not a 2-D image or 3-D cube.
    #[error("{path}: primary HDU is not an image or cube (NAXIS = {naxis}); tile-compressed images are not read yet")]
    NotImage {
        /// File.
        path: PathBuf,
        /// NAXIS.
        naxis: i64,
    },
    /// A frame index beyond NAXIS3.
    #[error("{path}: frame {frame} requested, the file has {frames}")]
    FrameOutOfRange {
        /// File.
        path: PathBuf,
        /// Requested (0-based).
        frame: usize,
        /// Available.
        frames: usize,
    },
    /// A header value is unusable.
    #[error("{path}: {source}")]
    Header {
        /// File.
        path: PathBuf,
        /// Cause.
        source: HeaderError,
    },
    /// Reading failed (including a file shorter than its header says).
    #[error("{path}: frame {frame}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Frame.
        frame: usize,
        /// Cause.
        source: std::io::Error,
    },
}

/// An open image or cube.
#[derive(Debug)]
pub struct ImageFile {
    path: PathBuf,
    file: File,
    /// The primary header.
    pub header: Header,
    bitpix: i64,
    width: usize,
    height: usize,
    frames: usize,
    data_offset: u64,
    bscale: f64,
    bzero: f64,
    blank: Option<i64>,
}

impl ImageFile {
    /// Opens the primary HDU of `path`.
    pub fn open(path: &Path) -> Result<ImageFile, ImageError> {
        let (header, data_offset) = read_primary(path)?;
        let herr = |source| ImageError::Header {
            path: path.to_path_buf(),
            source,
        };
        let naxis = header.require_i64("NAXIS").map_err(herr)?;
        if !(2..=3).contains(&naxis) {
            return Err(ImageError::NotImage {
                path: path.to_path_buf(),
                naxis,
            });
        }
        let dim = |k: &str| header.require_i64(k).map(|v| v.max(0) as usize);
        let (width, height) = (dim("NAXIS1").map_err(herr)?, dim("NAXIS2").map_err(herr)?);
        let frames = if naxis == 3 {
            dim("NAXIS3").map_err(herr)?
        } else {
            1
        };
        let bitpix = header.require_i64("BITPIX").map_err(herr)?;
        data_len(&header).map_err(herr)?;
        let file = File::open(path).map_err(|source| StructureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ImageFile {
            path: path.to_path_buf(),
            file,
            bitpix,
            width,
            height,
            frames,
            data_offset,
            bscale: header.get_f64("BSCALE").unwrap_or(1.0),
            bzero: header.get_f64("BZERO").unwrap_or(0.0),
            blank: header.get_i64("BLANK"),
            header,
        })
    }

    /// NAXIS1.
    pub fn width(&self) -> usize {
        self.width
    }

    /// NAXIS2.
    pub fn height(&self) -> usize {
        self.height
    }

    /// NAXIS3, or 1 for a 2-D image.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Reads plane `frame` (0-based) into `out` (resized to width × height).
    pub fn read_frame(&mut self, frame: usize, out: &mut Vec<f32>) -> Result<(), ImageError> {
        if frame >= self.frames {
            return Err(ImageError::FrameOutOfRange {
                path: self.path.clone(),
                frame,
                frames: self.frames,
            });
        }
        let bpp = (self.bitpix.unsigned_abs() / 8) as usize;
        let n = self.width * self.height;
        let mut raw = vec![0u8; n * bpp];
        let io = |source| ImageError::Io {
            path: self.path.clone(),
            frame,
            source,
        };
        self.file
            .seek(SeekFrom::Start(self.data_offset + (frame * n * bpp) as u64))
            .map_err(io)?;
        self.file.read_exact(&mut raw).map_err(|e| ImageError::Io {
            path: self.path.clone(),
            frame,
            source: e,
        })?;
        out.clear();
        out.reserve(n);
        let (s, z) = (self.bscale, self.bzero);
        let scaled = s != 1.0 || z != 0.0;
        let blank = self.blank;
        let int = |v: i64| -> f32 {
            if Some(v) == blank {
                f32::NAN
            } else {
                (v as f64 * s + z) as f32
            }
        };
        match self.bitpix {
            -32 => out.extend(raw.chunks_exact(4).map(|b| {
                let v = f32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                if scaled {
                    (f64::from(v) * s + z) as f32
                } else {
                    v
                }
            })),
            -64 => out.extend(raw.chunks_exact(8).map(|b| {
                (f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) * s + z)
                    as f32
            })),
            8 => out.extend(raw.iter().map(|&b| int(i64::from(b)))),
            16 => out.extend(
                raw.chunks_exact(2)
                    .map(|b| int(i64::from(i16::from_be_bytes([b[0], b[1]])))),
            ),
            32 => out.extend(
                raw.chunks_exact(4)
                    .map(|b| int(i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])))),
            ),
            64 => out.extend(raw.chunks_exact(8).map(|b| {
                int(i64::from_be_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            })),
            other => {
                return Err(ImageError::Header {
                    path: self.path.clone(),
                    source: HeaderError::BadValue {
                        key: "BITPIX".into(),
                        raw: other.to_string(),
                        expected: "8, 16, 32, 64, -32 or -64",
                    },
                })
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::{image_f32_header, write_image_f32};

    #[test]
    fn cube_frames_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("cube.fits");
        let (w, h, n) = (7usize, 5usize, 3usize);
        let pix: Vec<f32> = (0..w * h * n).map(|i| i as f32 * 0.25 - 3.0).collect();
        let mut f = File::create(&p).unwrap_or_else(|e| panic!("{e}"));
        write_image_f32(&mut f, &image_f32_header(&[w, h, n]), &pix)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(f);
        let mut img = ImageFile::open(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((img.width(), img.height(), img.frames()), (w, h, n));
        let mut buf = Vec::new();
        for k in 0..n {
            img.read_frame(k, &mut buf)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(buf, pix[k * w * h..(k + 1) * w * h].to_vec());
        }
        assert!(matches!(
            img.read_frame(3, &mut buf),
            Err(ImageError::FrameOutOfRange { .. })
        ));
        // A header with CONTINUE cards: the data still start after the header blocks.
        let p2 = dir.path().join("long.fits");
        let mut hdr = image_f32_header(&[w, h]);
        hdr.push(crate::header::Card::parse("LONG    = 'abc&'"));
        hdr.push(crate::header::Card::parse("CONTINUE  'def'"));
        // 5 + 2 + 27 + CHECKSUM, DATASUM + END = 37 cards: two blocks, though the merged list has 36.
        for i in 0..27 {
            hdr.push(crate::header::Card::int(&format!("K{i}"), i, ""));
        }
        let mut f = File::create(&p2).unwrap_or_else(|e| panic!("{e}"));
        write_image_f32(&mut f, &hdr, &pix[..w * h]).unwrap_or_else(|e| panic!("{e}"));
        drop(f);
        let mut img2 = ImageFile::open(&p2).unwrap_or_else(|e| panic!("{e}"));
        img2.read_frame(0, &mut buf)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(buf, pix[..w * h].to_vec());
        assert_eq!(img2.header.get_str("LONG").as_deref(), Some("abcdef"));
        // A truncated cube: the last frame is refused with a clear error, earlier ones read.
        let bytes = std::fs::read(&p).unwrap_or_default();
        std::fs::write(&p, &bytes[..2880 + w * h * 4 * 2 + 10]).unwrap_or_default();
        let mut img = ImageFile::open(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!(img.read_frame(1, &mut buf).is_ok());
        let err = img.read_frame(2, &mut buf).unwrap_err().to_string();
        assert!(err.contains("frame 2"), "{err}");
    }
}
