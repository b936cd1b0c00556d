#!/usr/bin/env python3
"""Reference positions from astropy `SkyCoord.apply_space_motion` (no distance, no radial
velocity) for `tomoe_core::astrometry::propagate`: Gaia epoch J2016.0 carried to other epochs,
including fast stars, RA = 0/360 and near the poles.

Run: python3 scripts/reference/astrometry_reference.py > crates/core/tests/data/astrometry_reference.json
"""
import json
import warnings

import astropy
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

warnings.simplefilter("ignore")
cases = [
    (10.0, 20.0, 500.0, -300.0, 2025.5),
    (269.452, 4.693, -798.58, 10328.12, 2026.9),  # Barnard's star
    (359.99999, -0.5, 3000.0, 100.0, 2024.0),
    (0.00001, 30.0, -3000.0, 0.0, 2030.0),
    (45.0, 89.999, 2000.0, 2000.0, 2025.0),
    (200.0, -89.9995, -1500.0, 800.0, 2023.3),
    (123.4, -45.6, 0.0, 0.0, 2025.0),
    (83.633, 22.0145, -2.0, 1.5, 2016.0),
    (150.0, 60.0, 40.0, -25.0, 2000.0),
]
out = []
for ra, dec, pmra, pmdec, epoch in cases:
    c = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, pm_ra_cosdec=pmra * u.mas / u.yr,
                 pm_dec=pmdec * u.mas / u.yr, obstime=Time(2016.0, format="jyear"))
    d = c.apply_space_motion(new_obstime=Time(epoch, format="jyear"))
    out.append({"ra": ra, "dec": dec, "pmra": pmra, "pmdec": pmdec, "epoch": epoch,
                "ra_out": float(d.ra.deg), "dec_out": float(d.dec.deg)})
print(json.dumps({"astropy": astropy.__version__, "cases": out}, indent=1))
