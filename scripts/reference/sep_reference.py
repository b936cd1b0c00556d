#!/usr/bin/env python3
"""Reference aperture sums from sep (SourceExtractor as a library) for tomoe-core.

Run from the repository root:  python3 scripts/reference/sep_reference.py
Writes (committed; the tests read them, no Python needed at test time):
  crates/core/tests/data/sep_image.f32le   a 160 x 120 float32 image, little-endian, row-major
  crates/core/tests/data/sep_reference.json positions and sep.sum_circle results (exact mode),
                                            background parameters and global values, and
                                            sep.extract(image - back, 5.0, err=rms, minarea=5)
  crates/core/tests/data/sep_bkg_*.f32le    an image and sep.Background's back() and rms() maps

Coordinates are 0-based with pixel centres at integers, sep's (and tomoe-core's) convention.
"""
import json
import pathlib

import numpy as np
import sep

DATA = pathlib.Path("crates/core/tests/data")
rng = np.random.default_rng(20231002)
h, w = 120, 160
yy, xx = np.mgrid[0:h, 0:w]
img = 100.0 + 0.05 * xx - 0.03 * yy + rng.normal(0.0, 5.0, (h, w))
for _ in range(25):
    x0, y0 = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
    flux, s = 10 ** rng.uniform(2.5, 4.5), rng.uniform(1.0, 2.5)
    img += flux / (2 * np.pi * s * s) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * s * s))
img = img.astype(np.float32)
img.astype("<f4").tofile(DATA / "sep_image.f32le")

# Positions: interior at arbitrary sub-pixel centres, near and across every edge and corner.
pos = [(rng.uniform(12, w - 12), rng.uniform(12, h - 12)) for _ in range(40)]
pos += [(0.0, 0.0), (3.3, 60.2), (w - 1.2, 50.7), (80.5, h - 2.5), (-4.0, 30.0), (w + 3.0, h + 3.0), (80.0, 60.0), (79.5, 59.5)]
x = np.array([p[0] for p in pos])
y = np.array([p[1] for p in pos])
out = {"sep": sep.__version__, "numpy": np.__version__, "width": w, "height": h, "cases": []}
for r in (10.5, 3.0, 0.7):
    flux, err, flag = sep.sum_circle(img, x, y, r, err=5.0, subpix=0)
    for i in range(len(pos)):
        out["cases"].append({"x": x[i], "y": y[i], "r": r, "flux": float(flux[i]), "err": float(err[i]), "flag": int(flag[i])})
# Background maps: a 300 x 217 image (partial last meshes) with a gradient, noise and stars.
h2, w2 = 217, 300
yy2, xx2 = np.mgrid[0:h2, 0:w2]
bimg = 500.0 + 0.2 * xx2 + 0.1 * yy2 + 10.0 * np.sin(xx2 / 40.0) + rng.normal(0.0, 8.0, (h2, w2))
for _ in range(60):
    x0, y0 = rng.uniform(0, w2), rng.uniform(0, h2)
    flux, s = 10 ** rng.uniform(3.0, 5.0), rng.uniform(1.0, 2.5)
    bimg += flux / (2 * np.pi * s * s) * np.exp(-((xx2 - x0) ** 2 + (yy2 - y0) ** 2) / (2 * s * s))
bimg = bimg.astype(np.float32)
bimg.astype("<f4").tofile(DATA / "sep_bkg_image.f32le")
bkg = sep.Background(bimg, bw=64, bh=64, fw=3, fh=3)
bkg.back().astype("<f4").tofile(DATA / "sep_bkg_back.f32le")
bkg.rms().astype("<f4").tofile(DATA / "sep_bkg_rms.f32le")
objs = sep.extract(bimg - bkg.back(), 5.0, err=bkg.rms(), minarea=5)
out["detections_5sigma"] = [{"x": float(o["x"]), "y": float(o["y"]), "flux": float(o["flux"]), "flag": int(o["flag"])} for o in objs]
out["background"] = {"width": w2, "height": h2, "bw": 64, "bh": 64, "fw": 3, "fh": 3,
                     "globalback": float(bkg.globalback), "globalrms": float(bkg.globalrms)}

(DATA / "sep_reference.json").write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {len(out['cases'])} cases")
