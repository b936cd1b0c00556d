#!/usr/bin/env python3
"""Baseline for `tomoe bench web`: DuckDB runs the archive page's searches on the observation
log's Parquet files (the same filter, order and page of 50 exposures as tomoe, with the filtered
count), each query REPEAT times on one warm connection.

Usage: duckdb_archive_search.py QUERIES.json REPEAT
QUERIES.json: a JSON list of SQL statements (written by `tomoe bench web`).
Prints JSON: {"duckdb": version, "ms": [latencies], "answers": [{"filtered": n, "ids": [...]}]}
"""
import json
import sys
import time

import duckdb

queries = json.load(open(sys.argv[1]))
repeat = int(sys.argv[2])
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
# Warm the file cache and DuckDB's metadata once, as a running service would be.
con.execute(queries[0]).fetchall()
ms = []
answers = []
for rep in range(repeat):
    for q in queries:
        t = time.perf_counter()
        rows = con.execute(q).fetchall()
        ms.append((time.perf_counter() - t) * 1e3)
        if rep == 0:
            answers.append({"filtered": rows[0][3] if rows else 0, "ids": [r[0] for r in rows]})
print(json.dumps({"duckdb": duckdb.__version__, "ms": ms, "answers": answers}))
