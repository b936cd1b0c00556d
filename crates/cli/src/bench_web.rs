//! `tomoe bench web`: column-search latency of the archive page on a year of synthetic
//! chip-file rows (default 2×10⁵ exposures × 84 chips = 1.7×10⁷ rows), against DuckDB running the
//! same queries on the same Parquet in the same run.
//!
//! Ours: each query is a real request to the router (`/api/dt/exposures`, DataTables'
//! protocol, JSON answer), in process. DuckDB (`scripts/bench/duckdb_archive_search.py`): the
//! same filter, order and page as one SQL statement over the log's Parquet files. Both answers
//! are compared (filtered count and the page's exposure ids) so the two do the same work.

use anyhow::bail;
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_store::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use tomoe_store::schema::file_schema;

/// Arguments of `tomoe bench web`.
#[derive(Debug, Args)]
pub struct WebBenchArgs {
    /// Directory of the synthetic log (kept and reused when it matches the sizes).
    #[arg(long, default_value = "/var/tmp/tomoe-bench-web")]
    pub dir: PathBuf,
    /// Exposures in the year.
    #[arg(long, default_value_t = 200_000)]
    pub exposures: usize,
    /// Chip files per exposure.
    #[arg(long, default_value_t = 84)]
    pub chips: usize,
    /// Distinct queries (column searches as typed in the page).
    #[arg(long, default_value_t = 100)]
    pub queries: usize,
    /// Times each query is run by each tool.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Python interpreter with duckdb.
    #[arg(long, default_value = "python3")]
    pub python: String,
}

const YEAR: i32 = 2025;
const NIGHTS: usize = 365;
const PROJECTS: [&str; 6] = [
    "All-Sky Survey",
    "High-Cadence Survey",
    "Transient Follow-up",
    "Solar System Objects",
    "Calibration",
    "Engineering",
];
const OBSERVERS: [&str; 8] = [
    "Sako", "Ohsawa", "Arima", "Kasuga", "Mori", "Aoki", "Tanaka", "Robot",
];

/// Deterministic pseudo-random numbers (splitmix64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Exp {
    exp_id: i64,
    utc: i64,
    object: String,
    project: &'static str,
    observer: &'static str,
    typ: &'static str,
    exptime: f64,
    frames: i32,
    fps: f64,
    ra: f64,
    dec: f64,
}

fn night_date(night: usize) -> CivilDate {
    let jan1 = CivilDate::new(YEAR, 1, 1).map_or(20_089, |d| d.days_since_epoch());
    CivilDate::from_days_since_epoch(jan1 + night as i64)
}

fn night_exposures(night: usize, per_night: usize, first_id: i64, rng: &mut Rng) -> Vec<Exp> {
    let date = night_date(night);
    // 19:00 JST = 10:00 UTC, one exposure a minute.
    let t0 = UtcMicros::from_date(date).0 + 10 * 3_600_000_000;
    (0..per_night)
        .map(|k| {
            let project = PROJECTS[rng.below(PROJECTS.len())];
            let calib = project == "Calibration";
            let field = rng.below(3000);
            let object = if calib {
                ["FLAT", "DARK", "BIAS"][rng.below(3)].to_string()
            } else if rng.below(50) == 0 {
                format!("SN{YEAR}{}", (b'a' + (rng.below(26)) as u8) as char)
                    + &format!("{}", (b'a' + (rng.below(26)) as u8) as char)
            } else {
                format!(
                    "J{:02}{:02}+{:02}{:02}_dith{}",
                    field % 24,
                    field % 60,
                    field % 90,
                    (field * 7) % 60,
                    k % 4 + 1
                )
            };
            let fps = if rng.below(4) == 0 { 1.0 } else { 2.0 };
            let frames = [12, 18, 180][rng.below(3)];
            Exp {
                exp_id: first_id + k as i64,
                utc: t0 + k as i64 * 60_000_000,
                object,
                project,
                observer: OBSERVERS[rng.below(OBSERVERS.len())],
                typ: if calib { "FLAT" } else { "OBJECT" },
                exptime: f64::from(frames) / fps - 0.5,
                frames,
                fps,
                ra: (field as f64 * 0.12) % 360.0,
                dec: ((field * 37) % 150) as f64 - 60.0,
            }
        })
        .collect()
}

fn night_batch(date: CivilDate, exps: &[Exp], chips: usize) -> anyhow::Result<RecordBatch> {
    let n = exps.len() * chips;
    let rep = |f: &dyn Fn(&Exp) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from_iter(
            exps.iter().flat_map(|e| std::iter::repeat_n(f(e), chips)),
        ))
    };
    let repf = |f: &dyn Fn(&Exp) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            exps.iter().flat_map(|e| std::iter::repeat_n(f(e), chips)),
        ))
    };
    let repi = |f: &dyn Fn(&Exp) -> Option<i32>| -> ArrayRef {
        Arc::new(Int32Array::from_iter(
            exps.iter().flat_map(|e| std::iter::repeat_n(f(e), chips)),
        ))
    };
    let chip_of = |i: usize| (i % chips) as i32;
    let ymd = format!("{:04}{:02}{:02}", date.year, date.month, date.day);
    let frame: Vec<String> = exps
        .iter()
        .flat_map(|e| {
            let ymd = ymd.clone();
            (0..chips).map(move |c| {
                format!(
                    "TMQ{}{ymd}{:08}{:02}",
                    1 + c / 21,
                    e.exp_id % 100_000_000,
                    c % 21 + 11
                )
            })
        })
        .collect();
    let names: Vec<String> = frame.iter().map(|f| format!("s{f}.fits")).collect();
    let paths: Vec<String> = names
        .iter()
        .map(|f| format!("{}/{date}/{f}", date.year))
        .collect();
    let utc: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_iter(
            exps.iter()
                .flat_map(|e| std::iter::repeat_n(Some(e.utc), chips)),
        )
        .with_timezone("UTC"),
    );
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(&frame)),
        Arc::new(Int32Array::from_iter_values(
            (0..n).map(|i| 1 + chip_of(i) / 21),
        )),
        Arc::new(Int32Array::from_iter_values(
            (0..n).map(|i| chip_of(i) % 21 + 11),
        )),
        Arc::new(Int32Array::from_iter_values(
            (0..n).map(|i| 100 * (1 + chip_of(i) / 21) + chip_of(i) % 21 + 11),
        )),
        Arc::new(Int64Array::from_iter_values(
            exps.iter()
                .flat_map(|e| std::iter::repeat_n(e.exp_id, chips)),
        )),
        rep(&|_| Some("TOMOE-IMAGE-STACK".into())),
        rep(&|e| Some(e.typ.into())),
        rep(&|_| Some("MOVIE".into())),
        rep(&|e| Some(e.object.clone())),
        rep(&|e| Some(e.project.into())),
        rep(&|e| Some(e.observer.into())),
        rep(&|_| Some("stack".into())),
        rep(&|_| Some("none".into())),
        utc,
        repf(&|e| Some(e.exptime)),
        repf(&|e| Some(1.0 / e.fps - 0.02)),
        repf(&|e| Some(e.exptime + 0.5)),
        repf(&|e| Some(1.0 / e.fps)),
        repf(&|_| Some(0.000_414_75)),
        repf(&|e| Some(e.fps)),
        repi(&|_| Some(2000)),
        repi(&|_| Some(1128)),
        repi(&|_| None),
        repi(&|e| Some(e.frames)),
        repf(&|e| Some(e.ra)),
        repf(&|e| Some(e.dec)),
        Arc::new(BooleanArray::from(vec![true; n])),
        repf(&|e| Some(e.ra)),
        repf(&|e| Some(e.dec)),
        rep(&|_| None),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n("", n))),
        Arc::new(StringArray::from_iter_values(&names)),
        Arc::new(StringArray::from_iter_values(&paths)),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            "local", n,
        ))),
        Arc::new(Int64Array::from_iter_values(std::iter::repeat_n(
            9_031_680i64,
            n,
        ))),
        Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("{:064x}", i as u64 * 0x9E37_79B9)),
        )),
        rep(&|_| None),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                exps.iter()
                    .flat_map(|e| std::iter::repeat_n(e.utc + 20_000_000, chips)),
            )
            .with_timezone("UTC"),
        ),
    ];
    Ok(RecordBatch::try_new(file_schema(), cols)?)
}

/// Writes (or reuses) the synthetic log; returns its root.
fn ensure_log(a: &WebBenchArgs) -> anyhow::Result<PathBuf> {
    let root = a.dir.join("obslog");
    let marker = a.dir.join(format!("complete-{}x{}", a.exposures, a.chips));
    if marker.exists() {
        eprintln!("reusing the synthetic log in {}", root.display());
        return Ok(root);
    }
    if a.dir.exists() {
        std::fs::remove_dir_all(&a.dir)?;
    }
    let per_night = a.exposures.div_ceil(NIGHTS);
    let bar = indicatif::ProgressBar::new(NIGHTS as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "  writing the synthetic log {bar:40} {pos}/{len} nights",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut rng = Rng(42);
    let mut made = 0usize;
    for night in 0..NIGHTS {
        let k = per_night.min(a.exposures - made);
        if k == 0 {
            break;
        }
        let exps = night_exposures(night, k, 1_000_000 + made as i64, &mut rng);
        made += k;
        let date = night_date(night);
        let batch = night_batch(date, &exps, a.chips)?;
        let dir = root
            .join(format!("year={YEAR}"))
            .join(format!("night={date}"));
        std::fs::create_dir_all(&dir)?;
        tomoe_store::obslog::write_parquet(
            &dir.join(tomoe_store::obslog::SEALED_FILE),
            &[batch],
            parquet_zstd(),
        )?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    std::fs::write(&marker, "")?;
    Ok(root)
}

fn parquet_zstd() -> tomoe_store::parquet::basic::Compression {
    tomoe_store::parquet::basic::Compression::ZSTD(Default::default())
}

/// One search as the page sends it, and the same in SQL.
struct Query {
    dt: String,
    sql: String,
}

fn sql_str(s: &str) -> String {
    s.replace('\'', "''")
}

fn make_queries(n: usize, root: &Path) -> Vec<Query> {
    let mut rng = Rng(7);
    let mut sample = Vec::new();
    let mut r2 = Rng(42);
    for night in 0..3 {
        sample.extend(
            night_exposures(night, 50, 0, &mut r2)
                .into_iter()
                .map(|e| e.object),
        );
    }
    let base = format!(
        "SELECT exp_id, min(utc_start) AS t, count(DISTINCT frame_id) AS nfits, count(*) OVER () AS filtered \
         FROM read_parquet('{}/year={YEAR}/*/*.parquet', hive_partitioning = true)",
        root.display()
    );
    let tail = "GROUP BY exp_id ORDER BY t DESC, exp_id DESC LIMIT 50";
    let dt = |col: &str, v: &str| {
        format!(
            "draw=1&start=0&length=50&year={YEAR}&columns%5B0%5D%5Bdata%5D=utc_start&columns%5B1%5D%5Bdata%5D={col}&columns%5B1%5D%5Bsearch%5D%5Bvalue%5D={}&order%5B0%5D%5Bcolumn%5D=0&order%5B0%5D%5Bdir%5D=desc",
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        )
    };
    let sub = |s: &str, rng: &mut Rng| -> String {
        let c: Vec<char> = s.chars().collect();
        let len = (3 + rng.below(4)).min(c.len());
        let st = rng.below(c.len() - len + 1);
        c[st..st + len].iter().collect()
    };
    (0..n)
        .map(|i| match i % 6 {
            0 | 1 => {
                let v = sub(&sample[rng.below(sample.len())], &mut rng).to_lowercase();
                Query {
                    dt: dt("object", &v),
                    sql: format!("{base} WHERE contains(lower(object), '{}') {tail}", sql_str(&v)),
                }
            }
            2 => {
                let v = sub(PROJECTS[rng.below(PROJECTS.len())], &mut rng).to_lowercase();
                Query {
                    dt: dt("project", &v),
                    sql: format!("{base} WHERE contains(lower(project), '{}') {tail}", sql_str(&v)),
                }
            }
            3 => {
                let v = sub(OBSERVERS[rng.below(OBSERVERS.len())], &mut rng).to_lowercase();
                Query {
                    dt: dt("observer", &v),
                    sql: format!("{base} WHERE contains(lower(observer), '{}') {tail}", sql_str(&v)),
                }
            }
            4 => {
                let (lo, hi) = [(5.0, 6.0), (8.0, 9.0), (89.0, 180.0), (0.0, 6.0)][rng.below(4)];
                Query {
                    dt: dt("exptime", &format!("{lo}..{hi}")),
                    sql: format!("{base} WHERE exptime BETWEEN {lo} AND {hi} {tail}"),
                }
            }
            _ => {
                let d = night_date(rng.below(NIGHTS));
                Query {
                    dt: dt("utc_start", &d.to_string()),
                    sql: format!(
                        "{base} WHERE utc_start >= TIMESTAMPTZ '{d} 00:00:00+00' AND utc_start < TIMESTAMPTZ '{} 00:00:00+00' {tail}",
                        d.succ()
                    ),
                }
            }
        })
        .collect()
}

/// Runs the benchmark and prints a Markdown report.
pub fn run(a: WebBenchArgs) -> anyhow::Result<()> {
    let root = ensure_log(&a)?;
    let rows = a.exposures * a.chips;
    let cfg = tomoe_web::WebConfig {
        obslog_root: root.clone(),
        archive_root: a.dir.join("archive"),
        blocklist_dir: a.dir.join("blocklist"),
        previews_dir: a.dir.join("previews"),
        rate_per_s: 1e9,
        rate_burst: 1e9,
        ..Default::default()
    };
    let t = Instant::now();
    let state = Arc::new(tomoe_web::AppState::new(cfg)?);
    let build = t.elapsed().as_secs_f64();
    let app = tomoe_web::router(state.clone());
    let queries = make_queries(a.queries, &root);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut ours = Vec::new();
    let mut our_answers = Vec::new();
    for rep in 0..a.repeat {
        for q in &queries {
            let (ms, status, body) =
                crate::bench::timed_get(&rt, &app, &format!("/api/dt/exposures?{}", q.dt))?;
            ours.push(ms);
            if !status.is_success() {
                bail!("{}: {status} {}", q.dt, String::from_utf8_lossy(&body));
            }
            if rep == 0 {
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                let ids: Vec<i64> = v["data"]
                    .as_array()
                    .map(|d| d.iter().filter_map(|r| r["exp_id"].as_i64()).collect())
                    .unwrap_or_default();
                our_answers.push((v["recordsFiltered"].as_u64().unwrap_or(0), ids));
            }
        }
    }
    // DuckDB on the same files, same queries.
    let qfile = a.dir.join("queries.json");
    std::fs::write(
        &qfile,
        serde_json::to_vec(&queries.iter().map(|q| q.sql.clone()).collect::<Vec<_>>())?,
    )?;
    let v = crate::bench::run_baseline(
        &a.python,
        "duckdb_archive_search.py",
        &[qfile.into_os_string(), a.repeat.to_string().into()],
        "duckdb: pip install duckdb",
    )?;
    let mut duck: Vec<f64> = v["ms"]
        .as_array()
        .map(|x| x.iter().filter_map(|s| s.as_f64()).collect())
        .unwrap_or_default();
    let answers = v["answers"].as_array().cloned().unwrap_or_default();
    let mut agree = 0;
    for (i, (n, ids)) in our_answers.iter().enumerate() {
        let d = &answers[i];
        let dn = d["filtered"].as_u64().unwrap_or(0);
        let dids: Vec<i64> = d["ids"]
            .as_array()
            .map(|x| x.iter().filter_map(|s| s.as_i64()).collect())
            .unwrap_or_default();
        if dn == *n && &dids == ids {
            agree += 1;
        } else {
            eprintln!(
                "query {i} differs: ours {n} {:?}… duckdb {dn} {:?}…",
                &ids[..ids.len().min(3)],
                &dids[..dids.len().min(3)]
            );
        }
    }
    use crate::bench::percentile;
    ours.sort_by(f64::total_cmp);
    duck.sort_by(f64::total_cmp);
    let (o50, o99) = (percentile(&ours, 50.0), percentile(&ours, 99.0));
    let (d50, d99) = (percentile(&duck, 50.0), percentile(&duck, 99.0));
    println!(
        "## tomoe bench web ({rows} chip-file rows = {} exposures × {} chips, one year; {} queries × {})",
        a.exposures, a.chips, a.queries, a.repeat
    );
    println!();
    println!("| column search, page of 50 + counts | p50 [ms] | p99 [ms] |");
    println!("|---|---|---|");
    println!("| tomoe serve `/api/dt/exposures` (in process, JSON) | {o50:.2} | {o99:.2} |");
    println!(
        "| DuckDB {} on the same Parquet (same filter, order, page) | {d50:.1} | {d99:.1} |",
        v["duckdb"].as_str().unwrap_or("?")
    );
    println!(
        "| ratio DuckDB / tomoe | {:.0} × | {:.0} × |",
        d50 / o50,
        d99 / o99
    );
    println!();
    println!(
        "Index built from the {rows} rows in {build:.1} s ({NIGHTS} nights); answers agree on {agree} of {} queries (filtered count and page ids).",
        our_answers.len()
    );
    Ok(())
}
