"""Queries the platform's IVOA Simple Cone Search with pyvo (as TOPCAT or a script would) and
prints JSON for the Rust test: the object ids found, the columns pyvo finds by their UCDs, and
the error pyvo reports for a bad request.

Usage: python3 scripts/check_scs.py BASE_URL RA DEC SR
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
import pyvo  # noqa: E402

base, ra, dec, sr = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
svc = pyvo.dal.SCSService(base + "/scs")
res = svc.search(pos=(ra, dec), radius=sr, verbosity=2)
out = {
    # pyvo's SCS records find id and position by the standard's UCDs.
    "ids": sorted(int(r.id) for r in res),
    "positions_ok": all(abs(r.pos.ra.deg - r["ra"]) < 1e-12 and abs(r.pos.dec.deg - r["dec"]) < 1e-12 for r in res),
    "id_field": res.fieldname_with_ucd("ID_MAIN"),
    "ra_field": res.fieldname_with_ucd("POS_EQ_RA_MAIN"),
    "dec_field": res.fieldname_with_ucd("POS_EQ_DEC_MAIN"),
    "pyvo": pyvo.__version__,
}
try:
    svc.search(pos=(ra, dec), radius=-1)
    out["error"] = None
except Exception as e:  # pyvo raises DALQueryError with the service's message
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
