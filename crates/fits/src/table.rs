//! FITS binary tables (BINTABLE extensions) of scalar columns: writing and reading.
//!
//! Writing is used for catalogs (`tomoe extract -o sources.fits`): a primary HDU with no data,
//! then one BINTABLE with `TTYPEn`, `TFORMn` (`D` f64, `K` i64, `nA` text) and `TUNITn`, and
//! `DATASUM`/`CHECKSUM` on both HDUs. Reading ([`read_table`]) takes external per-frame catalogs
//! (e.g. the neo pipeline's) with their columns discovered from `TTYPEn`/`TUNITn`; it is checked
//! against astropy (`scripts/reference/fits_table_reference.py`).

use crate::header::{Card, Header};
use crate::structure::OnesComplementSum;
use crate::write::encode_checksum;
use crate::BLOCK;
use std::io::{self, Write};

/// A column of a binary table.
#[derive(Debug, Clone, PartialEq)]
pub enum TableColumn {
    /// 64-bit floats (`D`); NaN is written as NaN.
    F64(Vec<f64>),
    /// 64-bit integers (`K`).
    I64(Vec<i64>),
    /// Text, padded with spaces to the longest value (`nA`).
    Str(Vec<String>),
}

impl TableColumn {
    fn len(&self) -> usize {
        match self {
            TableColumn::F64(v) => v.len(),
            TableColumn::I64(v) => v.len(),
            TableColumn::Str(v) => v.len(),
        }
    }

    fn width(&self) -> usize {
        match self {
            TableColumn::F64(_) | TableColumn::I64(_) => 8,
            TableColumn::Str(v) => v.iter().map(|s| s.len()).max().unwrap_or(1).max(1),
        }
    }

    fn tform(&self) -> String {
        match self {
            TableColumn::F64(_) => "D".into(),
            TableColumn::I64(_) => "K".into(),
            TableColumn::Str(_) => format!("{}A", self.width()),
        }
    }
}

/// Appends DATASUM and CHECKSUM to `h` for `data` (already padded) and returns the header bytes.
fn sealed_header(mut h: Header, data: &[u8]) -> Vec<u8> {
    let mut d = OnesComplementSum::default();
    d.update(data);
    h.push(Card::string("CHECKSUM", "0000000000000000", "HDU checksum"));
    h.push(Card::string(
        "DATASUM",
        &d.value().to_string(),
        "data unit checksum",
    ));
    let mut hs = OnesComplementSum::default();
    hs.update(&h.to_bytes());
    let n = h.cards.len();
    h.cards[n - 2] = Card::string(
        "CHECKSUM",
        &encode_checksum(OnesComplementSum::add(hs.value(), d.value())),
        "HDU checksum",
    );
    h.to_bytes()
}

/// Writes a FITS file with an empty primary HDU (carrying `primary_cards`) and one binary
/// table named `extname` with the given `(name, unit, column)` triples.
///
/// # Errors
/// I/O errors, or columns of unequal length (`InvalidInput`).
pub fn write_table(
    out: &mut impl Write,
    primary_cards: &[Card],
    extname: &str,
    columns: &[(&str, &str, TableColumn)],
) -> io::Result<u64> {
    let nrows = columns.first().map(|c| c.2.len()).unwrap_or(0);
    if columns.iter().any(|c| c.2.len() != nrows) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "table columns differ in length",
        ));
    }
    let mut ph = Header::default();
    ph.push(Card::logical("SIMPLE", true, "conforms to FITS standard"));
    ph.push(Card::int("BITPIX", 8, "array data type"));
    ph.push(Card::int("NAXIS", 0, "no data in the primary HDU"));
    ph.push(Card::logical("EXTEND", true, "extensions follow"));
    for c in primary_cards {
        ph.push(c.clone());
    }
    let primary = sealed_header(ph, &[]);
    let widths: Vec<usize> = columns.iter().map(|c| c.2.width()).collect();
    let row_len: usize = widths.iter().sum();
    let mut data = Vec::with_capacity((row_len * nrows).div_ceil(BLOCK) * BLOCK);
    for r in 0..nrows {
        for ((_, _, c), wdt) in columns.iter().zip(&widths) {
            match c {
                TableColumn::F64(v) => data.extend_from_slice(&v[r].to_be_bytes()),
                TableColumn::I64(v) => data.extend_from_slice(&v[r].to_be_bytes()),
                TableColumn::Str(v) => {
                    let b = v[r].as_bytes();
                    data.extend_from_slice(&b[..b.len().min(*wdt)]);
                    data.extend(std::iter::repeat_n(b' ', wdt - b.len().min(*wdt)));
                }
            }
        }
    }
    data.resize(data.len().div_ceil(BLOCK) * BLOCK, 0);
    let mut th = Header::default();
    th.push(Card::string(
        "XTENSION",
        "BINTABLE",
        "binary table extension",
    ));
    th.push(Card::int("BITPIX", 8, "8-bit bytes"));
    th.push(Card::int("NAXIS", 2, "2-dimensional table"));
    th.push(Card::parse(&format!(
        "NAXIS1  = {:>20} / width of a row in bytes",
        row_len
    )));
    th.push(Card::parse(&format!(
        "NAXIS2  = {:>20} / number of rows",
        nrows
    )));
    th.push(Card::int("PCOUNT", 0, "no heap"));
    th.push(Card::int("GCOUNT", 1, "one group"));
    th.push(Card::int(
        "TFIELDS",
        columns.len() as i64,
        "number of columns",
    ));
    for (i, (name, unit, c)) in columns.iter().enumerate() {
        th.push(Card::string(&format!("TTYPE{}", i + 1), name, ""));
        th.push(Card::string(&format!("TFORM{}", i + 1), &c.tform(), ""));
        if !unit.is_empty() {
            th.push(Card::string(&format!("TUNIT{}", i + 1), unit, ""));
        }
    }
    th.push(Card::string("EXTNAME", extname, "table name"));
    let table = sealed_header(th, &data);
    out.write_all(&primary)?;
    out.write_all(&table)?;
    out.write_all(&data)?;
    Ok((primary.len() + table.len() + data.len()) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::verify_file;

    #[test]
    fn table_verifies_and_rows_decode() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("cat.fits");
        let cols = [
            ("id", "", TableColumn::I64(vec![1, 2, 3])),
            ("x", "pix", TableColumn::F64(vec![1.5, -2.25, f64::NAN])),
            (
                "name",
                "",
                TableColumn::Str(vec!["a".into(), "bcd".into(), "".into()]),
            ),
        ];
        let mut f = std::fs::File::create(&p).unwrap_or_else(|e| panic!("{e}"));
        write_table(
            &mut f,
            &[Card::string("ORIGIN", "tomoe", "")],
            "SOURCES",
            &cols,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        drop(f);
        let layout = verify_file(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layout.hdus.len(), 2);
        assert!(layout
            .hdus
            .iter()
            .all(|h| h.checksum_verified == Some(true) && h.datasum_verified == Some(true)));
        assert_eq!(layout.hdus[1].naxes, vec![19, 3]);
        let bytes = std::fs::read(&p).unwrap_or_default();
        let start = (layout.hdus[1].offset + layout.hdus[1].header_len) as usize;
        let row1 = &bytes[start + 19..start + 38];
        assert_eq!(
            i64::from_be_bytes(row1[..8].try_into().unwrap_or_default()),
            2
        );
        assert_eq!(
            f64::from_be_bytes(row1[8..16].try_into().unwrap_or_default()),
            -2.25
        );
        assert_eq!(&row1[16..19], b"bcd");
        let bad = [
            ("a", "", TableColumn::I64(vec![1])),
            ("b", "", TableColumn::I64(vec![1, 2])),
        ];
        assert!(write_table(&mut Vec::new(), &[], "X", &bad).is_err());
    }
}

/// A column read from a binary table.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadValues {
    /// Floating point (`E`, `D`; and integers with TSCAL/TZERO or TNULL, nulls as NaN).
    F64(Vec<f64>),
    /// Integers (`B`, `I`, `J`, `K` without scaling or nulls).
    I64(Vec<i64>),
    /// Text (`nA`), trailing spaces and NULs removed.
    Str(Vec<String>),
    /// Logical (`L`): `None` for undefined.
    Bool(Vec<Option<bool>>),
}

/// One column of a table read from a file, with its `TTYPEn` and `TUNITn`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadColumn {
    /// `TTYPEn` (or `COLn` when absent).
    pub name: String,
    /// `TUNITn` (empty when absent).
    pub unit: String,
    /// The values.
    pub values: ReadValues,
}

/// Errors reading a table, naming the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file's structure.
    #[error(transparent)]
    Structure(#[from] crate::structure::StructureError),
    /// Reading the bytes.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: io::Error,
    },
    /// No binary table in the file (or none with the asked name).
    #[error("{path}: {what}")]
    NoTable {
        /// The file.
        path: std::path::PathBuf,
        /// What was looked for.
        what: String,
    },
    /// A column the reader does not handle, or an inconsistent header.
    #[error("{path}: HDU {hdu}: {message}")]
    Unsupported {
        /// The file.
        path: std::path::PathBuf,
        /// HDU index (0 = primary).
        hdu: usize,
        /// What.
        message: String,
    },
}

/// Reads the scalar columns of a binary table: the first BINTABLE, or the one whose `EXTNAME`
/// is `extname`. Column types: `L`, `B`, `I`, `J`, `K`, `E`, `D` (repeat 1) and `nA`;
/// `TSCALn`/`TZEROn` are applied and `TNULLn` values become NaN (such columns are returned as
/// floats, except the unsigned-integer convention TZERO = 2ⁿ⁻¹ with TSCAL 1, kept as
/// integers). Vector and variable-length columns are refused with a message naming them.
pub fn read_table(
    path: &std::path::Path,
    extname: Option<&str>,
) -> Result<Vec<ReadColumn>, TableError> {
    use std::io::{Read, Seek, SeekFrom};
    let layout = crate::structure::verify_file(path)?;
    let ioe = |source| TableError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(ioe)?;
    let mut found = None;
    for (i, hdu) in layout.hdus.iter().enumerate() {
        if hdu.xtension.as_deref().map(str::trim) != Some("BINTABLE") {
            continue;
        }
        f.seek(SeekFrom::Start(hdu.offset)).map_err(ioe)?;
        let mut hb = vec![0u8; hdu.header_len as usize];
        f.read_exact(&mut hb).map_err(ioe)?;
        let (h, _) = Header::parse(&hb).map_err(|e| TableError::Unsupported {
            path: path.to_path_buf(),
            hdu: i,
            message: e.to_string(),
        })?;
        let name = h.get_str("EXTNAME").unwrap_or_default();
        if extname.is_none_or(|e| e.eq_ignore_ascii_case(name.trim())) {
            found = Some((i, hdu.clone(), h));
            break;
        }
    }
    let Some((hdu_i, hdu, h)) = found else {
        return Err(TableError::NoTable {
            path: path.to_path_buf(),
            what: match extname {
                Some(e) => format!("no binary table with EXTNAME {e:?}"),
                None => "no binary table (BINTABLE extension)".into(),
            },
        });
    };
    let bad = |message: String| TableError::Unsupported {
        path: path.to_path_buf(),
        hdu: hdu_i,
        message,
    };
    let row_len = h.get_i64("NAXIS1").unwrap_or(0).max(0) as usize;
    let nrows = h.get_i64("NAXIS2").unwrap_or(0).max(0) as usize;
    let nfields = h.get_i64("TFIELDS").unwrap_or(0).max(0) as usize;
    let mut data = vec![0u8; row_len * nrows];
    f.seek(SeekFrom::Start(hdu.offset + hdu.header_len))
        .map_err(ioe)?;
    f.read_exact(&mut data).map_err(ioe)?;
    let mut out = Vec::with_capacity(nfields);
    let mut off = 0usize;
    for n in 1..=nfields {
        let name = h
            .get_str(&format!("TTYPE{n}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| format!("COL{n}"));
        let unit = h
            .get_str(&format!("TUNIT{n}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let tform = h
            .get_str(&format!("TFORM{n}"))
            .ok_or_else(|| bad(format!("TFORM{n} missing")))?;
        let t = tform.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let repeat: usize = if split == 0 {
            1
        } else {
            t[..split]
                .parse()
                .map_err(|_| bad(format!("TFORM{n} = {t:?}")))?
        };
        let code = t[split..].chars().next().unwrap_or(' ');
        let size = match code {
            'L' | 'B' | 'A' => 1,
            'I' => 2,
            'J' | 'E' => 4,
            'K' | 'D' => 8,
            'P' | 'Q' => {
                return Err(bad(format!(
                    "column {name:?} (TFORM{n} = {t}): variable-length arrays are not supported"
                )))
            }
            _ => {
                return Err(bad(format!(
                    "column {name:?} (TFORM{n} = {t}): type not supported"
                )))
            }
        };
        let width = size * repeat;
        if code != 'A' && repeat != 1 {
            return Err(bad(format!(
                "column {name:?} (TFORM{n} = {t}): vector columns are not supported"
            )));
        }
        if off + width > row_len {
            return Err(bad(format!("column {name:?} runs past NAXIS1 = {row_len}")));
        }
        let cell = |r: usize| &data[r * row_len + off..r * row_len + off + width];
        let scal = h.get_f64(&format!("TSCAL{n}")).unwrap_or(1.0);
        let zero = h.get_f64(&format!("TZERO{n}")).unwrap_or(0.0);
        let tnull = h.get_i64(&format!("TNULL{n}"));
        let int = |r: usize| -> i64 {
            let b = cell(r);
            match code {
                'B' => i64::from(b[0]),
                'I' => i64::from(i16::from_be_bytes([b[0], b[1]])),
                'J' => i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                _ => i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            }
        };
        let values = match code {
            'A' => ReadValues::Str(
                (0..nrows)
                    .map(|r| {
                        let s: String = cell(r)
                            .iter()
                            .take_while(|&&c| c != 0)
                            .map(|&c| c as char)
                            .collect();
                        s.trim_end().to_string()
                    })
                    .collect(),
            ),
            'L' => ReadValues::Bool(
                (0..nrows)
                    .map(|r| match cell(r)[0] {
                        b'T' => Some(true),
                        b'F' => Some(false),
                        _ => None,
                    })
                    .collect(),
            ),
            'E' | 'D' => ReadValues::F64(
                (0..nrows)
                    .map(|r| {
                        let b = cell(r);
                        let v = if code == 'E' {
                            f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                        } else {
                            f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                        };
                        zero + scal * v
                    })
                    .collect(),
            ),
            _ => {
                let unsigned_offset = match code {
                    'I' => 32768.0,
                    'J' => 2_147_483_648.0,
                    _ => f64::NAN,
                };
                if tnull.is_none() && scal == 1.0 && (zero == 0.0 || zero == unsigned_offset) {
                    ReadValues::I64((0..nrows).map(|r| int(r) + zero as i64).collect())
                } else {
                    ReadValues::F64(
                        (0..nrows)
                            .map(|r| {
                                let v = int(r);
                                if Some(v) == tnull {
                                    f64::NAN
                                } else {
                                    zero + scal * v as f64
                                }
                            })
                            .collect(),
                    )
                }
            }
        };
        out.push(ReadColumn { name, unit, values });
        off += width;
    }
    Ok(out)
}
