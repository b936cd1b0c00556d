#!/usr/bin/env python3
"""Baseline for `tomoe bench phot`: times sep.sum_circle (exact mode) on the same image and positions.

Usage: sep_apertures.py IMAGE.f32le WIDTH HEIGHT POSITIONS.f64le RADIUS REPEAT
IMAGE may hold several frames (a cube, frame after frame): each repetition then measures every
position on every frame, as a cube's fixed apertures are measured.
Prints JSON: {"sep": version, "seconds": [per-repetition wall times], "flux_sum": checksum}
"""
import json
import sys
import time

import numpy as np
import sep

img_path, w, h, pos_path, r, rep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), int(sys.argv[6])
frames = np.fromfile(img_path, dtype="<f4").reshape(-1, h, w).astype(np.float32)
pos = np.fromfile(pos_path, dtype="<f8").reshape(-1, 2)
x = np.ascontiguousarray(pos[:, 0])
y = np.ascontiguousarray(pos[:, 1])
times = []
flux = None
for _ in range(rep):
    t = time.perf_counter()
    total = 0.0
    for img in frames:
        flux, err, flag = sep.sum_circle(img, x, y, r, err=10.0, subpix=0)
        total += float(np.sum(flux))
    times.append(time.perf_counter() - t)
print(json.dumps({"sep": sep.__version__, "seconds": times, "flux_sum": total}))
