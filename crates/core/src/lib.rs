//! `tomoe-core`: the numeric bottom of the Tomo-e platform.
//!
//! Pure functions with no I/O and no async: civil time and the observing night at Kiso
//! ([`time`]), sexagesimal angles ([`angle`]), the FITS world coordinate system ([`wcs`]), small special functions ([`special`]),
//! robust statistics ([`stats`]), SourceExtractor background maps ([`background`]),
//! source detection ([`detect`]), exact fixed-aperture photometry ([`phot`]),
//! per-detection timestamps under the rolling shutter ([`timing`]), tracks, movers and single
//! events within an exposure ([`tracks`]), objects across exposures ([`objects`]),
//! cross-matching ([`xmatch`]), proper motion
//! ([`astrometry`]), HEALPix indices ([`healpix`]) and photometric calibration against Gaia
//! ([`calib`]). Everything here is `f64`; angles are
//! radians inside the crate unless a name or doc says degrees (the file/API edge uses degrees).
//!
//! Heavy dependencies are deliberately absent so this crate builds and tests in seconds (the
//! dependencies, `cdshealpix` and `foldhash`, are pure Rust and small).

pub mod angle;
pub mod astrometry;
pub mod background;
pub mod calib;
pub mod detect;
pub mod healpix;
pub mod objects;
pub mod phot;
pub mod special;
pub mod stats;
pub mod time;
pub mod timing;
pub mod tracks;
pub mod wcs;
pub mod xmatch;

pub use time::{CivilDate, UtcMicros};

/// A hash map for the hot paths (pixel cells, object ids): foldhash instead of the standard
/// SipHash, which took a tenth of the light-curve ingest's time in the tracks' cell lookups.
/// Keys are the platform's own cells and ids, never raw user input, so SipHash's resistance to
/// chosen-key floods is not needed there.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The set counterpart of [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
