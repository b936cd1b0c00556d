//! Light-curve pages: search, field, object, moving objects.
//!
//! * `/lc`: search by position (cone), by object id or Gaia `source_id`; the fields (exposure,
//!   chip) of the database; links to the moving-object list.
//! * `/lc/find?id=…` or `?ra=…&dec=…[&radius=…]`: redirects to the object page (by id, or the
//!   nearest object).
//! * `/lc/field/{exp_id}/{det_id}`: the chip's image preview with every static source marked —
//!   blue circles for Gaia-matched sources, green crosses for sources not in Gaia — movers as
//!   orange tracks and single events as magenta diamonds; hovering shows the source, clicking
//!   opens its object. The marks are drawn by `lc.js` in an SVG laid over the preview in chip
//!   pixel coordinates (FITS rows flipped, as the preview is).
//! * `/lc/object/{id}`: the object's Gaia data and statistics, an interactive light curve
//!   (Plotly: zoom, error bars, calibrated/instrumental, MJD/UTC, per night), its measurements
//!   and downloads.
//! * `/lc/movers`: moving tracks, one row per track.
//!
//! Data reach the scripts as JSON embedded in the page (field) or from the `/api/lc/…`
//! endpoints (object, search, movers); the blocklist applies as everywhere (see `lc.rs`).

use crate::lc::{blocking, field_key, num, query_map};
use crate::pages::{esc, html_error, layout_with};
use crate::{exposure_files, ApiError, Shared};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use tomoe_store::arrow::array::{Array, AsArray};
use tomoe_store::arrow::record_batch::RecordBatch;
use tomoe_store::format::{write_batches, OutputFormat};

/// Batches as a JSON array of row objects, safe inside a `<script>` element.
fn json_rows(batches: &[RecordBatch]) -> Result<String, ApiError> {
    let Some(first) = batches.first() else {
        return Ok("[]".into());
    };
    let mut buf = Vec::new();
    write_batches(&mut buf, &first.schema(), batches, OutputFormat::Json)
        .map_err(ApiError::internal)?;
    let s = String::from_utf8(buf).map_err(ApiError::internal)?;
    Ok(script_safe(s.trim()))
}

/// Makes JSON text safe to embed in `<script type="application/json">`.
fn script_safe(s: &str) -> String {
    s.replace("</", "<\\/").replace("<!--", "<\\!--")
}

fn str_value(b: &RecordBatch, col: &str) -> String {
    b.column_by_name(col)
        .and_then(|c| {
            c.as_string_opt::<i32>()
                .filter(|a| a.is_valid(0))
                .map(|a| a.value(0).to_string())
        })
        .unwrap_or_default()
}

fn i64_value(b: &RecordBatch, col: &str) -> Option<i64> {
    let c = b.column_by_name(col)?;
    if !c.is_valid(0) {
        return None;
    }
    match c.data_type() {
        tomoe_store::arrow::datatypes::DataType::Int32 => Some(i64::from(
            c.as_primitive::<tomoe_store::arrow::datatypes::Int32Type>()
                .value(0),
        )),
        tomoe_store::arrow::datatypes::DataType::Int64 => Some(
            c.as_primitive::<tomoe_store::arrow::datatypes::Int64Type>()
                .value(0),
        ),
        _ => None,
    }
}

fn f64_value(b: &RecordBatch, col: &str) -> Option<f64> {
    let c = b.column_by_name(col)?;
    if !c.is_valid(0) {
        return None;
    }
    match c.data_type() {
        tomoe_store::arrow::datatypes::DataType::Float32 => Some(f64::from(
            c.as_primitive::<tomoe_store::arrow::datatypes::Float32Type>()
                .value(0),
        )),
        tomoe_store::arrow::datatypes::DataType::Float64 => Some(
            c.as_primitive::<tomoe_store::arrow::datatypes::Float64Type>()
                .value(0),
        ),
        _ => None,
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

/// `GET /lc`.
pub(crate) async fn search_page() -> Response {
    let body = r#"<h1>Light curves</h1>
<div class="searches">
<form id="cone-form" class="search">
<h2>Objects around a position</h2>
<label>RA [deg] <input name="ra" id="cone-ra" required inputmode="decimal"></label>
<label>Dec [deg] <input name="dec" id="cone-dec" required inputmode="decimal"></label>
<label>Radius [arcsec] <input name="radius" id="cone-radius" value="60" inputmode="decimal"></label>
<label>Only <select name="gaia" id="cone-gaia"><option value="">all</option><option value="true">Gaia</option><option value="false">not in Gaia</option></select></label>
<button type="submit">Search</button>
</form>
<form class="search" action="/lc/find" method="get">
<h2>An object</h2>
<label>Object id or Gaia DR3 source_id <input name="id" required inputmode="numeric"></label>
<button type="submit">Open</button>
</form>
<form class="search" action="/lc/find" method="get">
<h2>Nearest object to a position</h2>
<label>RA [deg] <input name="ra" required inputmode="decimal"></label>
<label>Dec [deg] <input name="dec" required inputmode="decimal"></label>
<label>within [arcsec] <input name="radius_arcsec" value="2" inputmode="decimal"></label>
<button type="submit">Open</button>
</form>
</div>
<p class="error" id="cone-error" hidden></p>
<table id="cone-results" class="display compact" style="width:100%" hidden>
<thead><tr><th>Object</th><th>Gaia source_id</th><th>RA</th><th>Dec</th><th>G</th><th>BP−RP</th><th>Mean mag</th><th>σ mag</th><th>χ²/ν</th><th>Points</th></tr></thead><tbody></tbody></table>
<h2>Fields</h2>
<p class="hint">One row per exposure and chip; the field page marks every source on the image. <a href="/lc/movers">Moving objects</a> · IVOA cone search: <code>/scs?RA=&amp;DEC=&amp;SR=</code> (<a href="/scs/capabilities">capabilities</a>)</p>
<table id="fields" class="display compact" style="width:100%">
<thead><tr><th>Exposure</th><th>Chip</th><th>Time (UTC)</th><th>Night</th><th>Static</th><th>Gaia</th><th>Movers</th><th>Singles</th><th>Zero point</th><th>Colour term</th></tr></thead><tbody></tbody></table>
"#;
    layout_with(
        "Light curves",
        body,
        r#"<script src="/assets/lc.js"></script>"#,
    )
    .into_response()
}

/// `GET /lc/find?id=…` or `?ra=&dec=[&radius_arcsec=]`.
pub(crate) async fn find(State(s): State<Shared>, uri: axum::http::Uri) -> Response {
    let m = query_map(&uri);
    if let Some(id) = m.get("ID").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        return match id.parse::<i64>() {
            Ok(id) => Redirect::to(&format!("/lc/object/{id}")).into_response(),
            Err(_) => html_error(ApiError::bad(format!(
                "{id:?} is not an object id or Gaia source_id (an integer)"
            ))),
        };
    }
    let num = |k: &str| num(&m, k).map_err(ApiError::bad);
    let parsed = (|| {
        let ra = num("RA")?.ok_or_else(|| ApiError::bad("give an id, or ra and dec"))?;
        let dec = num("DEC")?.ok_or_else(|| ApiError::bad("dec is required with ra"))?;
        let r = num("RADIUS_ARCSEC")?.unwrap_or(2.0);
        Ok::<_, ApiError>((ra, dec, r))
    })();
    let (ra, dec, r) = match parsed {
        Ok(v) => v,
        Err(e) => return html_error(e),
    };
    match blocking(&s, move |q| q.nearest_object(ra, dec, r / 3600.0)).await {
        Ok(Some(id)) => Redirect::to(&format!("/lc/object/{id}")).into_response(),
        Ok(None) => html_error(ApiError::not_found(format!(
            "no object within {r}″ of RA {ra}, Dec {dec}"
        ))),
        Err(e) => html_error(e),
    }
}

/// `GET /lc/field/{exp_id}/{det_id}`.
pub(crate) async fn field_page(
    State(s): State<Shared>,
    Path((exp, det)): Path<(String, String)>,
) -> Response {
    let (exp_id, det_id) = match field_key(&exp, &det) {
        Ok(v) => v,
        Err(e) => return html_error(e),
    };
    let view = match blocking(&s, move |q| q.field(exp_id, det_id)).await {
        Ok(v) => v,
        Err(e) => return html_error(e),
    };
    let cal = &view.calibration;
    let file_name = str_value(cal, "file_name");
    // The archived file the measurements came from: its preview is the image.
    let preview = match exposure_files(&s, exp_id).await {
        Ok((_, files)) => files
            .iter()
            .find(|f| f.file_name == file_name)
            .map(|f| format!("/previews/{}", f.path)),
        Err(_) => None,
    };
    let (width, height) = (
        i64_value(cal, "width").unwrap_or(0),
        i64_value(cal, "height").unwrap_or(0),
    );
    let data = (|| {
        Ok::<_, ApiError>(format!(
            r#"{{"exp_id":{exp_id},"det_id":{det_id},"width":{width},"height":{height},"preview":{preview},"preview_max":{pmax},"sources":{src},"movers":{mov},"singles":{sng}}}"#,
            preview = serde_json::to_string(&preview).map_err(ApiError::internal)?,
            pmax = tomoe_fits::preview::PreviewSizes::default().preview,
            src = json_rows(&view.sources)?,
            mov = json_rows(&view.movers)?,
            sng = json_rows(&view.singles)?,
        ))
    })();
    let data = match data {
        Ok(d) => script_safe(&d),
        Err(e) => return html_error(e),
    };
    let n = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum::<usize>();
    let body = format!(
        r##"<h1>Field: exposure {exp_id}, chip {det_id}</h1>
<p><a href="/lc">← light curves</a> · <a href="/exposure/{exp_id}">exposure in the archive</a> · sources as <a href="/api/lc/fields/{exp_id}/{det_id}?format=csv">CSV</a>, <a href="/api/lc/fields/{exp_id}/{det_id}?format=json">JSON</a>, <a href="/api/lc/fields/{exp_id}/{det_id}?format=votable">VOTable</a>, <a href="/api/lc/fields/{exp_id}/{det_id}?format=parquet">Parquet</a></p>
<dl class="facts">
<dt>Frame ID</dt><dd>{frame}</dd><dt>File</dt><dd>{file}</dd><dt>Time (UTC)</dt><dd>{time}</dd><dt>Night</dt><dd>{night}</dd>
<dt>Zero point</dt><dd>{zp} ± {zpe} (colour term {ct}, scatter {sc}, {nst} stars)</dd>
<dt>Sources</dt><dd>{ns} static ({ng} in Gaia), {nm} moving-track points, {n1} single events</dd>
</dl>
<p class="legend"><svg width="14" height="14"><circle cx="7" cy="7" r="5" fill="none" stroke="#1f6fff" stroke-width="2"/></svg> in Gaia
<svg width="14" height="14"><path d="M2 7H12M7 2V12" stroke="#1a9e3a" stroke-width="2"/></svg> not in Gaia
<svg width="14" height="14"><rect x="3" y="3" width="8" height="8" fill="none" stroke="#ff8c00" stroke-width="2"/></svg> moving
<svg width="14" height="14"><path d="M7 1L13 7L7 13L1 7Z" fill="none" stroke="#d0209a" stroke-width="2"/></svg> single event
· hover for details, click a source for its light curve</p>
<div id="field" class="field"><img id="field-image" alt="preview of the chip image" hidden><svg id="overlay" xmlns="http://www.w3.org/2000/svg"></svg><div id="tip" class="tip" hidden></div></div>
<p class="hint" id="field-note"></p>
<script type="application/json" id="field-data">{data}</script>"##,
        frame = esc(&str_value(cal, "frame_id")),
        file = esc(&file_name),
        time = esc(&cal
            .column_by_name("time")
            .and_then(|c| {
                tomoe_store::arrow::util::display::ArrayFormatter::try_new(
                    c.as_ref(),
                    &Default::default(),
                )
                .ok()
                .map(|f| f.value(0).to_string())
            })
            .unwrap_or_default()),
        night = esc(&str_value(cal, "night")),
        zp = fmt(f64_value(cal, "zp"), 3),
        zpe = fmt(f64_value(cal, "zp_err"), 3),
        ct = fmt(f64_value(cal, "colour_term"), 3),
        sc = fmt(f64_value(cal, "scatter"), 3),
        nst = i64_value(cal, "n_stars").unwrap_or(0),
        ns = n(&view.sources),
        ng = i64_value(cal, "n_gaia").unwrap_or(0),
        nm = n(&view.movers),
        n1 = n(&view.singles),
    );
    layout_with(
        &format!("Field {exp_id}/{det_id}"),
        &body,
        r#"<script src="/assets/lc.js"></script>"#,
    )
    .into_response()
}

/// `GET /lc/object/{id}`.
pub(crate) async fn object_page(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let id: i64 = match id.parse() {
        Ok(v) => v,
        Err(_) => return html_error(ApiError::bad(format!("object id {id:?} is not an integer"))),
    };
    let row = match blocking(&s, move |q| q.object(id)).await {
        Ok(r) => r,
        Err(e) => return html_error(e),
    };
    let gaia = i64_value(&row, "source_id");
    let f = |c: &str, d: usize| fmt(f64_value(&row, c), d);
    let gaia_rows = match gaia {
        Some(sid) => format!(
            "<dt>Gaia DR3 source_id</dt><dd>{sid}</dd><dt>G</dt><dd>{g}</dd><dt>BP − RP</dt><dd>{bprp}</dd>\
<dt>Parallax</dt><dd>{plx} mas</dd><dt>Proper motion</dt><dd>{pmra}, {pmdec} mas/yr</dd>",
            g = f("phot_g_mean_mag", 3),
            bprp = f("bp_rp", 3),
            plx = f("parallax", 3),
            pmra = f("pmra", 3),
            pmdec = f("pmdec", 3),
        ),
        None => "<dt>Gaia</dt><dd>not in Gaia DR3 (within the match radius)</dd>".into(),
    };
    let dl =
        |fmt: &str| format!("<a href=\"/api/lc/objects/{id}?format={fmt}\" download>{fmt}</a>");
    let body = format!(
        r#"<h1>Object {id}</h1>
<p><a href="/lc">← light curves</a> · downloads: {csv}, {json}, {votable}, {parquet} · object row: <a href="/api/lc/cone?ra={ra}&amp;dec={dec}&amp;radius=0.0003">JSON</a></p>
<dl class="facts">
<dt>Position</dt><dd>RA {ra_s}°, Dec {dec_s}°</dd>
{gaia_rows}
<dt>Measurements</dt><dd>{n_det} ({n_mag} calibrated) between MJD {first} and {last}</dd>
<dt>Weighted mean</dt><dd>{wmean} mag, scatter {std} mag, χ²/ν {chi2}</dd>
</dl>
<div class="controls">
<label>Magnitude <select id="lc-mag"><option value="cal">calibrated</option><option value="inst">instrumental</option></select></label>
<label>Time <select id="lc-time"><option value="mjd">MJD</option><option value="utc">UTC</option></select></label>
<label>Night <select id="lc-night"><option value="">all nights</option></select></label>
</div>
<div id="lc-plot" class="plot" data-object="{id}"></div>
<p class="hint">Drag to zoom, double-click to reset; error bars are 1σ.</p>
<h2>Measurements</h2>
<table id="lc-table" class="display compact" style="width:100%">
<thead><tr><th>MJD</th><th>UTC</th><th>Exposure</th><th>Chip</th><th>Frame</th><th>mag</th><th>σ</th><th>inst. mag</th><th>σ</th><th>x</th><th>y</th><th>flags</th></tr></thead><tbody></tbody></table>"#,
        csv = dl("csv"),
        json = dl("json"),
        votable = dl("votable"),
        parquet = dl("parquet"),
        ra = f64_value(&row, "ra").unwrap_or(0.0),
        dec = f64_value(&row, "dec").unwrap_or(0.0),
        ra_s = f("ra", 6),
        dec_s = f("dec", 6),
        n_det = i64_value(&row, "n_det").unwrap_or(0),
        n_mag = i64_value(&row, "n_mag").unwrap_or(0),
        first = f("first_mjd", 6),
        last = f("last_mjd", 6),
        wmean = f("wmean_mag", 3),
        std = f("std_mag", 3),
        chi2 = f("chi2_red", 2),
    );
    layout_with(
        &format!("Object {id}"),
        &body,
        r#"<script src="/assets/plotly-basic.min.js"></script><script src="/assets/lc.js"></script>"#,
    )
    .into_response()
}

/// `GET /lc/movers`.
pub(crate) async fn movers_page() -> Response {
    let body = r#"<h1>Moving objects</h1>
<p><a href="/lc">← light curves</a> · points as <a href="/api/lc/movers?format=csv">CSV</a>, <a href="/api/lc/movers?format=votable">VOTable</a></p>
<form id="movers-form" class="search"><label>From MJD <input id="mv-from" inputmode="decimal"></label> <label>to MJD <input id="mv-to" inputmode="decimal"></label> <button type="submit">Show</button></form>
<p class="error" id="movers-error" hidden></p>
<table id="movers" class="display compact" style="width:100%">
<thead><tr><th>Exposure</th><th>Chip</th><th>Track</th><th>Start (UTC)</th><th>Points</th><th>RA</th><th>Dec</th><th>Rate [″/s]</th><th>Direction [°]</th><th>Median mag</th></tr></thead><tbody></tbody></table>"#;
    layout_with(
        "Moving objects",
        body,
        r#"<script src="/assets/lc.js"></script>"#,
    )
    .into_response()
}
