//! `tomoe-fits`: FITS headers, file structure checks, simple image writing, and the typed
//! model of Tomo-e Gozen headers.
//!
//! * [`header`]: 80-column cards, parsed leniently (Tomo-e headers have COMMENT dividers that
//!   look like values, unpadded strings and varied float formats) while every card is kept
//!   verbatim.
//! * [`structure`]: walks every HDU of a file, checks that the file is complete (sizes from
//!   `BITPIX`, `NAXISn`, `PCOUNT`, `GCOUNT`) and verifies `DATASUM`/`CHECKSUM` when present.
//!   This is what the archive uses to refuse truncated or corrupt downloads.
//! * [`image`]: reads images and cubes one plane at a time (bounded memory).
//! * [`write`]: writes float32 primary images (used by the simulator).
//! * [`table`]: writes binary tables (catalogs).
//! * [`tomoe`]: [`tomoe::TomoeHeader`], the typed record of a Tomo-e product header.
//!
//! Our own reader is used for headers because the Tomo-e hazards (FORMAT.md §4.4) need card-
//! level control and because archive verification must stream multi-GB cubes without loading
//! them. Pixel I/O of compressed images is left to cfitsio (the `fitsio` crate) when needed.

pub mod header;
pub mod image;
pub mod preview;
pub mod structure;
pub mod table;
pub mod tomoe;
pub mod write;

pub use header::{Card, Header, HeaderError, Value};
pub use image::{ImageError, ImageFile};
pub use structure::{verify_file, FitsLayout, StructureError};
pub use tomoe::{FrameId, TomoeHeader};

/// FITS logical record length in bytes.
pub const BLOCK: usize = 2880;
/// FITS card length in bytes.
pub const CARD: usize = 80;
