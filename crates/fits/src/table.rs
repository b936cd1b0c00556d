//! Writing FITS binary tables (BINTABLE extensions) of scalar columns.
//!
//! Used for catalogs (`tomoe extract -o sources.fits`): a primary HDU with no data, then one
//! BINTABLE with `TTYPEn`, `TFORMn` (`D` f64, `K` i64, `nA` text) and `TUNITn`, and
//! `DATASUM`/`CHECKSUM` on both HDUs.

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
