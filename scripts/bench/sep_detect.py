#!/usr/bin/env python3
"""Baseline for `tomoe bench phot`: times sep background + detection on the same image.

Usage: sep_detect.py IMAGE.f32le WIDTH HEIGHT THRESH REPEAT
Prints JSON: {"sep": version, "seconds": [...], "nobj": n}
"""
import json
import sys
import time

import numpy as np
import sep

path, w, h, thresh, rep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
img = np.fromfile(path, dtype="<f4").reshape(h, w).astype(np.float32)
sep.set_extract_pixstack(5_000_000)
times, n = [], 0
for _ in range(rep):
    t = time.perf_counter()
    bkg = sep.Background(img, bw=64, bh=64, fw=3, fh=3)
    back, rms = bkg.back(), bkg.rms()
    objs = sep.extract(img - back, thresh, err=rms, minarea=5)
    times.append(time.perf_counter() - t)
    n = len(objs)
print(json.dumps({"sep": sep.__version__, "seconds": times, "nobj": n}))
