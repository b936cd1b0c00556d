//! Whole tables from files, as named columns of numbers and exact text: FITS binary tables,
//! Parquet, HATS catalogs (a directory), CSV/ECSV (also gzipped, `#` lines skipped) and VOTable
//! (TABLEDATA, BINARY, BINARY2; also gzipped). Used by the catalogue input and the Gaia import.
//! The text of a cell is kept next to its number so that 64-bit integers (Gaia `source_id`) stay
//! exact and errors can quote the value as written.

use crate::input::{unreadable, InputError};
use std::io::Read;
use std::path::Path;

/// A whole table as named text-or-number columns.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    /// (name, unit).
    pub names: Vec<(String, String)>,
    /// Numbers (None: null or not a number).
    pub values: Vec<Vec<Option<f64>>>,
    /// The cells as text (use [`Columns::text`]).
    texts: Vec<Text>,
}

/// How a column's text is kept: as read (CSV, VOTable, FITS strings), as exact integers, or
/// rebuilt from the number (floats from binary formats: no per-cell allocation).
#[derive(Debug)]
enum Text {
    Owned(Vec<String>),
    Ints(Vec<Option<i64>>),
    FromValue,
}

impl Columns {
    fn with_names(names: Vec<(String, String)>) -> Self {
        let n = names.len();
        Self {
            names,
            values: vec![Vec::new(); n],
            texts: (0..n).map(|_| Text::Owned(Vec::new())).collect(),
        }
    }

    /// The column names, comma-separated (for error messages).
    pub fn names_list(&self) -> String {
        self.names
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A cell as text (exact for integers; empty for a null number).
    pub fn text(&self, c: usize, r: usize) -> String {
        match &self.texts[c] {
            Text::Owned(v) => v[r].clone(),
            Text::Ints(v) => v[r].map(|i| i.to_string()).unwrap_or_default(),
            Text::FromValue => self.values[c][r].map(|v| v.to_string()).unwrap_or_default(),
        }
    }

    /// A cell as an exact 64-bit integer, if it is one.
    pub fn int(&self, c: usize, r: usize) -> Option<i64> {
        match &self.texts[c] {
            Text::Ints(v) => v[r],
            Text::Owned(v) => v[r].trim().parse().ok(),
            Text::FromValue => self.values[c][r]
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                .map(|x| x as i64),
        }
    }

    fn push_owned(&mut self, i: usize, t: String) {
        if let Text::Owned(v) = &mut self.texts[i] {
            v.push(t);
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    /// Index of a column (case-insensitive).
    pub fn find(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    fn push_text(&mut self, i: usize, t: Option<&str>) {
        let t = t.unwrap_or("");
        let v = t.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        self.values[i].push(v);
        self.push_owned(i, t.to_string());
    }
}

fn arrow_into(out: &mut Columns, batches: &[tomoe_store::arrow::record_batch::RecordBatch]) {
    use tomoe_store::arrow::array::{Array, AsArray};
    use tomoe_store::arrow::compute::cast;
    use tomoe_store::arrow::datatypes::{DataType, Float64Type, Int64Type};
    use tomoe_store::arrow::util::display::array_value_to_string;
    if let Some(b) = batches.first() {
        for (i, f) in b.schema().fields().iter().enumerate() {
            let dt = f.data_type();
            out.texts[i] = if dt.is_floating() {
                Text::FromValue
            } else if dt.is_integer() {
                Text::Ints(Vec::new())
            } else {
                Text::Owned(Vec::new())
            };
        }
    }
    // Room for every batch at once (reserving batch by batch grows each column exactly, that is
    // with a copy per batch).
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    for (i, vals) in out.values.iter_mut().enumerate() {
        vals.reserve(total);
        match &mut out.texts[i] {
            Text::Ints(v) => v.reserve(total),
            Text::Owned(v) => v.reserve(total),
            Text::FromValue => {}
        }
    }
    for b in batches {
        for (i, col) in b.columns().iter().enumerate() {
            let num = cast(col, &DataType::Float64).ok();
            let num = num.as_ref().map(|n| n.as_primitive::<Float64Type>());
            let vals = &mut out.values[i];
            match num {
                Some(n) if n.null_count() == 0 => {
                    vals.extend(n.values().iter().map(|v| v.is_finite().then_some(*v)))
                }
                Some(n) => vals.extend(
                    (0..n.len())
                        .map(|r| (n.is_valid(r) && n.value(r).is_finite()).then(|| n.value(r))),
                ),
                None => vals.extend(std::iter::repeat_n(None, b.num_rows())),
            }
            match &mut out.texts[i] {
                Text::FromValue => {}
                Text::Ints(v) => {
                    let c = cast(col, &DataType::Int64).ok();
                    match c.as_ref().map(|c| c.as_primitive::<Int64Type>()) {
                        Some(c) => {
                            v.extend((0..c.len()).map(|r| c.is_valid(r).then(|| c.value(r))))
                        }
                        None => v.extend(std::iter::repeat_n(None, b.num_rows())),
                    }
                }
                Text::Owned(v) => v.extend((0..b.num_rows()).map(|r| {
                    if col.is_valid(r) {
                        array_value_to_string(col, r).unwrap_or_default()
                    } else {
                        String::new()
                    }
                })),
            }
        }
    }
}

fn read_text(path: &Path, gz: bool) -> Result<String, InputError> {
    let f = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let mut s = String::new();
    if gz {
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f))
            .read_to_string(&mut s)
            .map_err(|e| unreadable(path, format!("not a complete gzip text file: {e}")))?;
    } else {
        std::io::BufReader::new(f)
            .read_to_string(&mut s)
            .map_err(|e| unreadable(path, e))?;
    }
    Ok(s)
}

fn csv_into(path: &Path, text: &str) -> Result<Columns, InputError> {
    // ECSV (and Gaia's ECSV bulk files): '#' lines are the YAML header, which names the
    // delimiter (ECSV's default is a space).
    let mut delimiter = b',';
    if text.starts_with("# %ECSV") {
        delimiter = b' ';
        for l in text.lines().take_while(|l| l.starts_with('#')) {
            if let Some(d) = l.trim_start_matches('#').trim().strip_prefix("delimiter:") {
                let d = d.trim().trim_matches(['\'', '"']);
                delimiter = if d == "," { b',' } else { b' ' };
            }
        }
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(body.as_bytes());
    let head: Vec<(String, String)> = r
        .headers()
        .map_err(|e| unreadable(path, e))?
        .iter()
        .map(|h| (h.trim().to_string(), String::new()))
        .collect();
    if head.is_empty() || (head.len() == 1 && head[0].0.is_empty()) {
        return Err(unreadable(path, "empty file (no header row)"));
    }
    let mut out = Columns::with_names(head);
    for (n, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| unreadable(path, format!("data row {}: {e}", n + 1)))?;
        for i in 0..out.names.len() {
            let t = rec.get(i).map(str::trim);
            let t = t.filter(|t| !t.eq_ignore_ascii_case("null") && !t.is_empty());
            out.push_text(i, t);
        }
    }
    Ok(out)
}

fn votable_into(path: &Path, text: &str) -> Result<Columns, InputError> {
    let t = tomoe_store::votable::parse(text).map_err(|e| unreadable(path, e))?;
    let mut out = Columns::with_names(
        t.fields
            .iter()
            .map(|f| (f.name.clone(), f.unit.clone()))
            .collect(),
    );
    for row in &t.rows {
        for (i, c) in row.iter().enumerate() {
            out.push_text(i, c.as_deref());
        }
    }
    Ok(out)
}

/// Loads a whole table; the format is chosen by extension (`.fits`/`.fit`/`.fts`, `.parquet`,
/// `.vot`/`.xml`/`.votable`, anything else CSV; `.gz` around CSV or VOTable) or, for a
/// directory, by its `hats.properties`.
pub(crate) fn load(path: &Path) -> Result<Columns, InputError> {
    if path.is_dir() {
        let cat = tomoe_store::hats::HatsCatalog::open(path).map_err(|e| unreadable(path, e))?;
        let batches = cat.read_all(None).map_err(|e| unreadable(path, e))?;
        let schema = cat.schema().map_err(|e| unreadable(path, e))?;
        let mut out = Columns::with_names(
            schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), String::new()))
                .collect(),
        );
        arrow_into(&mut out, &batches);
        return Ok(out);
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (gz, stem) = match name.strip_suffix(".gz") {
        Some(s) => (true, s.to_string()),
        None => (false, name.clone()),
    };
    let ext = stem.rsplit('.').next().unwrap_or("").to_string();
    match ext.as_str() {
        "fits" | "fit" | "fts" if !gz => {
            use tomoe_fits::table::{read_table, ReadValues};
            let cols = read_table(path, None).map_err(|e| unreadable(path, e))?;
            let mut out = Columns::default();
            for c in cols {
                let (v, t): (Vec<Option<f64>>, Text) = match c.values {
                    ReadValues::F64(v) => (
                        v.iter().map(|x| x.is_finite().then_some(*x)).collect(),
                        Text::FromValue,
                    ),
                    ReadValues::I64(v) => (
                        v.iter().map(|x| Some(*x as f64)).collect(),
                        Text::Ints(v.iter().map(|x| Some(*x)).collect()),
                    ),
                    ReadValues::Str(v) => (
                        v.iter().map(|s| s.trim().parse().ok()).collect(),
                        Text::Owned(v),
                    ),
                    ReadValues::Bool(v) => (
                        v.iter()
                            .map(|b| b.map(|b| f64::from(u8::from(b))))
                            .collect(),
                        Text::Owned(
                            v.iter()
                                .map(|b| b.map(|b| b.to_string()).unwrap_or_default())
                                .collect(),
                        ),
                    ),
                };
                out.names.push((c.name, c.unit));
                out.values.push(v);
                out.texts.push(t);
            }
            Ok(out)
        }
        "parquet" if !gz => {
            let batches =
                tomoe_store::obslog::read_parquet(path, None).map_err(|e| unreadable(path, e))?;
            let Some(first) = batches.first() else {
                return Err(unreadable(path, "no rows"));
            };
            let mut out = Columns::with_names(
                first
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), String::new()))
                    .collect(),
            );
            arrow_into(&mut out, &batches);
            Ok(out)
        }
        "vot" | "votable" | "xml" => votable_into(path, &read_text(path, gz)?),
        _ => csv_into(path, &read_text(path, gz)?),
    }
}
