//! Per-detection timestamps under Tomo-e's rolling shutter.
//!
//! The CMOS sensors reset and read row by row: row `y` of frame `k` starts integrating
//! `y × TRLSTEP1` after the frame's first row, and one full sweep of 1128 rows takes
//! 1128 × 0.41475 ms ≈ 0.468 s, nearly a whole 0.5 s frame. Seconds-scale light curves
//! therefore need a time per detection, not per frame. The model (FORMAT.md §5; header keywords
//! from the Tomo-e docs, header version 0.730):
//!
//! ```text
//! t_mid(k, y) = UTC + k × TFRAME + row(y) × TRLSTEP1 + EXPTIME1 / 2
//! ```
//!
//! * `UTC` (= `GPS-UP`): start of integration of the first photosensitive row, GPS-latched,
//!   0.2 ms absolute accuracy.
//! * `TFRAME`: frame interval; `EXPTIME1`: integration of one frame; `TRLSTEP1`: reset step per
//!   row (`TRLSTEP` / 4).
//! * `row(y)`: the row's position in the readout order. Which end of the chip is read first,
//!   and whether the first photosensitive or the first physical row is row 0, are not public
//!   (FORMAT.md §11.5): both are configurable ([`RowOrder`], [`RollingShutter::row_offset`]).
//!   The default assumes the sweep starts at the first stored row (0-based `y = 0`, FITS
//!   `y = 1`) and moves up.
//!
//! `y` may be fractional (a centroid): the result is then the time of the PSF-weighted mean row.
//! Results are [`UtcMicros`]: microsecond resolution.

use crate::time::UtcMicros;

/// Readout direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowOrder {
    /// Row 0 (the first stored row, FITS y = 1) is read first; time grows with y.
    #[default]
    Ascending,
    /// The last stored row is read first; time grows as y decreases.
    Descending,
}

/// The timing of one exposure's frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollingShutter {
    /// `UTC`: start of integration of the first photosensitive row of frame 0.
    pub utc_start: UtcMicros,
    /// `TFRAME` [s].
    pub tframe: f64,
    /// `TRLSTEP1` [s per row].
    pub trlstep1: f64,
    /// `EXPTIME1` [s].
    pub exptime1: f64,
    /// Number of rows (NAXIS2), needed for [`RowOrder::Descending`].
    pub height: usize,
    /// Readout direction.
    pub order: RowOrder,
    /// Rows read before stored row 0 (e.g. trimmed reference rows); default 0.
    pub row_offset: f64,
}

impl RollingShutter {
    /// Position of 0-based row `y` in the readout sequence.
    pub fn readout_row(&self, y: f64) -> f64 {
        let r = match self.order {
            RowOrder::Ascending => y,
            RowOrder::Descending => (self.height as f64 - 1.0) - y,
        };
        r + self.row_offset
    }

    /// Seconds from `UTC` to the middle of the integration of row `y` in frame `frame`.
    pub fn mid_offset_seconds(&self, frame: u32, y: f64) -> f64 {
        f64::from(frame) * self.tframe + self.readout_row(y) * self.trlstep1 + 0.5 * self.exptime1
    }

    /// Mid-exposure time of row `y` (0-based, may be fractional) in frame `frame` (0-based).
    pub fn mid_time(&self, frame: u32, y: f64) -> UtcMicros {
        self.utc_start
            .add_seconds(self.mid_offset_seconds(frame, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube() -> RollingShutter {
        // cube.hdr sample values.
        RollingShutter {
            utc_start: UtcMicros::parse_iso("2022-01-04T11:51:21.738679").unwrap_or(UtcMicros(0)),
            tframe: 0.5,
            trlstep1: 0.000_414_75,
            exptime1: 0.499_904,
            height: 1128,
            order: RowOrder::Ascending,
            row_offset: 0.0,
        }
    }

    #[test]
    fn model_by_hand() {
        let s = cube();
        // frame 3, row 1000: 1.5 + 0.41475 + 0.249952 = 2.164702 s after UTC.
        assert!((s.mid_offset_seconds(3, 1000.0) - 2.164_702).abs() < 1e-12);
        assert_eq!(s.mid_time(3, 1000.0).to_iso(), "2022-01-04T11:51:23.903381");
        // Frame 0, row 0: half an exposure after UTC.
        assert_eq!(s.mid_time(0, 0.0).to_iso(), "2022-01-04T11:51:21.988631");
        // The sweep over the chip takes 1127 × TRLSTEP1 = 0.46742325 s.
        let sweep = s.mid_offset_seconds(0, 1127.0) - s.mid_offset_seconds(0, 0.0);
        assert!((sweep - 0.467_423_25).abs() < 1e-12);
    }

    #[test]
    fn descending_order_and_offset() {
        let mut s = cube();
        s.order = RowOrder::Descending;
        assert!((s.mid_offset_seconds(0, 1127.0) - 0.249_952).abs() < 1e-12);
        assert!((s.mid_offset_seconds(0, 0.0) - (1127.0 * 0.000_414_75 + 0.249_952)).abs() < 1e-12);
        s.order = RowOrder::Ascending;
        s.row_offset = 36.0;
        assert!((s.mid_offset_seconds(0, 0.0) - (36.0 * 0.000_414_75 + 0.249_952)).abs() < 1e-12);
    }
}
