#!/usr/bin/env python3
"""Baseline for `tomoe bench xmatch`: astropy match_coordinates_sky on the same catalogues.

Usage: astropy_xmatch.py A.f64le B.f64le RADIUS_ARCSEC REPEAT   (files: ra, dec pairs in degrees)
Prints JSON: {"astropy": version, "seconds": [...], "matched": n}
"""
import json
import sys
import time

import astropy
import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, match_coordinates_sky

a = np.fromfile(sys.argv[1], dtype="<f8").reshape(-1, 2)
b = np.fromfile(sys.argv[2], dtype="<f8").reshape(-1, 2)
radius, rep = float(sys.argv[3]), int(sys.argv[4])
times, matched = [], 0
for _ in range(rep):
    t = time.perf_counter()
    ca = SkyCoord(a[:, 0] * u.deg, a[:, 1] * u.deg)
    cb = SkyCoord(b[:, 0] * u.deg, b[:, 1] * u.deg)
    idx, sep, _ = match_coordinates_sky(ca, cb)
    matched = int((sep.arcsec <= radius).sum())
    times.append(time.perf_counter() - t)
print(json.dumps({"astropy": astropy.__version__, "seconds": times, "matched": matched}))
