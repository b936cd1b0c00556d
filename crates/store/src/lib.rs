//! `tomoe-store`: the platform's tabular storage.
//!
//! * [`obslog`]: the observation log — one Parquet row per archived file, partitioned by
//!   year and observing night in the Hive layout (`year=YYYY/night=YYYY-MM-DD/*.parquet`),
//!   appended in small atomic parts while a night is in progress and sealed into one
//!   compact sorted file per night afterwards.
//! * [`query`]: the embedded SQL engine (DataFusion) over the log, with the `exposures` view.
//! * [`blocklist`]: rules that hide files from every public surface (and optionally stop
//!   their fetching), with an audit log.
//! * [`exposures`]: the in-memory exposure index of the archive page (typed searches, sorting,
//!   paging, blocklist applied).
//! * [`hats`]: HATS (HEALPix-partitioned Parquet) catalogs: writer, cone reader.
//! * [`lcquery`]: queries of the published light-curve database (cone, light curve, nearest).
//! * [`votable`]: reading VOTables (TABLEDATA, BINARY, BINARY2) and writing them (TABLEDATA, UCDs).
//! * [`format`]: writing query results as a table, CSV, JSON or Parquet.
//!
//! This is the only crate that depends on the SQL engine; the numeric and format crates stay
//! light.

pub mod atomic;
pub mod blocklist;
pub mod exposures;
pub mod format;
pub mod hats;
pub mod lcquery;
pub mod obslog;
pub mod query;
pub mod schema;
pub mod votable;

/// Arrow, re-exported so callers read batches without their own dependency.
pub use arrow;
pub use obslog::{NightInfo, ObsLog, SealReport, StoreError};
/// Parquet, re-exported (compression settings of [`obslog::write_parquet`]).
pub use parquet;
pub use query::ObsLogQuery;
pub use schema::ObsRow;
