//! VOTable (IVOA VOTable 1.3/1.4) reading: the first `TABLE` of a document, with its `FIELD`s and
//! rows serialized as `TABLEDATA`, `BINARY` or `BINARY2`.
//!
//! Cells come back as text (numbers formatted losslessly: 64-bit integers such as Gaia
//! `source_id` stay exact), `None` for nulls (an empty `TD`, a set BINARY2 null bit, NaN, or a
//! value equal to the field's `<VALUES null="…">`). `FITS` serialization and `ref`-ed streams
//! are refused with a clear error.
//!
//! Why our own: no maintained Rust VOTable crate reads BINARY2; the format is small and the
//! checks against astropy-written files live in the tests.

use base64::Engine;
use quick_xml::events::Event;
use quick_xml::Reader;

/// One column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoField {
    /// `name`.
    pub name: String,
    /// `datatype` (boolean, unsignedByte, short, int, long, char, unicodeChar, float, double, …).
    pub datatype: String,
    /// `arraysize` (empty for scalars).
    pub arraysize: String,
    /// `unit`.
    pub unit: String,
    /// `ucd`.
    pub ucd: String,
    /// `<VALUES null="…">`.
    pub null: Option<String>,
}

/// A parsed table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VoTable {
    /// Columns.
    pub fields: Vec<VoField>,
    /// Rows of cells (text; `None` = null).
    pub rows: Vec<Vec<Option<String>>>,
}

fn attr(e: &quick_xml::events::BytesStart<'_>, key: &str) -> String {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key.as_bytes())
        .and_then(|a| a.unescape_value().ok().map(|v| v.to_string()))
        .unwrap_or_default()
}

/// Parses a VOTable document.
///
/// # Errors
/// A message naming what is wrong (malformed XML with its byte position, no TABLE, an
/// unsupported serialization, a short binary stream).
pub fn parse(xml: &str) -> Result<VoTable, String> {
    let mut r = Reader::from_str(xml);
    let mut t = VoTable::default();
    let mut in_table = false;
    let mut done = false;
    let mut mode = ""; // "td", "binary", "binary2"
    let mut in_td = false;
    let mut in_stream = false;
    let mut row: Vec<Option<String>> = Vec::new();
    let mut cell = String::new();
    let mut stream = String::new();
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", r.buffer_position()))?;
        match ev {
            Event::Start(_) | Event::Empty(_) if !done => {
                let (e, empty) = match &ev {
                    Event::Start(e) => (e, false),
                    Event::Empty(e) => (e, true),
                    _ => unreachable!("matched Start or Empty"),
                };
                let name = e.local_name();
                match name.as_ref() {
                    b"TABLE" => in_table = true,
                    b"FIELD" if in_table => t.fields.push(VoField {
                        name: attr(e, "name"),
                        datatype: attr(e, "datatype"),
                        arraysize: attr(e, "arraysize"),
                        unit: attr(e, "unit"),
                        ucd: attr(e, "ucd"),
                        null: None,
                    }),
                    b"VALUES" if in_table => {
                        let n = attr(e, "null");
                        if let (false, Some(f)) = (n.is_empty(), t.fields.last_mut()) {
                            f.null = Some(n);
                        }
                    }
                    b"TABLEDATA" if in_table => mode = "td",
                    b"BINARY" if in_table => mode = "binary",
                    b"BINARY2" if in_table => mode = "binary2",
                    b"FITS" if in_table => {
                        return Err("FITS serialization inside a VOTable is not supported; read the FITS file directly".into())
                    }
                    b"STREAM" if in_table && !empty => {
                        if !attr(e, "href").is_empty() {
                            return Err("VOTable STREAM with href (external data) is not supported".into());
                        }
                        in_stream = true;
                        stream.clear();
                    }
                    b"TR" if mode == "td" => row.clear(),
                    b"TD" if mode == "td" => {
                        if empty {
                            row.push(None);
                        } else {
                            in_td = true;
                            cell.clear();
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(x) if in_td => cell.push_str(&x.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(x) if in_td => {
                let name = x.decode().map_err(|e| e.to_string())?;
                cell.push_str(match name.as_ref() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Event::CData(x) if in_td => cell.push_str(&String::from_utf8_lossy(&x)),
            Event::Text(x) if in_stream => stream.push_str(&x.decode().map_err(|e| e.to_string())?),
            Event::End(e) => match e.local_name().as_ref() {
                b"TD" if in_td => {
                    in_td = false;
                    let f = t.fields.get(row.len());
                    let v = cell.trim().to_string();
                    let null = v.is_empty()
                        || v.eq_ignore_ascii_case("nan")
                        || f.and_then(|f| f.null.as_deref()) == Some(v.as_str());
                    row.push((!null).then_some(v));
                }
                b"TR" if mode == "td" => {
                    while row.len() < t.fields.len() {
                        row.push(None);
                    }
                    t.rows.push(std::mem::take(&mut row));
                }
                b"STREAM" if in_stream => {
                    in_stream = false;
                    let clean: String = stream.chars().filter(|c| !c.is_whitespace()).collect();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(clean.as_bytes())
                        .map_err(|e| format!("BINARY stream is not base64: {e}"))?;
                    decode_binary(&bytes, &t.fields, mode == "binary2", &mut t.rows)?;
                }
                b"TABLE" if in_table => {
                    in_table = false;
                    done = true;
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if t.fields.is_empty() {
        return Err("no TABLE with FIELDs in the document".into());
    }
    Ok(t)
}

fn decode_binary(
    bytes: &[u8],
    fields: &[VoField],
    binary2: bool,
    rows: &mut Vec<Vec<Option<String>>>,
) -> Result<(), String> {
    let mut p = 0usize;
    let n = fields.len();
    let take = |p: &mut usize, k: usize| -> Result<&[u8], String> {
        if *p + k > bytes.len() {
            return Err(format!(
                "BINARY stream ends inside a row (byte {} of {})",
                *p,
                bytes.len()
            ));
        }
        let s = &bytes[*p..*p + k];
        *p += k;
        Ok(s)
    };
    while p < bytes.len() {
        let mask: Vec<u8> = if binary2 {
            take(&mut p, n.div_ceil(8))?.to_vec()
        } else {
            Vec::new()
        };
        let mut row = Vec::with_capacity(n);
        for (i, f) in fields.iter().enumerate() {
            let width = match f.datatype.as_str() {
                "boolean" | "unsignedByte" | "char" => 1,
                "short" | "unicodeChar" => 2,
                "int" | "float" => 4,
                "long" | "double" | "floatComplex" => 8,
                "doubleComplex" => 16,
                "bit" => 0,
                d => return Err(format!("field {}: unknown datatype {d:?}", f.name)),
            };
            let count = if f.arraysize.is_empty() {
                1
            } else if f.arraysize.ends_with('*') {
                let b = take(&mut p, 4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            } else {
                f.arraysize
                    .split('x')
                    .map(|s| s.trim_end_matches('*').parse::<usize>().unwrap_or(1))
                    .product()
            };
            let raw = take(
                &mut p,
                if width == 0 {
                    count.div_ceil(8)
                } else {
                    width * count
                },
            )?;
            let is_null = binary2 && (mask[i / 8] >> (7 - i % 8)) & 1 == 1;
            let text = match f.datatype.as_str() {
                "char" => Some(
                    String::from_utf8_lossy(raw)
                        .trim_end_matches('\0')
                        .trim_end()
                        .to_string(),
                ),
                "unicodeChar" => Some(
                    raw.chunks(2)
                        .map(|c| {
                            char::from_u32(u32::from(u16::from_be_bytes([c[0], c[1]])))
                                .unwrap_or('?')
                        })
                        .collect::<String>()
                        .trim_end_matches('\0')
                        .to_string(),
                ),
                _ if count != 1 => None, // numeric arrays: not kept
                // The standard packs bits from the most significant one; astropy writes a
                // true scalar as 0x08. Any set bit of a scalar is true.
                "bit" => Some((raw[0] != 0).to_string()),
                "boolean" => match raw[0] {
                    b'T' | b't' | b'1' => Some("true".into()),
                    b'F' | b'f' | b'0' => Some("false".into()),
                    _ => None,
                },
                "unsignedByte" => Some(raw[0].to_string()),
                "short" => Some(i16::from_be_bytes([raw[0], raw[1]]).to_string()),
                "int" => Some(i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]).to_string()),
                "long" => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(raw);
                    Some(i64::from_be_bytes(b).to_string())
                }
                "float" => {
                    let v = f32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
                    v.is_finite().then(|| v.to_string())
                }
                "double" => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(raw);
                    let v = f64::from_be_bytes(b);
                    v.is_finite().then(|| v.to_string())
                }
                _ => None,
            };
            let text = text.filter(|s| !is_null && f.null.as_deref() != Some(s.as_str()));
            row.push(text);
        }
        rows.push(row);
    }
    Ok(())
}

/// The standard UCD of a platform column (IVOA UCD1+), for VOTable output.
pub fn ucd_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "object_id" => "meta.id;meta.main",
        "source_id" => "meta.id.cross",
        "ra" => "pos.eq.ra;meta.main",
        "dec" => "pos.eq.dec;meta.main",
        "phot_g_mean_mag" => "phot.mag;em.opt",
        "bp_rp" => "phot.color",
        "parallax" => "pos.parallax",
        "pmra" => "pos.pm;pos.eq.ra",
        "pmdec" => "pos.pm;pos.eq.dec",
        "mag" | "wmean_mag" | "mean_mag" | "median_mag" => "phot.mag",
        "mag_err" => "stat.error;phot.mag",
        "mag_inst" => "phot.mag;instr",
        "flux" => "phot.flux",
        "flux_err" => "stat.error;phot.flux",
        "mjd" | "first_mjd" | "last_mjd" => "time.epoch",
        "time" => "time.epoch",
        "std_mag" | "mad_std_mag" => "stat.stdev;phot.mag",
        "chi2_red" => "stat.fit.chi2",
        "n_det" | "n_mag" | "n_exp" => "meta.number",
        "x" => "pos.cartesian.x;instr.det",
        "y" => "pos.cartesian.y;instr.det",
        "exp_id" => "meta.id;obs",
        "frame" => "meta.number;time",
        _ => return None,
    })
}

fn unit_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "ra" | "dec" => "deg",
        "pmra" | "pmdec" => "mas/yr",
        "parallax" => "mas",
        "mjd" | "first_mjd" | "last_mjd" => "d",
        "x" | "y" => "pix",
        n if n.contains("mag") || n == "bp_rp" || n == "amplitude" => "mag",
        _ => return None,
    })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes Arrow batches as a VOTable 1.4 document (TABLEDATA) with `INFO QUERY_STATUS = OK`,
/// datatypes from the Arrow types, standard UCDs and units for the platform's columns
/// ([`ucd_of`]). Nulls are empty cells.
pub fn write(
    schema: &arrow::datatypes::Schema,
    batches: &[arrow::record_batch::RecordBatch],
    description: &str,
) -> String {
    write_with(schema, batches, description, &ucd_of)
}

/// The UCD1 words the IVOA Simple Cone Search (1.03) requires of its id, RA and Dec columns
/// (what pyvo's SCS records and TOPCAT look for), else [`ucd_of`].
pub fn scs_ucd_of(name: &str) -> Option<&'static str> {
    match name {
        "object_id" => Some("ID_MAIN"),
        "ra" => Some("POS_EQ_RA_MAIN"),
        "dec" => Some("POS_EQ_DEC_MAIN"),
        other => ucd_of(other),
    }
}

/// [`write`] with another UCD assignment (e.g. [`scs_ucd_of`]).
pub fn write_with(
    schema: &arrow::datatypes::Schema,
    batches: &[arrow::record_batch::RecordBatch],
    description: &str,
    ucds: &dyn Fn(&str) -> Option<&'static str>,
) -> String {
    use arrow::datatypes::DataType;
    use arrow::util::display::array_value_to_string;
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n<TABLE name=\"results\">\n",
    );
    s.push_str(&format!(
        "<DESCRIPTION>{}</DESCRIPTION>\n",
        xml_escape(description)
    ));
    for f in schema.fields() {
        let (dt, extra) = match f.data_type() {
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => ("short", ""),
            DataType::Int32 | DataType::UInt16 => ("int", ""),
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => ("long", ""),
            DataType::Float32 => ("float", ""),
            DataType::Float64 => ("double", ""),
            DataType::Boolean => ("boolean", ""),
            _ => ("char", " arraysize=\"*\""),
        };
        s.push_str(&format!(
            "<FIELD name=\"{}\" datatype=\"{dt}\"{extra}",
            xml_escape(f.name())
        ));
        if let Some(u) = ucds(f.name()) {
            s.push_str(&format!(" ucd=\"{u}\""));
        }
        if let Some(u) = unit_of(f.name()) {
            s.push_str(&format!(" unit=\"{u}\""));
        }
        s.push_str("/>\n");
    }
    s.push_str("<DATA><TABLEDATA>\n");
    for b in batches {
        for r in 0..b.num_rows() {
            s.push_str("<TR>");
            for c in b.columns() {
                s.push_str("<TD>");
                if c.is_valid(r) {
                    let v = array_value_to_string(c, r).unwrap_or_default();
                    if !(v.eq_ignore_ascii_case("nan")) {
                        s.push_str(&xml_escape(&v));
                    }
                }
                s.push_str("</TD>");
            }
            s.push_str("</TR>\n");
        }
    }
    s.push_str("</TABLEDATA></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n");
    s
}

/// The Simple Cone Search error document: `INFO name="Error"` just below `VOTABLE`, as SCS
/// 1.03 requires (what pyvo and TOPCAT read), plus the DAL-style `QUERY_STATUS = ERROR`.
pub fn scs_error(message: &str) -> String {
    let m = xml_escape(message);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<INFO name=\"Error\" value=\"{m}\"/>\n<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"ERROR\">{m}</INFO>\n</RESOURCE>\n</VOTABLE>\n"
    )
}

/// An error VOTable (`INFO QUERY_STATUS = ERROR` with the message), as IVOA DAL services answer
/// bad requests.
pub fn error(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"ERROR\">{}</INFO>\n</RESOURCE>\n</VOTABLE>\n",
        xml_escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabledata_with_nulls_and_entities() {
        let xml = r#"<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>
<FIELD name="source_id" datatype="long"><VALUES null="-1"/></FIELD>
<FIELD name="ra" datatype="double" unit="deg"/>
<FIELD name="note" datatype="char" arraysize="*"/>
<DATA><TABLEDATA>
<TR><TD>4295806720</TD><TD>1.5</TD><TD>a&amp;b</TD></TR>
<TR><TD>-1</TD><TD></TD><TD/></TR>
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"#;
        let t = parse(xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.fields.len(), 3);
        assert_eq!(t.fields[1].unit, "deg");
        assert_eq!(
            t.rows,
            vec![
                vec![
                    Some("4295806720".into()),
                    Some("1.5".into()),
                    Some("a&b".into())
                ],
                vec![None, None, None],
            ]
        );
    }

    #[test]
    fn written_tables_read_back() {
        use arrow::array::{Float64Array, Int64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let schema = Arc::new(Schema::new(vec![
            Field::new("object_id", DataType::Int64, false),
            Field::new("ra", DataType::Float64, true),
            Field::new("note", DataType::Utf8, true),
        ]));
        let b = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![4611686018427387903, -3])),
                Arc::new(Float64Array::from(vec![Some(359.5), None])),
                Arc::new(StringArray::from(vec![Some("a<b&c"), None])),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let x = write(&schema, &[b], "test");
        let t = parse(&x).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.fields[0].ucd, "meta.id;meta.main");
        assert_eq!(t.fields[1].ucd, "pos.eq.ra;meta.main");
        assert_eq!(t.fields[1].unit, "deg");
        assert_eq!(
            t.rows,
            vec![
                vec![
                    Some("4611686018427387903".into()),
                    Some("359.5".into()),
                    Some("a<b&c".into())
                ],
                vec![Some("-3".into()), None, None],
            ]
        );
        assert!(
            parse(&error("bad <SR>")).is_err(),
            "an error document has no table"
        );
        assert!(error("bad <SR>").contains("QUERY_STATUS\" value=\"ERROR\">bad &lt;SR&gt;"));
    }

    #[test]
    fn binary2_rows_and_null_mask() {
        // Two fields (long, double); row 1: 7, 2.5; row 2: null long, 1.0.
        let mut b = Vec::new();
        b.push(0u8);
        b.extend(7i64.to_be_bytes());
        b.extend(2.5f64.to_be_bytes());
        b.push(0x80);
        b.extend(0i64.to_be_bytes());
        b.extend(1.0f64.to_be_bytes());
        let enc = base64::engine::general_purpose::STANDARD.encode(&b);
        let xml = format!(
            r#"<VOTABLE><RESOURCE><TABLE><FIELD name="a" datatype="long"/><FIELD name="b" datatype="double"/>
<DATA><BINARY2><STREAM encoding="base64">{enc}</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"#
        );
        let t = parse(&xml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.rows,
            vec![
                vec![Some("7".into()), Some("2.5".into())],
                vec![None, Some("1".into())],
            ]
        );
        // A truncated stream is an error, not a short table.
        let cut = base64::engine::general_purpose::STANDARD.encode(&b[..20]);
        let xml = xml.replace(&enc, &cut);
        assert!(parse(&xml).unwrap_err().contains("ends inside"));
    }
}
