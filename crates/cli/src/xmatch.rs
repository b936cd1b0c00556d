//! `tomoe xmatch A B --radius R`: nearest neighbour of every row of A among B within R.

use anyhow::{bail, Context};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `tomoe xmatch`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  tomoe xmatch sources.csv gaia.parquet --radius 1 -o pairs.csv\n\nInputs: CSV (header row), Parquet or a FITS binary table (the first BINTABLE; columns from TTYPEn) with RA/Dec columns in degrees (default names ra, dec).\nOutput: a_row, b_row (0-based), sep_arcsec, and the A and B id columns when --id-a/--id-b are given; rows of A without a match within the radius are left out."
)]
pub struct XmatchArgs {
    /// Catalogue A.
    pub a: PathBuf,
    /// Catalogue B.
    pub b: PathBuf,
    /// Match radius in arcseconds.
    #[arg(long, default_value_t = 1.0)]
    pub radius: f64,
    /// RA column name (both catalogues).
    #[arg(long, default_value = "ra")]
    pub ra: String,
    /// Dec column name (both catalogues).
    #[arg(long, default_value = "dec")]
    pub dec: String,
    /// An id column of A to copy to the output.
    #[arg(long)]
    pub id_a: Option<String>,
    /// An id column of B to copy to the output.
    #[arg(long)]
    pub id_b: Option<String>,
    /// Output: CSV, Parquet (.parquet) or FITS table (.fits); default CSV on standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Reads named columns as text from a CSV, Parquet or FITS binary-table file.
fn read_columns(path: &Path, names: &[&str]) -> anyhow::Result<Vec<Vec<String>>> {
    if path
        .extension()
        .is_some_and(|e| e == "fits" || e == "fit" || e == "fts")
    {
        use tomoe_fits::table::{read_table, ReadValues};
        let cols = read_table(path, None)?;
        return names
            .iter()
            .map(|n| {
                let c = cols
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(n))
                    .with_context(|| {
                        let found: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                        format!(
                            "{}: no column {n:?} (found: {})",
                            path.display(),
                            found.join(", ")
                        )
                    })?;
                Ok(match &c.values {
                    ReadValues::F64(v) => v
                        .iter()
                        .map(|x| {
                            if x.is_nan() {
                                String::new()
                            } else {
                                format!("{x:?}")
                            }
                        })
                        .collect(),
                    ReadValues::I64(v) => v.iter().map(i64::to_string).collect(),
                    ReadValues::Str(v) => v.clone(),
                    ReadValues::Bool(v) => v
                        .iter()
                        .map(|b| b.map(|b| b.to_string()).unwrap_or_default())
                        .collect(),
                })
            })
            .collect();
    }
    if path.extension().is_some_and(|e| e == "parquet") {
        use tomoe_store::arrow::util::display::array_value_to_string;
        let batches = tomoe_store::obslog::read_parquet(path, Some(names))?;
        let mut out = vec![Vec::new(); names.len()];
        for b in &batches {
            for (i, n) in names.iter().enumerate() {
                let col = b
                    .column_by_name(n)
                    .with_context(|| format!("{}: no column {n:?}", path.display()))?;
                for r in 0..b.num_rows() {
                    out[i].push(array_value_to_string(col, r)?);
                }
            }
        }
        if batches.is_empty() {
            bail!("{}: no rows", path.display());
        }
        return Ok(out);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    let head: Vec<String> = lines
        .next()
        .with_context(|| format!("{}: empty file", path.display()))?
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect();
    let idx: Vec<usize> = names
        .iter()
        .map(|n| {
            head.iter()
                .position(|h| h.eq_ignore_ascii_case(n))
                .with_context(|| {
                    format!(
                        "{}: no column {n:?} (found: {})",
                        path.display(),
                        head.join(", ")
                    )
                })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut out = vec![Vec::new(); names.len()];
    for line in lines {
        let f: Vec<&str> = line
            .split(',')
            .map(|c| c.trim().trim_matches('"'))
            .collect();
        for (o, &i) in out.iter_mut().zip(&idx) {
            o.push(f.get(i).copied().unwrap_or("").to_string());
        }
    }
    Ok(out)
}

/// Sky positions [deg] of a catalogue and, when asked, its id column.
type SkyColumns = (Vec<(f64, f64)>, Option<Vec<String>>);

fn sky(path: &Path, a: &XmatchArgs, id: Option<&str>) -> anyhow::Result<SkyColumns> {
    let mut names = vec![a.ra.as_str(), a.dec.as_str()];
    if let Some(i) = id {
        names.push(i);
    }
    let cols = read_columns(path, &names)?;
    let parse = |v: &str, row: usize, what: &str| -> anyhow::Result<f64> {
        v.parse::<f64>().with_context(|| {
            format!(
                "{}: row {}: {what} {v:?} is not a number",
                path.display(),
                row + 1
            )
        })
    };
    let mut pts = Vec::with_capacity(cols[0].len());
    for (r, (ra, dec)) in cols[0].iter().zip(&cols[1]).enumerate() {
        let (ra, dec) = (parse(ra, r, "RA")?, parse(dec, r, "Dec")?);
        if !(-90.0..=90.0).contains(&dec) {
            bail!(
                "{}: row {}: Dec {dec} outside [-90, 90]",
                path.display(),
                r + 1
            );
        }
        pts.push((ra, dec));
    }
    Ok((pts, id.map(|_| cols[2].clone())))
}

/// Runs `tomoe xmatch`.
pub fn run(a: XmatchArgs) -> anyhow::Result<()> {
    if !(a.radius.is_finite() && a.radius > 0.0 && a.radius <= 3600.0) {
        bail!("--radius must be in (0, 3600] arcseconds, got {}", a.radius);
    }
    let (pa, ida) = sky(&a.a, &a, a.id_a.as_deref())?;
    let (pb, idb) = sky(&a.b, &a, a.id_b.as_deref())?;
    let m = tomoe_core::xmatch::nearest_within(&pa, &pb, a.radius);
    use crate::table::{Column, Table};
    let pairs: Vec<(usize, usize, f64)> = m
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.map(|(j, s)| (i, j, s)))
        .collect();
    let mut t = Table::default();
    t.add(
        "a_row",
        Column::I64(pairs.iter().map(|p| p.0 as i64).collect()),
    );
    t.add(
        "b_row",
        Column::I64(pairs.iter().map(|p| p.1 as i64).collect()),
    );
    t.add(
        "sep_arcsec",
        Column::F64(pairs.iter().map(|p| p.2).collect(), 6),
    );
    if let (Some(name), Some(ids)) = (&a.id_a, &ida) {
        t.add(
            &format!("a_{name}"),
            Column::Str(pairs.iter().map(|p| ids[p.0].clone()).collect()),
        );
    }
    if let (Some(name), Some(ids)) = (&a.id_b, &idb) {
        t.add(
            &format!("b_{name}"),
            Column::Str(pairs.iter().map(|p| ids[p.1].clone()).collect()),
        );
    }
    t.write(a.output.as_deref())?;
    eprintln!(
        "{} of {} rows of A matched within {}\"",
        pairs.len(),
        pa.len(),
        a.radius
    );
    Ok(())
}
