//! Writing Arrow results as a text table, CSV, JSON (array of objects) or Parquet.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use std::io::Write;

/// Output format of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Newline-delimited JSON.
    Ndjson,
    /// Apache Parquet.
    Parquet,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "ndjson" | "jsonl" => Ok(Self::Ndjson),
            "parquet" => Ok(Self::Parquet),
            other => Err(format!(
                "unknown format {other:?} (table, csv, json, ndjson, parquet)"
            )),
        }
    }
}

/// Writes batches in the given format.
pub fn write_batches(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<(), arrow::error::ArrowError> {
    match format {
        OutputFormat::Table => {
            let t = arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{t}")?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                write!(out, "[]")?;
            } else {
                let mut w = arrow::json::ArrayWriter::new(&mut *out);
                for b in batches {
                    w.write(b)?;
                }
                w.finish()?;
            }
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Parquet => {
            let mut buf = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema.clone(), None)
                .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
            for b in batches {
                w.write(b)
                    .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
            }
            w.close()
                .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
            out.write_all(&buf)?;
        }
    }
    Ok(())
}
