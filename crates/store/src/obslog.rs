//! The observation log on disk.
//!
//! ```text
//! <root>/year=2023/night=2023-01-02/part-<µs>-<pid>-<seq>.parquet   rows of a night in progress
//! <root>/year=2023/night=2023-01-01/sealed.parquet                  a sealed night (one file)
//! <root>/_staging/                                                  sealing in progress (transient)
//! <root>/_lock                                                      writer lock (flock)
//! ```
//!
//! * **Append**: each call writes one Parquet part per night it touches, atomically (temporary
//!   name, fsync, rename). A reader sees a part entirely or not at all, so tonight's rows are
//!   queryable as soon as `append` returns.
//! * **Seal**: all parts of a night are read, de-duplicated by `file_name` (first archived
//!   wins), sorted by `exp_id`, `frame_id`, written as one zstd-compressed file into a staging
//!   directory, and the staging directory is exchanged with the night directory in one atomic
//!   step. A crash leaves either the old parts or the sealed file, never both or neither.
//! * Writers (append, seal) hold an exclusive `flock` on `_lock`, so a daemon appending and
//!   an operator sealing from another process cannot lose rows.
//!
//! The layout is plain Hive partitioning: `duckdb: SELECT * FROM read_parquet('<root>/*/*/*.parquet', hive_partitioning = true)`
//! and `pyarrow.dataset.dataset(root, partitioning='hive')` read it as it is.

use crate::atomic::{exchange_dirs, remove_stale_temps, sync_dir, write_atomic};
use crate::schema::{file_schema, rows_to_batch, ObsRow};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tomoe_core::time::{CivilDate, UtcMicros};

/// Errors of the observation log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Parquet error.
    #[error("{path}: {source}")]
    Parquet {
        /// Where.
        path: PathBuf,
        /// Cause.
        source: parquet::errors::ParquetError,
    },
    /// Arrow error.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// SQL engine error.
    #[error("query failed: {0}")]
    Query(String),
    /// Bad argument.
    #[error("{0}")]
    Invalid(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Summary of one night in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NightInfo {
    /// The night.
    pub night: CivilDate,
    /// Number of Parquet files.
    pub files: usize,
    /// True when the night is a single sealed file.
    pub sealed: bool,
    /// Bytes on disk.
    pub bytes: u64,
}

/// What sealing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealReport {
    /// The night.
    pub night: CivilDate,
    /// Parts before sealing.
    pub parts_in: usize,
    /// Rows written.
    pub rows: usize,
    /// Duplicate rows dropped.
    pub duplicates_dropped: usize,
    /// True if the night was already sealed (nothing done).
    pub already_sealed: bool,
}

/// Name of the sealed file of a night.
pub const SEALED_FILE: &str = "sealed.parquet";
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Handle on an observation log directory.
#[derive(Debug, Clone)]
pub struct ObsLog {
    root: PathBuf,
}

struct LockGuard(File);
impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl ObsLog {
    /// Opens (creating if needed) the log at `root`, clearing leftovers of a crashed seal.
    pub fn open(root: impl Into<PathBuf>) -> Result<ObsLog, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        let log = ObsLog { root };
        let _g = log.lock()?;
        let staging = log.root.join("_staging");
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        }
        for night in log.nights()? {
            let dir = log.night_dir(night.night);
            remove_stale_temps(&dir).map_err(io_err(&dir))?;
        }
        Ok(log)
    }

    /// The log's root directory (the table location).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> Result<LockGuard, StoreError> {
        let p = self.root.join("_lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        f.lock().map_err(io_err(&p))?;
        Ok(LockGuard(f))
    }

    /// Directory of a night.
    pub fn night_dir(&self, night: CivilDate) -> PathBuf {
        self.root
            .join(format!("year={}", night.year))
            .join(format!("night={night}"))
    }

    /// Appends rows, one atomic part file per night touched. Returns the files written.
    pub fn append(&self, rows: &[ObsRow]) -> Result<Vec<PathBuf>, StoreError> {
        let mut by_night: BTreeMap<CivilDate, Vec<ObsRow>> = BTreeMap::new();
        for r in rows {
            by_night.entry(r.night).or_default().push(r.clone());
        }
        let _g = self.lock()?;
        let mut out = Vec::new();
        for (night, rows) in by_night {
            let batch = rows_to_batch(&rows)?;
            let dir = self.night_dir(night);
            let name = format!(
                "part-{}-{}-{:06}.parquet",
                UtcMicros::now().0,
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let path = dir.join(name);
            write_parquet(&path, &[batch], Compression::SNAPPY)?;
            out.push(path);
        }
        Ok(out)
    }

    /// Nights present in the log (their directories), in order; no file is opened.
    pub fn night_dates(&self) -> Result<Vec<CivilDate>, StoreError> {
        let mut out = Vec::new();
        for y in read_dir_sorted(&self.root)? {
            let Some(_) = dir_value(&y, "year") else {
                continue;
            };
            for n in read_dir_sorted(&y)? {
                if let Some(night) = dir_value(&n, "night").and_then(|v| CivilDate::parse(&v).ok())
                {
                    out.push(night);
                }
            }
        }
        Ok(out)
    }

    /// Nights present in the log, in order, with their files.
    pub fn nights(&self) -> Result<Vec<NightInfo>, StoreError> {
        let mut out = Vec::new();
        for night in self.night_dates()? {
            let files = parquet_files(&self.night_dir(night))?;
            let bytes = files
                .iter()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum();
            let sealed = files.len() == 1 && files[0].file_name().is_some_and(|f| f == SEALED_FILE);
            out.push(NightInfo {
                night,
                files: files.len(),
                sealed,
                bytes,
            });
        }
        Ok(out)
    }

    /// The Parquet files of a night (parts or the sealed file), sorted; empty if none.
    pub fn night_files(&self, night: CivilDate) -> Result<Vec<PathBuf>, StoreError> {
        let dir = self.night_dir(night);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        parquet_files(&dir)
    }

    /// File names logged for a night.
    pub fn names_in_night(&self, night: CivilDate) -> Result<HashSet<String>, StoreError> {
        let dir = self.night_dir(night);
        let mut out = HashSet::new();
        if !dir.exists() {
            return Ok(out);
        }
        for f in parquet_files(&dir)? {
            for b in read_parquet(&f, Some(&["file_name"]))? {
                let col = b.column(0).as_string::<i32>();
                out.extend(col.iter().flatten().map(str::to_string));
            }
        }
        Ok(out)
    }

    /// Every file name in the log (reads one column of every file).
    pub fn all_names(&self) -> Result<HashSet<String>, StoreError> {
        let mut out = HashSet::new();
        for n in self.nights()? {
            out.extend(self.names_in_night(n.night)?);
        }
        Ok(out)
    }

    /// Seals a night: see the module docs. Idempotent.
    pub fn seal(&self, night: CivilDate) -> Result<SealReport, StoreError> {
        let _g = self.lock()?;
        let dir = self.night_dir(night);
        if !dir.exists() {
            return Err(StoreError::Invalid(format!(
                "night {night} is not in the log at {}",
                self.root.display()
            )));
        }
        let files = parquet_files(&dir)?;
        if files.len() == 1 && files[0].file_name().is_some_and(|f| f == SEALED_FILE) {
            return Ok(SealReport {
                night,
                parts_in: 1,
                rows: 0,
                duplicates_dropped: 0,
                already_sealed: true,
            });
        }
        let mut batches = Vec::new();
        for f in &files {
            batches.extend(read_parquet(f, None)?);
        }
        let all = concat_batches(&file_schema(), &batches)?;
        let total = all.num_rows();
        // Sort by exp_id, frame_id, archived_at; then keep the first row of each file_name.
        let cols = ["exp_id", "frame_id", "file_name", "archived_at"];
        let sort: Vec<SortColumn> = cols
            .iter()
            .map(|c| SortColumn {
                values: all.column(file_schema().index_of(c).unwrap_or(0)).clone(),
                options: None,
            })
            .collect();
        let idx = lexsort_to_indices(&sort, None)?;
        let sorted = take_record_batch(&all, &idx)?;
        let names = sorted
            .column(file_schema().index_of("file_name").unwrap_or(0))
            .as_string::<i32>()
            .clone();
        let mut seen = HashSet::new();
        let keep: Vec<u32> = (0..names.len())
            .filter(|&i| seen.insert(names.value(i).to_string()))
            .map(|i| i as u32)
            .collect();
        let dedup = take_record_batch(&sorted, &arrow::array::UInt32Array::from(keep))?;
        let rows = dedup.num_rows();

        let staging = self.root.join("_staging").join(format!("night={night}"));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        }
        fs::create_dir_all(&staging).map_err(io_err(&staging))?;
        write_parquet(
            &staging.join(SEALED_FILE),
            &[dedup],
            Compression::ZSTD(ZstdLevel::try_new(3).map_err(|e| StoreError::Parquet {
                path: staging.clone(),
                source: e,
            })?),
        )?;
        sync_dir(&staging).map_err(io_err(&staging))?;
        exchange_dirs(&dir, &staging).map_err(io_err(&dir))?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent).map_err(io_err(parent))?;
        }
        fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
        Ok(SealReport {
            night,
            parts_in: files.len(),
            rows,
            duplicates_dropped: total - rows,
            already_sealed: false,
        })
    }
}

fn dir_value(p: &Path, key: &str) -> Option<String> {
    let name = p.file_name()?.to_str()?;
    name.strip_prefix(key)?
        .strip_prefix('=')
        .map(str::to_string)
        .filter(|_| p.is_dir())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    Ok(read_dir_sorted(dir)?
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect())
}

/// Writes batches to a Parquet file atomically.
pub fn write_parquet(
    path: &Path,
    batches: &[RecordBatch],
    compression: Compression,
) -> Result<(), StoreError> {
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let mut perr = None;
    write_atomic(path, |f| {
        let res = (|| {
            let mut w = ArrowWriter::try_new(f.try_clone()?, file_schema(), Some(props))?;
            for b in batches {
                w.write(b)?;
            }
            w.close()?;
            Ok::<_, parquet::errors::ParquetError>(())
        })();
        res.map_err(|e| {
            let msg = e.to_string();
            perr = Some(e);
            std::io::Error::other(msg)
        })
    })
    .map_err(|source| match perr.take() {
        Some(e) => StoreError::Parquet {
            path: path.to_path_buf(),
            source: e,
        },
        None => StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Reads a Parquet file, optionally only some columns.
pub fn read_parquet(path: &Path, columns: Option<&[&str]>) -> Result<Vec<RecordBatch>, StoreError> {
    let perr = |source| StoreError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(io_err(path))?;
    let mut b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr)?;
    if let Some(cols) = columns {
        let schema = b.parquet_schema();
        let idx: Vec<usize> = cols
            .iter()
            .filter_map(|c| schema.columns().iter().position(|d| d.name() == *c))
            .collect();
        let mask = ProjectionMask::leaves(schema, idx);
        b = b.with_projection(mask);
    }
    let reader = b.build().map_err(perr)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::Arrow)
}
