#!/usr/bin/env python3
"""Reference cross-match from astropy for tomoe-core's xmatch.

Run from the repository root:  python3 scripts/reference/xmatch_reference.py
Writes crates/core/tests/data/xmatch_reference.json: two catalogues (degrees) with points near
RA = 0/360, near both poles and elsewhere, and astropy's match_coordinates_sky(A, B) nearest
neighbour index and separation (arcsec) for every point of A.
"""
import json
import pathlib

import astropy
import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord, match_coordinates_sky

rng = np.random.default_rng(42)


def region(n, ra_lo, ra_hi, dec_lo, dec_hi):
    ra = rng.uniform(ra_lo, ra_hi, n) % 360.0
    # uniform on the sphere within the dec band
    s = rng.uniform(np.sin(np.radians(dec_lo)), np.sin(np.radians(dec_hi)), n)
    return ra, np.degrees(np.arcsin(s))


parts = [region(800, -0.02, 0.02, -0.02, 0.02), region(800, 0, 360, 89.995, 90.0),
         region(800, 0, 360, -90.0, -89.995), region(800, 10.0, 10.05, 30.0, 30.05)]
ra_a = np.concatenate([p[0] for p in parts])
dec_a = np.concatenate([p[1] for p in parts])
a = SkyCoord(ra_a * u.deg, dec_a * u.deg)
# B: 70 % of A moved by up to 1.5 arcsec in a random direction, plus as many random points.
keep = rng.uniform(size=len(ra_a)) < 0.7
off = rng.uniform(0, 1.5, keep.sum()) * u.arcsec
pa = rng.uniform(0, 360, keep.sum()) * u.deg
moved = a[keep].directional_offset_by(pa, off)
extra = [region(300, -0.02, 0.02, -0.02, 0.02), region(300, 0, 360, 89.995, 90.0), region(300, 0, 360, -90.0, -89.995), region(300, 10.0, 10.05, 30.0, 30.05)]
ra_b = np.concatenate([moved.ra.deg] + [e[0] for e in extra])
dec_b = np.concatenate([moved.dec.deg] + [e[1] for e in extra])
b = SkyCoord(ra_b * u.deg, dec_b * u.deg)
idx, sep, _ = match_coordinates_sky(a, b)
out = {"astropy": astropy.__version__, "a": [[float(r), float(d)] for r, d in zip(ra_a, dec_a)],
       "b": [[float(r), float(d)] for r, d in zip(ra_b, dec_b)],
       "nearest": [int(i) for i in idx], "sep_arcsec": [float(s) for s in sep.arcsec]}
pathlib.Path("crates/core/tests/data/xmatch_reference.json").write_text(json.dumps(out) + "\n")
print(len(ra_a), len(ra_b), int((sep.arcsec <= 1.0).sum()), "matches within 1 arcsec")
