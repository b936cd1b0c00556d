#!/usr/bin/env python3
"""Reference values from astropy for the tomoe-fits and tomoe-core tests.

Run from the repository root:  python3 scripts/reference/fits_reference.py
Writes (and the tests read, committed):
  crates/fits/tests/data/astropy_checksum.fits  image + binary table HDUs written by astropy with checksum=True
  crates/fits/tests/data/astropy_int16_scaled.fits  BITPIX 16 with BSCALE/BZERO/BLANK
  crates/fits/tests/data/tpv.hdr                a TPV (PVi_j) header, cards as astropy writes them
  crates/fits/tests/data/reference.json         values computed by astropy (versions recorded inside)

Inputs: crates/fits/tests/data/sim_stack.fits, written by
  tomoe sim stacks --out X --exposures 1 --chips 1 --width 64 --height 40 --start 2023-01-02T09:48:14.665023
"""
import json
import pathlib

import astropy
import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

DATA = pathlib.Path("crates/fits/tests/data")

# 1. A file with checksums written by astropy: our verifier must accept it and agree on DATASUM.
img = (np.arange(40 * 30, dtype=np.float32).reshape(30, 40) * 0.37 - 11.0)
prim = fits.PrimaryHDU(img)
prim.header["OBJECT"] = "astropy reference"
cols = fits.ColDefs([
    fits.Column(name="ID", format="J", array=np.arange(7, dtype=np.int32)),
    fits.Column(name="MAG", format="E", array=np.linspace(10, 16, 7).astype(np.float32)),
    fits.Column(name="NAME", format="8A", array=np.array([f"s{i}" for i in range(7)])),
])
tab = fits.BinTableHDU.from_columns(cols, name="CAT")
fits.HDUList([prim, tab]).writeto(DATA / "astropy_checksum.fits", overwrite=True, checksum=True)
with fits.open(DATA / "astropy_checksum.fits", checksum=True) as h:
    checks = [{"datasum": hdu.header["DATASUM"], "checksum": hdu.header["CHECKSUM"]} for hdu in h]

# 1b. A scaled 16-bit integer image with BLANK: our reader must apply BSCALE/BZERO and BLANK.
ints = (np.arange(12 * 9, dtype=np.int16).reshape(9, 12) * 37 - 1500)
ints[4, 5] = -32768
ihdu = fits.PrimaryHDU(ints)
ihdu.header["BSCALE"] = 0.5
ihdu.header["BZERO"] = 1000.0
ihdu.header["BLANK"] = -32768
ihdu.writeto(DATA / "astropy_int16_scaled.fits", overwrite=True)
with fits.open(DATA / "astropy_int16_scaled.fits") as h:
    scaled = h[0].data.astype(np.float64)  # astropy applies BSCALE/BZERO and BLANK -> NaN
int16_values = [None if np.isnan(v) else float(v) for v in scaled.ravel()]

# 2. Our simulated stack, read by astropy: checksums, times, and the TAN-SIP WCS.
with fits.open(DATA / "sim_stack.fits", checksum=True) as h:
    hdr = h[0].header
    sim_checksum_ok = bool(h[0].verify_checksum() == 1 and h[0].verify_datasum() == 1)
    w = WCS(hdr)
    pix = [(1.0, 1.0), (32.5, 20.5), (64.0, 40.0), (10.25, 33.75), (-500.0, 700.0)]
    # astropy's pixel convention is 0-based: subtract 1 from FITS pixels.
    world = w.all_pix2world(np.array(pix) - 1.0, 0)
    sky = [(float(a), float(d)) for a, d in world]
    back = w.all_world2pix(world, 0, tolerance=1e-12) + 1.0

# 3. A TPV header (SCAMP-style distortion): astropy/wcslib values for our TPV implementation.
tpv = fits.Header()
for k, v in [("NAXIS", 2), ("NAXIS1", 2000), ("NAXIS2", 1128), ("CTYPE1", "RA---TPV"), ("CTYPE2", "DEC--TPV"),
             ("CRPIX1", 1000.5), ("CRPIX2", 564.5), ("CRVAL1", 120.25), ("CRVAL2", -35.5),
             ("CD1_1", -3.3e-4), ("CD1_2", 1.2e-6), ("CD2_1", -0.8e-6), ("CD2_2", 3.3e-4),
             ("PV1_0", 1.0e-5), ("PV1_1", 1.0002), ("PV1_2", 3.0e-4), ("PV1_4", 2.0e-3), ("PV1_5", -1.0e-3), ("PV1_6", 5.0e-4),
             ("PV1_7", 0.02), ("PV1_9", 0.01), ("PV1_11", -0.015),
             ("PV2_0", -2.0e-5), ("PV2_1", 0.9997), ("PV2_2", -2.0e-4), ("PV2_4", 1.5e-3), ("PV2_5", 8.0e-4), ("PV2_6", -6.0e-4),
             ("PV2_7", -0.01), ("PV2_10", 0.012), ("PV2_11", 0.01)]:
    tpv[k] = v
(DATA / "tpv.hdr").write_text("".join(f"{c.image}\n" for c in tpv.cards))
wt = WCS(tpv)
tpix = [(1.0, 1.0), (1000.5, 564.5), (2000.0, 1128.0), (1500.25, 100.75), (300.0, 900.0)]
tworld = wt.all_pix2world(np.array(tpix) - 1.0, 0)

times = {}
for s in ["2023-01-02T09:48:14.665023", "2019-11-20T12:00:00.000001", "2000-01-01T12:00:00"]:
    t = Time(s, scale="utc")
    times[s] = {"mjd": float(t.mjd), "jyear": float(t.jyear)}

ref = {
    "generated_by": "scripts/reference/fits_reference.py",
    "astropy": astropy.__version__,
    "numpy": np.__version__,
    "astropy_checksum_fits": checks,
    "sim_stack": {
        "checksum_ok": sim_checksum_ok,
        "pixels_fits_1based": pix,
        "sky_deg": sky,
        "roundtrip_pixels": back.tolist(),
    },
    "times": times,
    "tpv": {"pixels_fits_1based": tpix, "sky_deg": [(float(a), float(d)) for a, d in tworld]},
    "int16_scaled_values": int16_values,
}
(DATA / "reference.json").write_text(json.dumps(ref, indent=2) + "\n")
print(json.dumps(ref, indent=2))
