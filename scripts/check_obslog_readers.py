#!/usr/bin/env python3
"""Reads an observation log with pyarrow and DuckDB, as a user would, and prints JSON.

Usage: python3 scripts/check_obslog_readers.py OBSLOG_DIR
Used by crates/store/tests/store.rs (readers) to check the files open as they are.
"""
import json
import sys

import duckdb
import pyarrow.dataset as ds

root = sys.argv[1]
t = ds.dataset(root, format="parquet", partitioning="hive", exclude_invalid_files=True).to_table()
pa = {
    "rows": t.num_rows,
    "size_sum": int(sum(t.column("size").to_pylist())),
    "nights": sorted({str(n) for n in t.column("night").to_pylist()}),
    "exp_ids": sorted({int(e) for e in t.column("exp_id").to_pylist()}),
}
con = duckdb.connect()
row = con.execute(
    f"SELECT count(*), sum(size), count(DISTINCT night), min(year) FROM read_parquet('{root}/*/*/*.parquet', hive_partitioning = true)"
).fetchone()
dd = {"rows": row[0], "size_sum": int(row[1]), "nights": row[2], "min_year": int(row[3])}
print(json.dumps({"pyarrow": pa, "duckdb": dd}))
