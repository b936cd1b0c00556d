//! Structural verification of whole FITS files.
//!
//! [`verify_file`] walks every HDU: it parses each header, computes the data size from
//! `BITPIX`, `NAXISn`, `PCOUNT` and `GCOUNT` (FITS 4.0 §4.4.1), checks that the file holds exactly
//! those bytes padded to 2880-byte blocks, and, where an HDU carries `DATASUM` or `CHECKSUM`,
//! recomputes the 32-bit ones' complement sums (FITS 4.0 Appendix J) and compares.
//! It streams the file with a fixed buffer, so multi-GB cubes need little memory.

use crate::header::{Header, HeaderError};
use crate::{BLOCK, CARD};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The first 30 bytes of every FITS file.
const SIMPLE_T: &[u8] = b"SIMPLE  =                    T";

/// Largest header accepted, in 2880-byte blocks (≈ 36 000 cards).
const MAX_HEADER_BLOCKS: usize = 1000;

/// Why a file is not a complete, valid FITS file.
#[derive(Debug, thiserror::Error)]
pub enum StructureError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The first card is not `SIMPLE = T`.
    #[error("{path}: not a FITS file (first card is not SIMPLE = T)")]
    NotFits {
        /// File.
        path: PathBuf,
    },
    /// A header could not be parsed.
    #[error("{path}: HDU {hdu}: {source}")]
    Header {
        /// File.
        path: PathBuf,
        /// 0-based HDU index.
        hdu: usize,
        /// Cause.
        source: HeaderError,
    },
    /// The file ends before the data of an HDU does.
    #[error("{path}: truncated in HDU {hdu}: needs {expected} bytes, file has {actual}")]
    Truncated {
        /// File.
        path: PathBuf,
        /// 0-based HDU index.
        hdu: usize,
        /// Bytes the structure requires up to the end of this HDU.
        expected: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// Bytes follow the last HDU that do not start a valid extension.
    #[error("{path}: {extra} unexpected bytes after the last HDU (at offset {offset})")]
    TrailingBytes {
        /// File.
        path: PathBuf,
        /// Where they start.
        offset: u64,
        /// How many.
        extra: u64,
    },
    /// A stored checksum does not match the bytes.
    #[error("{path}: HDU {hdu}: {keyword} mismatch (stored {stored}, computed {computed})")]
    Checksum {
        /// File.
        path: PathBuf,
        /// 0-based HDU index.
        hdu: usize,
        /// `DATASUM` or `CHECKSUM`.
        keyword: &'static str,
        /// What the header says.
        stored: String,
        /// What the bytes give.
        computed: String,
    },
}

impl StructureError {
    /// True when the bytes may still be arriving (a shorter file than the structure needs):
    /// a retry of the download can help. Other errors are properties of the bytes.
    pub fn is_truncation(&self) -> bool {
        matches!(
            self,
            StructureError::Truncated { .. }
                | StructureError::Header {
                    source: HeaderError::NoEnd { .. },
                    ..
                }
        )
    }
}

/// What one HDU looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct HduInfo {
    /// Byte offset of the header.
    pub offset: u64,
    /// Header length in bytes (whole blocks).
    pub header_len: u64,
    /// Data length in bytes, without padding.
    pub data_len: u64,
    /// `XTENSION` value, `None` for the primary HDU.
    pub xtension: Option<String>,
    /// `BITPIX`.
    pub bitpix: i64,
    /// `NAXISn` values.
    pub naxes: Vec<i64>,
    /// `Some(true)` when a `DATASUM` was present and matched.
    pub datasum_verified: Option<bool>,
    /// `Some(true)` when a `CHECKSUM` was present and matched.
    pub checksum_verified: Option<bool>,
}

/// The verified layout of a FITS file.
#[derive(Debug, Clone, PartialEq)]
pub struct FitsLayout {
    /// File size in bytes.
    pub size: u64,
    /// The HDUs in order.
    pub hdus: Vec<HduInfo>,
    /// The primary header.
    pub primary: Header,
}

/// Size in bytes of an HDU's data (unpadded), from its header.
pub fn data_len(h: &Header) -> Result<u64, HeaderError> {
    let bitpix = h.require_i64("BITPIX")?;
    if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
        return Err(HeaderError::BadValue {
            key: "BITPIX".into(),
            raw: bitpix.to_string(),
            expected: "8, 16, 32, 64, -32 or -64",
        });
    }
    let naxis = h.require_i64("NAXIS")?;
    if !(0..=999).contains(&naxis) {
        return Err(HeaderError::BadValue {
            key: "NAXIS".into(),
            raw: naxis.to_string(),
            expected: "0..=999",
        });
    }
    if naxis == 0 {
        return Ok(0);
    }
    let mut n: u64 = 1;
    let mut random_groups = false;
    for i in 1..=naxis {
        let key = format!("NAXIS{i}");
        let v = h.require_i64(&key)?;
        if v < 0 {
            return Err(HeaderError::BadValue {
                key,
                raw: v.to_string(),
                expected: "a non-negative integer",
            });
        }
        if i == 1 && v == 0 && h.get_bool("GROUPS") == Some(true) {
            random_groups = true;
            continue;
        }
        n = n.checked_mul(v as u64).ok_or(HeaderError::BadValue {
            key,
            raw: v.to_string(),
            expected: "a size that fits in 64 bits",
        })?;
    }
    let pcount = h.get_i64("PCOUNT").unwrap_or(0).max(0) as u64;
    let gcount = h.get_i64("GCOUNT").unwrap_or(1).max(0) as u64;
    let is_ext = h.cards.first().is_some_and(|c| c.keyword == "XTENSION");
    let words = if is_ext || random_groups {
        gcount * (pcount + n)
    } else {
        n
    };
    Ok(words * (bitpix.unsigned_abs() / 8))
}

/// Ones' complement 32-bit checksum accumulator (FITS 4.0 Appendix J).
#[derive(Debug, Clone, Copy, Default)]
pub struct OnesComplementSum {
    hi: u64,
    lo: u64,
}

impl OnesComplementSum {
    /// Adds bytes; `bytes.len()` must be a multiple of 4 (FITS blocks always are).
    pub fn update(&mut self, bytes: &[u8]) {
        for w in bytes.chunks_exact(4) {
            self.hi += u64::from(u16::from_be_bytes([w[0], w[1]]));
            self.lo += u64::from(u16::from_be_bytes([w[2], w[3]]));
        }
    }

    /// The folded 32-bit sum.
    pub fn value(&self) -> u32 {
        let (mut hi, mut lo) = (self.hi, self.lo);
        loop {
            let hicarry = hi >> 16;
            let locarry = lo >> 16;
            if hicarry == 0 && locarry == 0 {
                break;
            }
            hi = (hi & 0xffff) + locarry;
            lo = (lo & 0xffff) + hicarry;
        }
        ((hi as u32) << 16) | lo as u32
    }

    /// Ones' complement addition of two folded sums.
    pub fn add(a: u32, b: u32) -> u32 {
        let s = u64::from(a) + u64::from(b);
        ((s & 0xffff_ffff) + (s >> 32)) as u32
    }
}

/// Verifies a whole FITS file; see the module docs.
pub fn verify_file(path: &Path) -> Result<FitsLayout, StructureError> {
    let io_err = |source| StructureError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io_err)?;
    let size = f.metadata().map_err(io_err)?.len();
    let mut hdus = Vec::new();
    let mut primary = None;
    let mut offset = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while offset < size {
        let hdu = hdus.len();
        // Read header blocks until END.
        let mut hbytes = Vec::with_capacity(BLOCK);
        let parsed = loop {
            if hbytes.len() >= MAX_HEADER_BLOCKS * BLOCK {
                return Err(StructureError::Header {
                    path: path.into(),
                    hdu,
                    source: HeaderError::NoEnd {
                        bytes: hbytes.len(),
                    },
                });
            }
            let mut block = [0u8; BLOCK];
            let got = read_full(&mut f, &mut block).map_err(io_err)?;
            if hdu == 0 && hbytes.is_empty() {
                let n = got.min(SIMPLE_T.len());
                if n == 0 || block[..n] != SIMPLE_T[..n] {
                    return Err(StructureError::NotFits { path: path.into() });
                }
            }
            match got {
                BLOCK => {}
                _ => {
                    if hdu > 0 && hbytes.is_empty() && got == 0 {
                        break None;
                    }
                    return Err(StructureError::Truncated {
                        path: path.into(),
                        hdu,
                        expected: offset + (hbytes.len() + BLOCK) as u64,
                        actual: size,
                    });
                }
            }
            if hdu > 0 && hbytes.is_empty() && !block.starts_with(b"XTENSION") {
                return Err(StructureError::TrailingBytes {
                    path: path.into(),
                    offset,
                    extra: size - offset,
                });
            }
            hbytes.extend_from_slice(&block);
            if block
                .chunks(CARD)
                .any(|c| c.starts_with(b"END") && c[3..].iter().all(|&b| b == b' '))
            {
                let (h, len) = Header::parse(&hbytes).map_err(|source| StructureError::Header {
                    path: path.into(),
                    hdu,
                    source,
                })?;
                break Some((h, len));
            }
        };
        let Some((header, header_len)) = parsed else {
            break;
        };
        let dlen = data_len(&header).map_err(|source| StructureError::Header {
            path: path.into(),
            hdu,
            source,
        })?;
        let padded = dlen.div_ceil(BLOCK as u64) * BLOCK as u64;
        let end = offset + header_len as u64 + padded;
        if end > size {
            return Err(StructureError::Truncated {
                path: path.into(),
                hdu,
                expected: end,
                actual: size,
            });
        }
        let want_datasum = header.get_str("DATASUM");
        let want_checksum = header.get_str("CHECKSUM");
        let (mut datasum_verified, mut checksum_verified) = (None, None);
        if want_datasum.is_some() || want_checksum.is_some() {
            let mut acc = OnesComplementSum::default();
            let mut left = padded;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                f.read_exact(&mut buf[..n]).map_err(io_err)?;
                acc.update(&buf[..n]);
                left -= n as u64;
            }
            let data_sum = acc.value();
            if let Some(stored) = want_datasum {
                let ok = stored.trim().parse::<u64>().ok() == Some(u64::from(data_sum));
                if !ok {
                    return Err(StructureError::Checksum {
                        path: path.into(),
                        hdu,
                        keyword: "DATASUM",
                        stored,
                        computed: data_sum.to_string(),
                    });
                }
                datasum_verified = Some(true);
            }
            if let Some(stored) = want_checksum {
                let mut hacc = OnesComplementSum::default();
                hacc.update(&hbytes[..header_len]);
                let total = OnesComplementSum::add(hacc.value(), data_sum);
                if total != 0xffff_ffff && total != 0 {
                    return Err(StructureError::Checksum {
                        path: path.into(),
                        hdu,
                        keyword: "CHECKSUM",
                        stored,
                        computed: format!("{total:#010x} (should be 0xffffffff)"),
                    });
                }
                checksum_verified = Some(true);
            }
        } else {
            f.seek(SeekFrom::Start(end)).map_err(io_err)?;
        }
        // Header blocks were read past header_len only if END fell mid-read: never, we stop at the block.
        let naxis = header.get_i64("NAXIS").unwrap_or(0);
        let naxes = (1..=naxis)
            .filter_map(|i| header.get_i64(&format!("NAXIS{i}")))
            .collect();
        hdus.push(HduInfo {
            offset,
            header_len: header_len as u64,
            data_len: dlen,
            xtension: header.get_str("XTENSION"),
            bitpix: header.get_i64("BITPIX").unwrap_or(0),
            naxes,
            datasum_verified,
            checksum_verified,
        });
        if primary.is_none() {
            primary = Some(header);
        }
        offset = end;
    }
    let primary = primary.ok_or(StructureError::NotFits { path: path.into() })?;
    Ok(FitsLayout {
        size,
        hdus,
        primary,
    })
}

/// Reads the primary header only (cheap: stops at `END`).
pub fn read_primary_header(path: &Path) -> Result<Header, StructureError> {
    read_primary(path).map(|(h, _)| h)
}

/// Reads the primary header and returns it with its length in bytes (where the data start).
pub fn read_primary(path: &Path) -> Result<(Header, u64), StructureError> {
    let io_err = |source| StructureError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    loop {
        let mut block = [0u8; BLOCK];
        let got = read_full(&mut f, &mut block).map_err(io_err)?;
        if got < BLOCK {
            return Err(StructureError::Header {
                path: path.into(),
                hdu: 0,
                source: HeaderError::NoEnd {
                    bytes: bytes.len() + got,
                },
            });
        }
        if bytes.is_empty() && !block.starts_with(b"SIMPLE") {
            return Err(StructureError::NotFits { path: path.into() });
        }
        bytes.extend_from_slice(&block);
        if block
            .chunks(CARD)
            .any(|c| c.starts_with(b"END") && c[3..].iter().all(|&b| b == b' '))
            || bytes.len() >= MAX_HEADER_BLOCKS * BLOCK
        {
            return Header::parse(&bytes)
                .map(|(h, len)| (h, len as u64))
                .map_err(|source| StructureError::Header {
                    path: path.into(),
                    hdu: 0,
                    source,
                });
        }
    }
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
