//! Query-string parsing for the exposure API and DataTables' server-side protocol.
//!
//! Parameters are parsed into an [`ExposureQuery`] of typed filters; anything unknown or out of
//! range is refused with a message naming the parameter.

use crate::ApiError;
use std::collections::BTreeMap;
use tomoe_store::exposures::{Column, ExposureQuery, Filter};

/// Largest `start` accepted (far beyond any archive).
const MAX_START: usize = 1_000_000_000;

/// The decoded `name=value` pairs of a query string, in order.
pub(crate) fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ApiError> {
    v.trim()
        .parse::<T>()
        .map_err(|_| ApiError::bad(format!("{name}={v:?} is not a non-negative integer")))
}

fn year(v: &str) -> Result<i32, ApiError> {
    v.parse::<i32>()
        .ok()
        .filter(|y| (1900..=9999).contains(y))
        .ok_or_else(|| ApiError::bad(format!("year={v:?} is not a year")))
}

fn length(v: &str, max: usize) -> Result<usize, ApiError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| ApiError::bad(format!("length={v:?} is not an integer")))?;
    if n < 1 || n as u64 > max as u64 {
        return Err(ApiError::bad(format!(
            "length={n} is outside 1–{max} (page through larger results with start)"
        )));
    }
    Ok(n as usize)
}

fn start(v: &str) -> Result<usize, ApiError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| ApiError::bad(format!("start={v:?} is not an integer")))?;
    if n < 0 || n as u64 > MAX_START as u64 {
        return Err(ApiError::bad(format!("start={n} is outside 0–{MAX_START}")));
    }
    Ok(n as usize)
}

fn column(name: &str) -> Result<Column, ApiError> {
    Column::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
        ApiError::bad(format!(
            "unknown column {name:?}; columns are {}",
            known.join(", ")
        ))
    })
}

fn filter(c: Column, text: &str) -> Result<Option<Filter>, ApiError> {
    Filter::parse(c, text).map_err(|e| ApiError::bad(e.0))
}

/// `/api/exposures?year=&q=&<column>=<search>&order=-utc_start,exp_id&start=&length=&format=`.
pub(crate) fn api(query: &str, max_len: usize) -> Result<(String, ExposureQuery), ApiError> {
    let mut q = ExposureQuery {
        length: 50.min(max_len),
        ..Default::default()
    };
    let mut format = "json".to_string();
    for (k, v) in pairs(query) {
        match k.as_str() {
            "year" => q.year = Some(year(&v)?),
            "q" => {
                if v.len() > 200 {
                    return Err(ApiError::bad("q is longer than 200 characters"));
                }
                q.global = Some(v);
            }
            "start" => q.start = start(&v)?,
            "length" => q.length = length(&v, max_len)?,
            "format" => {
                if v != "json" && v != "csv" {
                    return Err(ApiError::bad(format!("format={v:?}: use json or csv")));
                }
                format = v;
            }
            "order" => {
                for part in v.split(',').filter(|p| !p.is_empty()) {
                    let (desc, name) = match part.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, part),
                    };
                    q.order.push((column(name)?, desc));
                }
            }
            other => match Column::parse(other) {
                Some(c) => {
                    if let Some(f) = filter(c, &v)? {
                        q.filters.push((c, f));
                    }
                }
                None => {
                    return Err(ApiError::bad(format!(
                        "unknown parameter {other:?}; use year, q, start, length, order, format or a column name"
                    )))
                }
            },
        }
    }
    Ok((format, q))
}

/// DataTables' server-side request (`draw`, `start`, `length`, `search[value]`,
/// `order[i][column|dir]`, `columns[i][data|search][value]`, plus our `year`). Returns the
/// draw counter to echo.
pub(crate) fn datatables(query: &str, max_len: usize) -> Result<(u64, ExposureQuery), ApiError> {
    let mut q = ExposureQuery {
        length: 10.min(max_len),
        ..Default::default()
    };
    let mut draw = 0u64;
    let mut cols: BTreeMap<usize, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut orders: BTreeMap<usize, (Option<usize>, bool)> = BTreeMap::new();
    let index = |s: &str, what: &str| -> Result<usize, ApiError> {
        s.parse::<usize>()
            .ok()
            .filter(|i| *i < 64)
            .ok_or_else(|| ApiError::bad(format!("{what} index {s:?} is not 0–63")))
    };
    for (k, v) in pairs(query) {
        match k.as_str() {
            "draw" => draw = number("draw", &v)?,
            "start" => q.start = start(&v)?,
            "length" => q.length = length(&v, max_len)?,
            "year" => q.year = Some(year(&v)?),
            "search[value]" => {
                if v.len() > 200 {
                    return Err(ApiError::bad("search is longer than 200 characters"));
                }
                q.global = Some(v);
            }
            "search[regex]" | "_" => {}
            _ => {
                if let Some(rest) = k.strip_prefix("columns[") {
                    let (i, field) = rest
                        .split_once(']')
                        .ok_or_else(|| ApiError::bad(format!("malformed parameter {k:?}")))?;
                    let i = index(i, "columns")?;
                    let e = cols.entry(i).or_default();
                    match field {
                        "[data]" => e.0 = Some(v),
                        "[search][value]" => e.1 = Some(v),
                        "[name]" | "[searchable]" | "[orderable]" | "[search][regex]"
                        | "[search][fixed]" => {}
                        _ => return Err(ApiError::bad(format!("unknown parameter {k:?}"))),
                    }
                } else if let Some(rest) = k.strip_prefix("order[") {
                    let (i, field) = rest
                        .split_once(']')
                        .ok_or_else(|| ApiError::bad(format!("malformed parameter {k:?}")))?;
                    let i = index(i, "order")?;
                    let e = orders.entry(i).or_insert((None, false));
                    match field {
                        "[column]" => e.0 = Some(index(&v, "order column")?),
                        "[dir]" => {
                            e.1 = match v.as_str() {
                                "asc" => false,
                                "desc" => true,
                                _ => {
                                    return Err(ApiError::bad(format!(
                                        "{k}={v:?}: use asc or desc"
                                    )))
                                }
                            }
                        }
                        "[name]" => {}
                        _ => return Err(ApiError::bad(format!("unknown parameter {k:?}"))),
                    }
                } else {
                    return Err(ApiError::bad(format!("unknown parameter {k:?}")));
                }
            }
        }
    }
    let mut names: BTreeMap<usize, Column> = BTreeMap::new();
    for (i, (data, search)) in &cols {
        let Some(d) = data else {
            return Err(ApiError::bad(format!("columns[{i}][data] is missing")));
        };
        let c = column(d)?;
        names.insert(*i, c);
        if let Some(t) = search {
            if let Some(f) = filter(c, t)? {
                q.filters.push((c, f));
            }
        }
    }
    for (_, (col, desc)) in orders {
        let Some(i) = col else { continue };
        let c = names
            .get(&i)
            .ok_or_else(|| ApiError::bad(format!("order refers to unknown column index {i}")))?;
        q.order.push((*c, desc));
    }
    Ok((draw, q))
}
