#!/usr/bin/env python3
"""A FITS binary table written by astropy for `tomoe_fits::table::read_table`, with the values
astropy reads back: every scalar type, unsigned via TZERO, a scaled column, a TNULL column, text,
logicals with an undefined value, units, and a second table selected by EXTNAME.

Run: python3 scripts/reference/fits_table_reference.py crates/fits/tests/data
Writes astropy_table.fits and astropy_table.json there.
"""
import json
import sys

import astropy
import numpy as np
from astropy.io import fits

out = sys.argv[1]
n = 5
cols = [
    fits.Column(name="ra", format="D", unit="deg", array=np.array([0.0, 359.9999999999, 12.5, -0.0, 180.25])),
    fits.Column(name="mag", format="E", unit="mag", array=np.array([15.25, np.nan, -1.5, 21.0, 0.1], dtype=np.float32)),
    fits.Column(name="det", format="J", array=np.array([1, -2, 2147483647, -2147483648, 0], dtype=np.int32)),
    fits.Column(name="id", format="K", array=np.array([5, 2**62, -(2**62), 0, 7], dtype=np.int64)),
    fits.Column(name="flags", format="B", array=np.array([0, 1, 255, 8, 4], dtype=np.uint8)),
    fits.Column(name="adu", format="I", bzero=32768, array=np.array([0, 1, 65535, 32768, 40000], dtype=np.uint16)),
    # Stored integers; TSCAL7 = 0.5 and TZERO7 = 10 are set below: 10, 10.5, 0, -5, 100.
    fits.Column(name="scaled", format="J", array=np.array([0, 1, -20, -30, 180], dtype=np.int32)),
    fits.Column(name="withnull", format="J", null=-999, array=np.array([3, -999, 4, -999, 5], dtype=np.int32)),
    fits.Column(name="name", format="12A", array=np.array(["SN2023ixf", "", "M31", "a b", "twelve chars"])),
    fits.Column(name="good", format="L", array=np.array([True, False, True, False, True])),
]
t = fits.BinTableHDU.from_columns(cols, name="SOURCES")
t.header["TSCAL7"] = 0.5
t.header["TZERO7"] = 10.0
other = fits.BinTableHDU.from_columns([fits.Column(name="x", format="D", array=np.array([1.5, 2.5]))], name="OTHER")
fits.HDUList([fits.PrimaryHDU(), other, t]).writeto(f"{out}/astropy_table.fits", overwrite=True, checksum=True)

with fits.open(f"{out}/astropy_table.fits") as h:
    d = h["SOURCES"].data
    ref = {"astropy": astropy.__version__, "rows": n, "columns": {}}
    for c in h["SOURCES"].columns:
        v = d[c.name]
        if c.name == "withnull":
            vals = [None if x == -999 else float(x) for x in np.asarray(v)]
        elif c.format.startswith("12A") or c.format == "12A":
            vals = [str(x) for x in v]
        elif c.format == "L":
            vals = [bool(x) for x in v]
        elif c.name in ("mag", "ra", "scaled"):
            vals = [None if np.isnan(x) else float(x) for x in v]
        else:
            vals = [int(x) for x in v]
        ref["columns"][c.name] = {"unit": c.unit or "", "values": vals}
json.dump(ref, open(f"{out}/astropy_table.json", "w"), indent=1)
