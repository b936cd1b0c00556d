#!/usr/bin/env python3
"""Reference zscale limits from astropy for `tomoe_core::stats::zscale`.

The images are defined by formulas (below, mirrored in crates/core/tests/zscale.rs) so both
sides compute the same float32 pixels: a sky with a gradient and hash noise, bright stars, a
few NaNs, a flat image and a tiny one.

Run: python3 scripts/reference/zscale_reference.py > crates/core/tests/data/zscale_reference.json
"""
import json

import astropy
import numpy as np
from astropy.visualization import ZScaleInterval


def noise(i):
    # A deterministic hash in [0, 1): xorshift-multiply of the pixel index (uint64 arithmetic).
    x = np.uint64(i) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return float(x >> np.uint64(11)) / float(1 << 53)


def image(kind, w, h):
    out = np.empty(w * h, dtype=np.float32)
    with np.errstate(over="ignore"):
        for i in range(w * h):
            x, y = i % w, i // w
            v = 1000.0 + 0.05 * x + 0.02 * y + 40.0 * (noise(i) - 0.5)
            if kind == "stars" and (x * 7 + y * 13) % 97 == 0:
                v += 20000.0 * noise(i + 7)
            if kind == "stars" and i % 1013 == 5:
                v = float("nan")
            if kind == "flat":
                v = 5.0
            out[i] = v
    return out


cases = [("sky", 120, 80), ("stars", 150, 90), ("flat", 40, 30), ("sky", 3, 2)]
res = []
for kind, w, h in cases:
    lo, hi = ZScaleInterval().get_limits(image(kind, w, h))
    res.append({"kind": kind, "width": w, "height": h, "vmin": float(lo), "vmax": float(hi)})
print(json.dumps({"astropy": astropy.__version__, "cases": res}, indent=1))
