#!/usr/bin/env python3
"""Baseline of `tomoe bench lc-query`: the seed's light-curve searches in DuckDB.

The seed kept Tomo-e detections as flat Parquet files and joined them to a flat Gaia table at
read time. This script runs, on the layout `tomoe_lightcurve::synth` writes under SEED
(`detections/*.parquet`, `gaia.parquet`), the two searches the service answers:

* the light curve of one object, with its Gaia magnitude and colour joined in;
* the objects within a cone, with their Gaia data and mean magnitude (grouped from detections).

Usage: lc_query_duckdb.py SEED QUERIES.json  (QUERIES: {"ids": [...], "cones": [[ra, dec, r_deg], ...]})
Prints one JSON line: {"duckdb": version, "curve_ms": [...], "cone_ms": [...],
"curve_rows": [...], "cone_rows": [...]}; each query runs once after two untimed warm-up runs of
the first query of each kind.
"""
import json
import sys
import time

import duckdb

seed, qfile = sys.argv[1], sys.argv[2]
q = json.load(open(qfile))
con = duckdb.connect()
con.execute(f"CREATE VIEW det AS SELECT * FROM read_parquet('{seed}/detections/*.parquet')")
con.execute(f"CREATE VIEW gaia AS SELECT * FROM read_parquet('{seed}/gaia.parquet')")
CURVE = """SELECT d.*, g.phot_g_mean_mag, g.bp_rp
FROM det d LEFT JOIN gaia g ON d.source_id = g.source_id
WHERE d.object_id = $id ORDER BY d.mjd"""
CONE = """SELECT d.object_id, any_value(d.source_id) AS source_id, avg(d.ra) AS ra, avg(d.dec) AS dec,
  any_value(g.phot_g_mean_mag) AS phot_g_mean_mag, any_value(g.bp_rp) AS bp_rp,
  avg(d.mag) AS mean_mag, stddev(d.mag) AS std_mag, count(*) AS n_det
FROM det d LEFT JOIN gaia g ON d.source_id = g.source_id
WHERE d.dec BETWEEN $dec - $r AND $dec + $r
  AND d.ra BETWEEN $ra - $r / cos(radians($dec)) AND $ra + $r / cos(radians($dec))
  AND 2 * asin(sqrt(pow(sin(radians(d.dec - $dec) / 2), 2)
      + cos(radians(d.dec)) * cos(radians($dec)) * pow(sin(radians(d.ra - $ra) / 2), 2))) <= radians($r)
GROUP BY d.object_id"""


def run(sql, params):
    t0 = time.perf_counter()
    rows = con.execute(sql, params).fetchall()
    return (time.perf_counter() - t0) * 1e3, len(rows)


out = {"duckdb": duckdb.__version__, "curve_ms": [], "cone_ms": [], "curve_rows": [], "cone_rows": []}
for _ in range(2):
    run(CURVE, {"id": q["ids"][0]})
    ra, dec, r = q["cones"][0]
    run(CONE, {"ra": ra, "dec": dec, "r": r})
for i in q["ids"]:
    ms, n = run(CURVE, {"id": i})
    out["curve_ms"].append(ms)
    out["curve_rows"].append(n)
for ra, dec, r in q["cones"]:
    ms, n = run(CONE, {"ra": ra, "dec": dec, "r": r})
    out["cone_ms"].append(ms)
    out["cone_rows"].append(n)
print(json.dumps(out))
