//! Light-curve endpoints: the IVOA Simple Cone Search over objects, its capabilities, and the
//! JSON/CSV/Parquet/VOTable API (objects in a cone, one object's light curve).
//!
//! SCS (IVOA Simple Cone Search 1.03): `GET /scs?RA=&DEC=&SR=[&VERB=1|2|3]`, degrees; the answer
//! is a VOTable whose `object_id`, `ra` and `dec` carry the UCDs the standard requires (`ID_MAIN`,
//! `POS_EQ_RA_MAIN`, `POS_EQ_DEC_MAIN`; the other columns UCD1+); a bad request is an error
//! VOTable (`INFO name="Error"` below `VOTABLE`, plus `QUERY_STATUS = ERROR`), with HTTP 200 as
//! the standard asks. SR = 0 returns
//! the empty table (metadata). The database's `current` version is opened per request, so a
//! request sees one consistent version while the ingest publishes the next.

use crate::{ApiError, ApiResult, Shared};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use tomoe_store::format::{write_batches, OutputFormat};
use tomoe_store::hats::project_names;
use tomoe_store::lcquery::{LcRead, ObjectFilter, QueryError};

const VOTABLE: &str = "application/x-votable+xml";
/// Largest SCS radius [deg].
pub const MAX_SR: f64 = 10.0;

/// Query parameters by upper-cased name (IVOA parameter names are case-insensitive).
pub(crate) fn query_map(uri: &axum::http::Uri) -> HashMap<String, String> {
    crate::params::pairs(uri.query().unwrap_or(""))
        .into_iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v))
        .collect()
}

/// What a request needs to open the database in a blocking task: the root and the (exp_id,
/// det_id) pairs the blocklist hides.
/// The opened version is kept (`AppState::lc`) and reused while `current` points at it.
#[derive(Clone)]
pub(crate) struct Opener {
    state: Shared,
    hidden: std::sync::Arc<std::collections::HashSet<(i64, i32)>>,
}

impl Opener {
    pub(crate) fn new(s: &Shared) -> Self {
        Self {
            state: s.clone(),
            hidden: s.hidden_chips(),
        }
    }

    /// Blocking (resolves `current`, opens a new version's catalogs).
    pub(crate) fn open(&self) -> Result<LcRead, QueryError> {
        let (r, opened) = self.state.lightcurves()?;
        if opened {
            // Cache the new version's footers in the background.
            let w = r.clone();
            std::thread::spawn(move || {
                if let Err(e) = w.warm() {
                    tracing::warn!(error = %e, "light-curve footers not cached");
                }
            });
        }
        Ok(r.with_hidden(self.hidden.clone()))
    }
}

/// Runs a query in a blocking task; errors become 4xx/5xx answers.
pub(crate) async fn blocking<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(LcRead) -> Result<T, QueryError> + Send + 'static,
) -> ApiResult<T> {
    let o = Opener::new(s);
    tokio::task::spawn_blocking(move || f(o.open()?))
        .await
        .map_err(ApiError::internal)?
        .map_err(api_err)
}

fn votable_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, VOTABLE)], body).into_response()
}

pub(crate) fn num(m: &HashMap<String, String>, k: &str) -> Result<Option<f64>, String> {
    match m.get(k) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| format!("{k}={v:?} is not a number")),
    }
}

const VERB1: &[&str] = &["object_id", "ra", "dec"];
const VERB2: &[&str] = &[
    "object_id",
    "ra",
    "dec",
    "source_id",
    "phot_g_mean_mag",
    "bp_rp",
    "wmean_mag",
    "std_mag",
    "chi2_red",
    "n_det",
    "first_mjd",
    "last_mjd",
];

/// `GET /scs`.
pub async fn scs(State(s): State<Shared>, uri: axum::http::Uri) -> Response {
    let m = query_map(&uri);
    let parsed = (|| {
        let ra = num(&m, "RA")?.ok_or("RA is required (degrees)")?;
        let dec = num(&m, "DEC")?.ok_or("DEC is required (degrees)")?;
        let sr = num(&m, "SR")?.ok_or("SR is required (degrees)")?;
        if !(-90.0..=90.0).contains(&dec) {
            return Err(format!("DEC={dec} is outside [-90, 90]"));
        }
        if sr < 0.0 {
            return Err(format!("SR={sr} must not be negative"));
        }
        if sr > MAX_SR {
            return Err(format!(
                "SR={sr} is larger than the maximum {MAX_SR} degrees"
            ));
        }
        let verb = match m.get("VERB").map(|v| v.trim()) {
            None | Some("") | Some("2") => 2,
            Some("1") => 1,
            Some("3") => 3,
            Some(v) => return Err(format!("VERB={v:?} must be 1, 2 or 3")),
        };
        Ok::<_, String>((ra, dec, sr, verb))
    })();
    let (ra, dec, sr, verb) = match parsed {
        Ok(p) => p,
        Err(e) => return votable_response(tomoe_store::votable::scs_error(&e)),
    };
    let o = Opener::new(&s);
    let r = tokio::task::spawn_blocking(move || -> Result<String, QueryError> {
        let q = o.open()?;
        // SR = 0: the metadata query — the fields of the table and no rows.
        let batches = if sr == 0.0 {
            Vec::new()
        } else {
            q.cone(ra, dec, sr, &ObjectFilter::default())?
        };
        let cols: Option<&[&str]> = match verb {
            1 => Some(VERB1),
            2 => Some(VERB2),
            _ => None,
        };
        // The schema projected the same way as the rows (through an empty batch), so that the
        // metadata query (SR = 0) describes the same fields.
        let empty = tomoe_store::arrow::record_batch::RecordBatch::new_empty(q.objects_schema()?);
        let project = |b: &tomoe_store::arrow::record_batch::RecordBatch| match cols {
            Some(c) => project_names(b, c).map_err(|e| QueryError::Hats(e.into())),
            None => Ok(b.clone()),
        };
        let schema = project(&empty)?.schema();
        let batches: Vec<_> = batches.iter().map(project).collect::<Result<_, _>>()?;
        Ok(tomoe_store::votable::write_with(
            &schema,
            &batches,
            &format!("Tomo-e Gozen light-curve objects within {sr} deg of ({ra}, {dec})"),
            &tomoe_store::votable::scs_ucd_of,
        ))
    })
    .await;
    match r {
        Ok(Ok(body)) => votable_response(body),
        Ok(Err(QueryError::BadParameter(e))) => {
            votable_response(tomoe_store::votable::scs_error(&e))
        }
        Ok(Err(e)) => votable_response(tomoe_store::votable::scs_error(&e.to_string())),
        Err(e) => votable_response(tomoe_store::votable::scs_error(&format!(
            "internal error: {e}"
        ))),
    }
}

/// `GET /scs/capabilities` (VOSI).
pub async fn capabilities(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xmlns:cs="http://www.ivoa.net/xml/ConeSearch/v1.0">
  <capability standardID="ivo://ivoa.net/std/ConeSearch" xsi:type="cs:ConeSearch">
    <interface xsi:type="vs:ParamHTTP" role="std">
      <accessURL use="base">http://{host}/scs?</accessURL>
    </interface>
    <maxSR>{MAX_SR}</maxSR>
    <maxRecords>10000000</maxRecords>
    <verbosity>true</verbosity>
  </capability>
</vosi:capabilities>
"#
    );
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

pub(crate) fn api_err(e: QueryError) -> ApiError {
    match e {
        QueryError::BadParameter(m) => ApiError::bad(m),
        QueryError::UnknownObject(_) | QueryError::UnknownField(..) => {
            ApiError::not_found(e.to_string())
        }
        QueryError::Empty(_) => ApiError::not_found(e.to_string()),
        QueryError::Hats(e) => ApiError::internal(e),
    }
}

fn formatted(
    schema: tomoe_store::arrow::datatypes::SchemaRef,
    batches: &[tomoe_store::arrow::record_batch::RecordBatch],
    format: &str,
    description: &str,
) -> ApiResult<Response> {
    if format.eq_ignore_ascii_case("votable") {
        return Ok(votable_response(tomoe_store::votable::write(
            &schema,
            batches,
            description,
        )));
    }
    let f: OutputFormat = format.parse().map_err(ApiError::bad)?;
    let ct = match f {
        OutputFormat::Csv => "text/csv; charset=utf-8",
        OutputFormat::Json => "application/json",
        OutputFormat::Ndjson => "application/x-ndjson",
        OutputFormat::Parquet => "application/vnd.apache.parquet",
        OutputFormat::Table => "text/plain; charset=utf-8",
    };
    let mut buf = Vec::new();
    write_batches(&mut buf, &schema, batches, f).map_err(ApiError::internal)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], buf).into_response())
}

/// `GET /api/lc/cone?ra=&dec=&radius=[&mag_min&mag_max&gaia&chi2_min&format]`.
pub async fn api_cone(State(s): State<Shared>, uri: axum::http::Uri) -> ApiResult<Response> {
    let m = query_map(&uri);
    let need = |k: &str| -> ApiResult<f64> {
        num(&m, k).map_err(ApiError::bad)?.ok_or_else(|| {
            ApiError::bad(format!("{} is required (degrees)", k.to_ascii_lowercase()))
        })
    };
    let (ra, dec, radius) = (need("RA")?, need("DEC")?, need("RADIUS")?);
    let filter = ObjectFilter {
        mag_min: num(&m, "MAG_MIN").map_err(ApiError::bad)?,
        mag_max: num(&m, "MAG_MAX").map_err(ApiError::bad)?,
        gaia: match m.get("GAIA").map(|v| v.to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "true" || v == "1" => Some(true),
            Some(v) if v == "false" || v == "0" => Some(false),
            Some(v) => return Err(ApiError::bad(format!("gaia={v:?} must be true or false"))),
        },
        chi2_min: num(&m, "CHI2_MIN").map_err(ApiError::bad)?,
        min_points: None,
    };
    let format = m.get("FORMAT").cloned().unwrap_or_else(|| "json".into());
    let (schema, batches) = blocking(&s, move |q| {
        let b = q.cone(ra, dec, radius, &filter)?;
        Ok((q.objects_schema()?, b))
    })
    .await?;
    formatted(
        schema,
        &batches,
        &format,
        &format!("objects within {radius} deg of ({ra}, {dec})"),
    )
}

/// `GET /api/lc/objects/{id}?[from&to&columns&format]`: the light curve.
pub async fn api_curve(
    State(s): State<Shared>,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad(format!("object id {id:?} is not an integer")))?;
    let m = query_map(&uri);
    let from = num(&m, "FROM").map_err(ApiError::bad)?;
    let to = num(&m, "TO").map_err(ApiError::bad)?;
    let columns: Option<Vec<String>> = m.get("COLUMNS").map(|c| {
        c.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    });
    let format = m.get("FORMAT").cloned().unwrap_or_else(|| "json".into());
    let (schema, batches) = blocking(&s, move |q| {
        let refs: Option<Vec<&str>> = columns
            .as_ref()
            .map(|c| c.iter().map(String::as_str).collect());
        let b = q.light_curve(id, from, to, refs.as_deref())?;
        let schema = match b.first() {
            Some(b) => b.schema(),
            None => q.detections_schema()?,
        };
        Ok((schema, b))
    })
    .await?;
    formatted(
        schema,
        &batches,
        &format,
        &format!("light curve of object {id}"),
    )
}

/// The schema of the rows, or of the published table when there are none (so that an empty
/// answer still names its columns).
fn schema_or(
    batches: &[tomoe_store::arrow::record_batch::RecordBatch],
    q: &LcRead,
    table: &str,
) -> Result<tomoe_store::arrow::datatypes::SchemaRef, QueryError> {
    match batches.first() {
        Some(b) => Ok(b.schema()),
        None => q.table_schema(table),
    }
}

/// `(exp_id, det_id)` from path segments.
pub(crate) fn field_key(exp: &str, det: &str) -> ApiResult<(i64, i32)> {
    let e = exp
        .parse()
        .map_err(|_| ApiError::bad(format!("exposure {exp:?} is not an integer")))?;
    let d = det
        .parse()
        .map_err(|_| ApiError::bad(format!("chip {det:?} is not an integer")))?;
    Ok((e, d))
}

/// `GET /api/lc/fields/{exp_id}/{det_id}?[table=sources|movers|singles|calibration&format]`.
pub async fn api_field(
    State(s): State<Shared>,
    Path((exp, det)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let (exp_id, det_id) = field_key(&exp, &det)?;
    let m = query_map(&uri);
    let table = m.get("TABLE").cloned().unwrap_or_else(|| "sources".into());
    if !["sources", "movers", "singles", "calibration"].contains(&table.as_str()) {
        return Err(ApiError::bad(format!(
            "table={table:?} must be sources, movers, singles or calibration"
        )));
    }
    let format = m.get("FORMAT").cloned().unwrap_or_else(|| "json".into());
    let t = table.clone();
    let (schema, batches) = blocking(&s, move |q| {
        let f = q.field(exp_id, det_id)?;
        let (name, b) = match t.as_str() {
            "movers" => ("movers", f.movers),
            "singles" => ("singles", f.singles),
            "calibration" => ("calibration", vec![f.calibration]),
            _ => ("fields", f.sources),
        };
        Ok((schema_or(&b, &q, name)?, b))
    })
    .await?;
    formatted(
        schema,
        &batches,
        &format,
        &format!("{table} of exposure {exp_id} chip {det_id}"),
    )
}

/// `GET /api/lc/movers?[from&to&ra&dec&radius&format]`: points of moving tracks.
pub async fn api_movers(State(s): State<Shared>, uri: axum::http::Uri) -> ApiResult<Response> {
    let m = query_map(&uri);
    let n = |k: &str| num(&m, k).map_err(ApiError::bad);
    let (from, to) = (n("FROM")?, n("TO")?);
    let cone = match (n("RA")?, n("DEC")?, n("RADIUS")?) {
        (None, None, None) => None,
        (Some(r), Some(d), Some(rad)) => Some((r, d, rad)),
        _ => {
            return Err(ApiError::bad(
                "a region needs ra, dec and radius (degrees) together",
            ))
        }
    };
    let format = m.get("FORMAT").cloned().unwrap_or_else(|| "json".into());
    let (schema, batches) = blocking(&s, move |q| {
        let b = q.movers(from, to, cone)?;
        Ok((schema_or(&b, &q, "movers")?, b))
    })
    .await?;
    formatted(schema, &batches, &format, "points of moving tracks")
}

/// `GET /api/lc/calibration?[exp_id&format]`: zero points and colour terms.
pub async fn api_calibration(State(s): State<Shared>, uri: axum::http::Uri) -> ApiResult<Response> {
    let m = query_map(&uri);
    let exp_id = match m.get("EXP_ID").map(|v| v.trim()) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::bad(format!("exp_id={v:?} is not an integer")))?,
        ),
    };
    let format = m.get("FORMAT").cloned().unwrap_or_else(|| "json".into());
    let (schema, batches) = blocking(&s, move |q| {
        let b = q.calibration(exp_id)?;
        Ok((schema_or(&b, &q, "calibration")?, b))
    })
    .await?;
    formatted(
        schema,
        &batches,
        &format,
        "calibration per exposure and chip",
    )
}

/// `GET /api/lc/nearest?ra&dec[&radius]`: `{"object_id": …}` of the object nearest to a
/// position within `radius` degrees (default 2″), 404 if none.
pub async fn api_nearest(State(s): State<Shared>, uri: axum::http::Uri) -> ApiResult<Response> {
    let m = query_map(&uri);
    let need = |k: &str| -> ApiResult<f64> {
        num(&m, k).map_err(ApiError::bad)?.ok_or_else(|| {
            ApiError::bad(format!("{} is required (degrees)", k.to_ascii_lowercase()))
        })
    };
    let (ra, dec) = (need("RA")?, need("DEC")?);
    let radius = num(&m, "RADIUS")
        .map_err(ApiError::bad)?
        .unwrap_or(2.0 / 3600.0);
    let id = blocking(&s, move |q| q.nearest_object(ra, dec, radius)).await?;
    match id {
        Some(id) => Ok(axum::Json(serde_json::json!({ "object_id": id })).into_response()),
        None => Err(ApiError::not_found(format!(
            "no object within {radius} deg of ({ra}, {dec})"
        ))),
    }
}
