//! A small column table for command output: written as CSV, as Parquet when the output
//! file ends in `.parquet`, or as a FITS binary table when it ends in `.fits` (through the store's Arrow writer), so catalogs open in pyarrow,
//! DuckDB or TOPCAT directly.

use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tomoe_store::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use tomoe_store::arrow::datatypes::{DataType, Field, Schema};
use tomoe_store::format::{write_batches, OutputFormat};

/// One column.
#[derive(Debug, Clone)]
pub enum Column {
    /// Floating point, written with the given number of decimals in CSV (NaN → empty).
    F64(Vec<f64>, usize),
    /// Integers.
    I64(Vec<i64>),
    /// Text.
    Str(Vec<String>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::F64(v, _) => v.len(),
            Column::I64(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }
}

/// Named columns of equal length.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// (name, values).
    pub columns: Vec<(String, Column)>,
}

impl Table {
    /// Adds a column.
    pub fn add(&mut self, name: &str, c: Column) {
        self.columns.push((name.to_string(), c));
    }

    /// Writes to `path` (Parquet if it ends in `.parquet`, else CSV) or to standard output as CSV.
    pub fn write(&self, path: Option<&Path>) -> anyhow::Result<()> {
        match path {
            Some(p) if p.extension().is_some_and(|e| e == "fits" || e == "fit") => {
                let cols: Vec<(&str, &str, tomoe_fits::table::TableColumn)> = self
                    .columns
                    .iter()
                    .map(|(n, c)| {
                        let tc = match c {
                            Column::F64(v, _) => tomoe_fits::table::TableColumn::F64(v.clone()),
                            Column::I64(v) => tomoe_fits::table::TableColumn::I64(v.clone()),
                            Column::Str(v) => tomoe_fits::table::TableColumn::Str(v.clone()),
                        };
                        (n.as_str(), "", tc)
                    })
                    .collect();
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                );
                tomoe_fits::table::write_table(
                    &mut f,
                    &[tomoe_fits::Card::string(
                        "ORIGIN",
                        "tomoe",
                        "Tomo-e data platform",
                    )],
                    "CATALOG",
                    &cols,
                )?;
                f.flush()?;
                Ok(())
            }
            Some(p) if p.extension().is_some_and(|e| e == "parquet") => {
                let (schema, batch) = self.to_arrow()?;
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                );
                write_batches(&mut f, &schema, &[batch], OutputFormat::Parquet)?;
                f.flush()?;
                Ok(())
            }
            Some(p) => {
                let mut f = std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                );
                self.write_csv(&mut f)?;
                Ok(f.flush()?)
            }
            None => {
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                self.write_csv(&mut out)?;
                Ok(out.flush()?)
            }
        }
    }

    fn write_csv(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        writeln!(out, "{}", names.join(","))?;
        let n = self.columns.first().map(|(_, c)| c.len()).unwrap_or(0);
        for i in 0..n {
            for (j, (_, c)) in self.columns.iter().enumerate() {
                if j > 0 {
                    out.write_all(b",")?;
                }
                match c {
                    Column::F64(v, d) if v[i].is_finite() => write!(out, "{:.*}", *d, v[i])?,
                    Column::F64(..) => {}
                    Column::I64(v) => write!(out, "{}", v[i])?,
                    Column::Str(v) => write!(out, "{}", v[i])?,
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }

    fn to_arrow(&self) -> anyhow::Result<(Arc<Schema>, RecordBatch)> {
        let mut fields = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        for (name, c) in &self.columns {
            match c {
                Column::F64(v, _) => {
                    fields.push(Field::new(name, DataType::Float64, true));
                    arrays.push(Arc::new(Float64Array::from(
                        v.iter()
                            .map(|x| x.is_finite().then_some(*x))
                            .collect::<Vec<_>>(),
                    )));
                }
                Column::I64(v) => {
                    fields.push(Field::new(name, DataType::Int64, false));
                    arrays.push(Arc::new(Int64Array::from(v.clone())));
                }
                Column::Str(v) => {
                    fields.push(Field::new(name, DataType::Utf8, false));
                    arrays.push(Arc::new(StringArray::from(v.clone())));
                }
            }
        }
        let schema = Arc::new(Schema::new(fields));
        Ok((schema.clone(), RecordBatch::try_new(schema, arrays)?))
    }
}
