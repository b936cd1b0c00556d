//! The observation-log row and its Arrow schema.
//!
//! Columns (all nullable unless noted; times are UTC microseconds, angles degrees):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `frame_id` | utf8 | 22-character Frame ID (`TMQ…`) |
//! | `quadrant`, `chip`, `det_id` | int32 | from the Frame ID / `DET_ID` |
//! | `exp_id` | int64 | `EXP_ID` |
//! | `fmttype`, `data_typ`, `obs_mod`, `object`, `project`, `observer`, `pipeline`, `filter` | utf8 | header strings |
//! | `utc_start` | timestamp(µs, UTC) | start of integration (`UTC`) |
//! | `exptime`, `exptime1`, `telapse`, `tframe`, `trlstep1`, `data_fps` | float64 | seconds / Hz |
//! | `naxis1`, `naxis2`, `naxis3`, `n_frames` | int32 | image shape, frames in the exposure |
//! | `ra_tel`, `dec_tel` | float64 | telescope pointing; null when impossible |
//! | `pointing_valid` | bool (not null) | false for missing/impossible pointing |
//! | `wcs_ra`, `wcs_dec` | float64 | image centre from the WCS |
//! | `warnings` | utf8 | header problems, `; `-separated |
//! | `header` | utf8 (not null) | every primary-header card verbatim, one per line |
//! | `file_name`, `path` (relative to the archive root), `tier` | utf8 (not null) | where the file is |
//! | `size` | int64 (not null) | bytes |
//! | `sha256` | utf8 (not null) | hex digest |
//! | `source_url` | utf8 | where it was fetched from |
//! | `archived_at` | timestamp(µs, UTC) (not null) | when it entered the archive |
//!
//! `year` (int32) and `night` (utf8, `YYYY-MM-DD`) are Hive partition columns taken from the
//! directory names.

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::{Arc, OnceLock};
use tomoe_core::time::{CivilDate, UtcMicros};
use tomoe_fits::{Header, TomoeHeader};

/// One archived file.
#[derive(Debug, Clone, PartialEq)]
pub struct ObsRow {
    /// Parsed header.
    pub header: TomoeHeader,
    /// Verbatim header text.
    pub header_text: String,
    /// File name (unique key in the archive).
    pub file_name: String,
    /// Path relative to the archive root.
    pub path: String,
    /// Storage tier (`local`, …).
    pub tier: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// Origin URL.
    pub source_url: Option<String>,
    /// Time of archiving.
    pub archived_at: UtcMicros,
    /// Observing night this row belongs to.
    pub night: CivilDate,
}

impl ObsRow {
    /// Builds a row from a parsed header; the night comes from the start time, else from the
    /// Frame ID date, else from `archived_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        header: &Header,
        file_name: &str,
        path: &str,
        size: u64,
        sha256: &str,
        source_url: Option<String>,
        archived_at: UtcMicros,
    ) -> ObsRow {
        let t = TomoeHeader::from_header(header, Some(file_name));
        let night = t
            .observing_night()
            .or(t.frame_id.map(|f| f.date))
            .unwrap_or_else(|| archived_at.observing_night());
        ObsRow {
            header: t,
            header_text: header.to_text(),
            file_name: file_name.to_string(),
            path: path.to_string(),
            tier: "local".to_string(),
            size,
            sha256: sha256.to_string(),
            source_url,
            archived_at,
            night,
        }
    }
}

/// The Arrow schema of the log files (without the partition columns).
pub fn file_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let s = |n: &str| Field::new(n, DataType::Utf8, true);
        let i32f = |n: &str| Field::new(n, DataType::Int32, true);
        let f64f = |n: &str| Field::new(n, DataType::Float64, true);
        Arc::new(Schema::new(vec![
            s("frame_id"),
            i32f("quadrant"),
            i32f("chip"),
            i32f("det_id"),
            Field::new("exp_id", DataType::Int64, true),
            s("fmttype"),
            s("data_typ"),
            s("obs_mod"),
            s("object"),
            s("project"),
            s("observer"),
            s("pipeline"),
            s("filter"),
            Field::new("utc_start", ts.clone(), true),
            f64f("exptime"),
            f64f("exptime1"),
            f64f("telapse"),
            f64f("tframe"),
            f64f("trlstep1"),
            f64f("data_fps"),
            i32f("naxis1"),
            i32f("naxis2"),
            i32f("naxis3"),
            i32f("n_frames"),
            f64f("ra_tel"),
            f64f("dec_tel"),
            Field::new("pointing_valid", DataType::Boolean, false),
            f64f("wcs_ra"),
            f64f("wcs_dec"),
            s("warnings"),
            Field::new("header", DataType::Utf8, false),
            Field::new("file_name", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("tier", DataType::Utf8, false),
            Field::new("size", DataType::Int64, false),
            Field::new("sha256", DataType::Utf8, false),
            s("source_url"),
            Field::new("archived_at", ts, false),
        ]))
    })
    .clone()
}

/// Converts rows to one record batch of [`file_schema`].
pub fn rows_to_batch(rows: &[ObsRow]) -> Result<RecordBatch, arrow::error::ArrowError> {
    let n = rows.len();
    let mut strs: Vec<StringBuilder> = (0..8)
        .map(|_| StringBuilder::with_capacity(n, n * 16))
        .collect();
    let mut frame_id = StringBuilder::new();
    let (mut quad, mut chip, mut det) = (
        Int32Builder::new(),
        Int32Builder::new(),
        Int32Builder::new(),
    );
    let mut exp = Int64Builder::new();
    let mut utc = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut f64s: Vec<Float64Builder> = (0..6).map(|_| Float64Builder::new()).collect();
    let mut ax: Vec<Int32Builder> = (0..4).map(|_| Int32Builder::new()).collect();
    let (mut ra, mut dec, mut wra, mut wdec) = (
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    );
    let mut pv = BooleanBuilder::new();
    let (mut warn, mut hdr, mut fname, mut path, mut tier, mut sha, mut src) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut size = Int64Builder::new();
    let mut arch = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for r in rows {
        let t = &r.header;
        frame_id.append_option(t.frame_id.map(|f| f.to_string()));
        quad.append_option(t.frame_id.map(|f| i32::from(f.quadrant)));
        chip.append_option(t.frame_id.map(|f| i32::from(f.chip)));
        det.append_option(t.det_id.map(i32::from));
        exp.append_option(t.exp_id.map(|e| e as i64));
        for (b, v) in strs.iter_mut().zip([
            &t.fmttype,
            &t.data_typ,
            &t.obs_mod,
            &t.object,
            &t.project,
            &t.observer,
            &t.pipeline,
            &t.filter,
        ]) {
            b.append_option(v.as_deref());
        }
        utc.append_option(t.utc_start.map(|u| u.0));
        for (b, v) in f64s.iter_mut().zip([
            t.exptime, t.exptime1, t.telapse, t.tframe, t.trlstep1, t.data_fps,
        ]) {
            b.append_option(v);
        }
        for (i, b) in ax.iter_mut().enumerate().take(3) {
            b.append_option(t.naxes.get(i).map(|&v| v as i32));
        }
        ax[3].append_option(t.n_frames.map(|v| v as i32));
        ra.append_option(t.ra_tel);
        dec.append_option(t.dec_tel);
        pv.append_value(t.pointing_valid);
        wra.append_option(t.wcs_center.map(|c| c.0));
        wdec.append_option(t.wcs_center.map(|c| c.1));
        warn.append_option(if t.warnings.is_empty() {
            None
        } else {
            Some(t.warnings.join("; "))
        });
        hdr.append_value(&r.header_text);
        fname.append_value(&r.file_name);
        path.append_value(&r.path);
        tier.append_value(&r.tier);
        size.append_value(r.size as i64);
        sha.append_value(&r.sha256);
        src.append_option(r.source_url.as_deref());
        arch.append_value(r.archived_at.0);
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(frame_id.finish()),
        Arc::new(quad.finish()),
        Arc::new(chip.finish()),
        Arc::new(det.finish()),
        Arc::new(exp.finish()),
    ];
    cols.extend(strs.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(utc.finish()));
    cols.extend(f64s.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.extend(ax.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(ra.finish()));
    cols.push(Arc::new(dec.finish()));
    cols.push(Arc::new(pv.finish()));
    cols.push(Arc::new(wra.finish()));
    cols.push(Arc::new(wdec.finish()));
    for b in [&mut warn, &mut hdr, &mut fname, &mut path, &mut tier] {
        cols.push(Arc::new(b.finish()));
    }
    cols.push(Arc::new(size.finish()));
    cols.push(Arc::new(sha.finish()));
    cols.push(Arc::new(src.finish()));
    cols.push(Arc::new(arch.finish()));
    RecordBatch::try_new(file_schema(), cols)
}
