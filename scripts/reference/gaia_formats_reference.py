"""Writes one small Gaia-like table in every format `tomoe gaia import` reads, with astropy
and pyarrow (independent writers), plus the values as JSON for the Rust test.

Run: python3 scripts/reference/gaia_formats_reference.py
Writes crates/lightcurve/tests/data/gaia_sample.{csv.gz,ecsv,vot,binary2.vot,fits,parquet,json}.
Nulls: row 3 has no BP/RP (as for faint Gaia sources), row 5 no parallax/pm (2-parameter source).
source_ids are real-looking 64-bit values (> 2^53) so a lossy float path would show.
"""
import gzip
import json
import os

import numpy as np
from astropy.table import Table, MaskedColumn
import pyarrow as pa
import pyarrow.parquet as pq

out = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "lightcurve", "tests", "data")
rng = np.random.default_rng(5)
n = 40
sid = (np.arange(n, dtype=np.int64) * 7919 + 4611686018427387000).astype(np.int64)
ra = rng.uniform(359.5, 360.5, n) % 360.0
dec = rng.uniform(-1, 1, n)
g = rng.uniform(10, 19, n)
bp = g + rng.uniform(0.1, 1.0, n)
rp = g - rng.uniform(0.3, 1.0, n)
pmra = rng.normal(0, 5, n)
pmdec = rng.normal(0, 5, n)
plx = np.abs(rng.normal(1, 0.5, n))
mask_col = np.zeros(n, bool)
mask_col[3] = True
mask_pm = np.zeros(n, bool)
mask_pm[5] = True
t = Table()
t["source_id"] = sid
t["ra"] = ra
t["dec"] = dec
t["ra_error"] = rng.uniform(0.01, 0.5, n)
t["dec_error"] = rng.uniform(0.01, 0.5, n)
t["parallax"] = MaskedColumn(plx, mask=mask_pm)
t["pmra"] = MaskedColumn(pmra, mask=mask_pm)
t["pmdec"] = MaskedColumn(pmdec, mask=mask_pm)
t["ref_epoch"] = np.full(n, 2016.0)
t["phot_g_mean_mag"] = g
t["phot_bp_mean_mag"] = MaskedColumn(bp, mask=mask_col)
t["phot_rp_mean_mag"] = MaskedColumn(rp, mask=mask_col)
t["ruwe"] = rng.uniform(0.9, 1.5, n)
t["duplicated_source"] = rng.uniform(0, 1, n) < 0.1
t["extra_text"] = ["x%d" % i for i in range(n)]
t["ra"].unit = "deg"
t["dec"].unit = "deg"

t.write(os.path.join(out, "gaia_sample.ecsv"), format="ascii.ecsv", overwrite=True)
csv_path = os.path.join(out, "gaia_sample.csv")
t.write(csv_path, format="ascii.csv", overwrite=True)
with open(csv_path, "rb") as f, gzip.open(csv_path + ".gz", "wb") as g_:
    g_.write(f.read())
os.remove(csv_path)
t.write(os.path.join(out, "gaia_sample.vot"), format="votable", overwrite=True)
t.write(os.path.join(out, "gaia_sample.binary2.vot"), format="votable", tabledata_format="binary2", overwrite=True)
t.write(os.path.join(out, "gaia_sample.fits"), format="fits", overwrite=True)
tab = pa.table({c: pa.array(np.asarray(t[c]).tolist(), mask=np.asarray(getattr(t[c], "mask", np.zeros(n, bool)))) for c in t.colnames})
pq.write_table(tab, os.path.join(out, "gaia_sample.parquet"))


def val(c, i):
    col = t[c]
    if hasattr(col, "mask") and col.mask[i]:
        return None
    return float(col[i])


truth = {
    "provenance": "scripts/reference/gaia_formats_reference.py (astropy %s, pyarrow %s)" % (
        __import__("astropy").__version__, pa.__version__),
    "rows": [
        {
            "source_id": int(sid[i]),
            "ra": float(ra[i]),
            "dec": float(dec[i]),
            "pmra": val("pmra", i),
            "phot_g_mean_mag": float(g[i]),
            "phot_bp_mean_mag": val("phot_bp_mean_mag", i),
            "duplicated_source": bool(t["duplicated_source"][i]),
        }
        for i in range(n)
    ],
}
with open(os.path.join(out, "gaia_sample.json"), "w") as f:
    json.dump(truth, f, indent=1)
print("wrote", n, "rows in 6 formats to", out)
