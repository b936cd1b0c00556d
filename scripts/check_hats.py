"""Opens a HATS catalog written by the platform the way a user would, with `hats` and LSDB,
and answers a cone search; prints JSON for the Rust test to compare with its own answer.

Usage: python3 scripts/check_hats.py CATALOG_DIR RA DEC RADIUS_DEG ID_COLUMN
Output: {"hats_rows": n, "partitions": k, "ra_column": "...", "lsdb_rows": n,
         "cone_ids": [...], "healpix_ok": true}
healpix_ok: every row's _healpix_29 lies in its partition's cell and equals the order-29 index
of its own position recomputed with hats' own healpix functions (only checked when the catalog
is positioned by its own RA/Dec, i.e. not the detections table keyed by object position).
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
import hats  # noqa: E402
import lsdb  # noqa: E402
import numpy as np  # noqa: E402

path, ra, dec, radius, id_col = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
own_position = len(sys.argv) < 7 or sys.argv[6] != "object-keyed"
cat = hats.read_hats(path)
out = {
    "hats_rows": int(cat.catalog_info.total_rows),
    "partitions": len(cat.get_healpix_pixels()),
    "ra_column": cat.catalog_info.ra_column,
}
lcat = lsdb.open_catalog(path)
df = lcat.compute()
out["lsdb_rows"] = int(len(df))
ok = True
from hats.pixel_math.spatial_index import compute_spatial_index  # noqa: E402
for pix in cat.get_healpix_pixels():
    part = lcat.get_partition(pix.order, pix.pixel).compute()
    h = part["_healpix_29"].to_numpy() if "_healpix_29" in part.columns else part.index.to_numpy()
    shift = 2 * (29 - pix.order)
    if not np.all((h >> shift) == pix.pixel):
        ok = False
    if own_position:
        mine = compute_spatial_index(part[cat.catalog_info.ra_column].to_numpy(), part[cat.catalog_info.dec_column].to_numpy())
        if not np.array_equal(mine, h):
            ok = False
out["healpix_ok"] = bool(ok)
cone = lcat.cone_search(ra, dec, radius * 3600.0).compute()
out["cone_ids"] = sorted(int(x) for x in cone[id_col].to_numpy())
print(json.dumps(out))
