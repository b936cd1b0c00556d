//! SQL over the observation log with DataFusion.
//!
//! Tables registered in every session:
//!
//! * `obslog`: one row per archived file (see [`crate::schema`]) plus the partition columns
//!   `year` (int) and `night` (`YYYY-MM-DD`). Files are listed afresh for every query, so rows
//!   appended a moment ago are visible.
//! * `exposures`: a view with one row per `exp_id`: night, start time, object, project,
//!   observer, exposure time, frame count, `fps` (DATA-FPS) and `nfits` (distinct chip files
//!   archived for the exposure), pointing, total bytes.

use crate::obslog::{ObsLog, StoreError};
use crate::schema::file_schema;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// SQL of the `exposures` view.
pub const EXPOSURES_VIEW: &str = "CREATE VIEW exposures AS \
SELECT exp_id, min(year) AS year, min(night) AS night, min(utc_start) AS utc_start, \
min(object) AS object, min(project) AS project, min(observer) AS observer, min(data_typ) AS data_typ, \
min(pipeline) AS pipeline, max(exptime) AS exptime, max(telapse) AS telapse, max(n_frames) AS n_frames, \
max(data_fps) AS fps, count(DISTINCT coalesce(frame_id, file_name)) AS nfits, \
min(ra_tel) AS ra_tel, min(dec_tel) AS dec_tel, sum(size) AS bytes, \
min(archived_at) AS first_archived, max(archived_at) AS last_archived \
FROM obslog WHERE exp_id IS NOT NULL GROUP BY exp_id";

/// A query session over one observation log.
pub struct ObsLogQuery {
    ctx: SessionContext,
}

impl std::fmt::Debug for ObsLogQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObsLogQuery")
    }
}

fn qerr(e: impl std::fmt::Display) -> StoreError {
    StoreError::Query(e.to_string())
}

impl ObsLogQuery {
    /// Opens a session with `obslog` and `exposures` registered.
    pub async fn new(log: &ObsLog) -> Result<Self, StoreError> {
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        // No file-listing cache: rows appended a moment ago must be visible.
        let cache = CacheManagerConfig::default().with_list_files_cache_limit(0);
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(cache)
            .build_arc()
            .map_err(qerr)?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let root = log.root().canonicalize().map_err(|source| StoreError::Io {
            path: log.root().to_path_buf(),
            source,
        })?;
        let url = ListingTableUrl::parse(format!("{}/", root.display())).map_err(qerr)?;
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![
                ("year".into(), DataType::Int32),
                ("night".into(), DataType::Utf8),
            ]);
        let cfg = ListingTableConfig::new(url)
            .with_listing_options(opts)
            .with_schema(file_schema());
        let table = ListingTable::try_new(cfg).map_err(qerr)?;
        ctx.register_table("obslog", Arc::new(table))
            .map_err(qerr)?;
        ctx.sql(EXPOSURES_VIEW).await.map_err(qerr)?;
        Ok(Self { ctx })
    }

    /// The underlying DataFusion session (for callers that build plans themselves).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one SQL statement and collects the result. A query that races a seal (a file
    /// listed, then swapped away) is retried once.
    pub async fn sql(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), StoreError> {
        match self.sql_once(sql).await {
            Err(StoreError::Query(m)) if m.contains("No such file") || m.contains("not found") => {
                self.sql_once(sql).await
            }
            r => r,
        }
    }

    async fn sql_once(&self, sql: &str) -> Result<(SchemaRef, Vec<RecordBatch>), StoreError> {
        let df = self.ctx.sql(sql).await.map_err(qerr)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(qerr)?;
        Ok((schema, batches))
    }
}
