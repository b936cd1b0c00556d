//! Fixed-aperture photometry with exact circle–pixel overlap.
//!
//! Why our own: the light-curve database needs a fixed 21 px aperture on every frame of every
//! cube, the weight of each pixel must be the exact area of its overlap with the circle (not
//! sub-pixel sampling), and the kernel must be fast enough for ~10⁵ measurements per second on
//! one core. No Rust crate provides it; sep's C `sum_circle` in exact mode is the reference we
//! check against (`crates/core/tests/data/sep_reference.json`).
//!
//! Coordinates are **0-based pixel coordinates with pixel centres at integers** (pixel `(i, j)`
//! covers `[i − ½, i + ½] × [j − ½, j + ½]`), the convention of numpy and sep. FITS / SExtractor
//! coordinates are these plus one. Images are row-major `f32` slices, `width` columns.

use std::f64::consts::PI;

/// Antiderivative of √(r² − x²): ½ (x √(r² − x²) + r² asin(x / r)), for |x| ≤ r.
///
/// Written with √((r − x)(r + x)) and `atan2` instead of `asin(x / r)`: near x = ±r the
/// quotient's rounding error is amplified ~10⁷-fold by asin (a 2.5e-11 px² error on a pixel
/// that merely touches the circle was seen), while this form stays accurate to an ulp.
fn g(x: f64, r: f64) -> f64 {
    let x = x.clamp(-r, r);
    let s = ((r - x) * (r + x)).max(0.0).sqrt();
    0.5 * (x * s + r * r * x.atan2(s))
}

/// Exact area of the intersection of the disc of radius `r` centred at the origin with the
/// rectangle `[x0, x1] × [y0, y1]` (`x0 ≤ x1`, `y0 ≤ y1`).
pub fn circle_rect_overlap(x0: f64, x1: f64, y0: f64, y1: f64, r: f64) -> f64 {
    if r <= 0.0 || x1 <= x0 || y1 <= y0 {
        return 0.0;
    }
    let (xa, xb) = (x0.max(-r), x1.min(r));
    if xa >= xb || y0 >= r || y1 <= -r {
        return 0.0;
    }
    // Break the x range where the circle's upper or lower arc crosses y0 or y1.
    let mut cuts = [xa, xb, f64::NAN, f64::NAN, f64::NAN, f64::NAN];
    let mut n = 2;
    for y in [y0, y1] {
        if y.abs() < r {
            let s = (r * r - y * y).sqrt();
            for c in [-s, s] {
                if c > xa && c < xb {
                    cuts[n] = c;
                    n += 1;
                }
            }
        }
    }
    let cuts = &mut cuts[..n];
    cuts.sort_by(f64::total_cmp);
    let mut area = 0.0;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b <= a {
            continue;
        }
        let m = 0.5 * (a + b);
        let h = ((r - m) * (r + m)).max(0.0).sqrt();
        let arc = g(b, r) - g(a, r);
        // ∫ clamp(+√, y0, y1) − clamp(−√, y0, y1) dx over [a, b]. Inside a segment each arc is
        // entirely on one side of y0 and of y1; strict comparisons keep the arc when it only
        // touches an edge at the midpoint (tangency at x = 0).
        let upper = if h > y1 {
            y1 * (b - a)
        } else if h < y0 {
            y0 * (b - a)
        } else {
            arc
        };
        let lower = if -h < y0 {
            y0 * (b - a)
        } else if -h > y1 {
            y1 * (b - a)
        } else {
            -arc
        };
        area += upper - lower;
    }
    area.max(0.0)
}

/// Exact overlap of the circle centred at (`cx`, `cy`) with pixel (`i`, `j`).
pub fn pixel_overlap(i: i64, j: i64, cx: f64, cy: f64, r: f64) -> f64 {
    let (x0, y0) = (i as f64 - 0.5 - cx, j as f64 - 0.5 - cy);
    circle_rect_overlap(x0, x0 + 1.0, y0, y0 + 1.0, r)
}

/// Per-aperture geometry: edge coordinates relative to the centre with the transcendental parts
/// of the corner function precomputed per column edge and per row edge.
#[derive(Debug)]
struct Geom {
    r: f64,
    i0: i64,
    j0: i64,
    nc: usize,
    nr: usize,
    cx: f64,
    cy: f64,
    // column edges k = 0..=nc at x = i0 + k − ½ − cx
    ax: Vec<f64>,
    sx: Vec<f64>,
    gx: Vec<f64>,
    // row edges m = 0..=nr at y = j0 + m − ½ − cy
    ay: Vec<f64>,
    sy: Vec<f64>,
    head: Vec<f64>,
}

impl Geom {
    const fn new() -> Self {
        Self {
            r: 0.0,
            i0: 0,
            j0: 0,
            nc: 0,
            nr: 0,
            cx: 0.0,
            cy: 0.0,
            ax: Vec::new(),
            sx: Vec::new(),
            gx: Vec::new(),
            ay: Vec::new(),
            sy: Vec::new(),
            head: Vec::new(),
        }
    }

    fn prepare(&mut self, cx: f64, cy: f64, r: f64) {
        let (i0, i1) = ((cx - r + 0.5).floor() as i64, (cx + r - 0.5).ceil() as i64);
        let (j0, j1) = ((cy - r + 0.5).floor() as i64, (cy + r - 0.5).ceil() as i64);
        self.r = r;
        self.cx = cx;
        self.cy = cy;
        self.i0 = i0;
        self.j0 = j0;
        self.nc = (i1 - i0 + 1).max(0) as usize;
        self.nr = (j1 - j0 + 1).max(0) as usize;
        self.ax.clear();
        self.sx.clear();
        self.gx.clear();
        for k in 0..=self.nc {
            let x = (i0 + k as i64) as f64 - 0.5 - cx;
            let a = x.abs().min(r);
            self.ax.push(a);
            self.sx.push(if x < 0.0 { -1.0 } else { 1.0 });
            self.gx.push(g(a, r));
        }
        self.ay.clear();
        self.sy.clear();
        self.head.clear();
        for m in 0..=self.nr {
            let y = (j0 + m as i64) as f64 - 0.5 - cy;
            let a = y.abs().min(r);
            let xc = ((r - a) * (r + a)).max(0.0).sqrt();
            self.ay.push(a);
            self.sy.push(if y < 0.0 { -1.0 } else { 1.0 });
            self.head.push(xc * a - g(xc, r));
        }
    }

    /// Signed corner function W at column edge k, row edge m.
    #[inline]
    fn corner(&self, k: usize, m: usize) -> f64 {
        let (ax, ay) = (self.ax[k], self.ay[m]);
        let q = if ax * ax + ay * ay <= self.r * self.r {
            ax * ay
        } else {
            self.head[m] + self.gx[k]
        };
        self.sx[k] * self.sy[m] * q
    }

    /// Exact weight of pixel column `i` in box row `jj`.
    #[inline]
    fn weight(&self, i: i64, jj: usize) -> f64 {
        let k = (i - self.i0) as usize;
        (self.corner(k + 1, jj + 1) - self.corner(k, jj + 1) - self.corner(k + 1, jj)
            + self.corner(k, jj))
        .max(0.0)
    }

    /// For box row `jj`: the pixel columns touched by the circle `[lo, hi]` and the interior run
    /// `[ilo, ihi]` of pixels wholly inside it (empty when `ilo > ihi`).
    fn row_span(&self, jj: usize) -> Option<(i64, i64, i64, i64)> {
        let r = self.r;
        let (y0, y1) = (
            (self.j0 + jj as i64) as f64 - 0.5 - self.cy,
            (self.j0 + jj as i64) as f64 + 0.5 - self.cy,
        );
        let near = if y0 <= 0.0 && y1 >= 0.0 {
            0.0
        } else {
            y0.abs().min(y1.abs())
        };
        let far = y0.abs().max(y1.abs());
        if near >= r {
            return None;
        }
        let outer = ((r - near) * (r + near)).sqrt();
        let (lo, hi) = (
            (self.cx - outer + 0.5).floor() as i64,
            (self.cx + outer - 0.5).ceil() as i64,
        );
        let (lo, hi) = (lo.max(self.i0), hi.min(self.i0 + self.nc as i64 - 1));
        if far >= r {
            return Some((lo, hi, hi + 1, hi));
        }
        let inner = ((r - far) * (r + far)).sqrt();
        let (ilo, ihi) = (
            (self.cx - inner + 0.5).ceil() as i64,
            (self.cx + inner - 0.5).floor() as i64,
        );
        Some((lo, hi, ilo.max(lo), ihi.min(hi)))
    }
}

/// Adds one weighted pixel to the running sums (general path: maps, edges, NaN).
#[allow(clippy::too_many_arguments)]
#[inline]
fn accumulate(
    img: Image<'_>,
    bkg: Option<&[f32]>,
    rms: Option<&[f32]>,
    noise: Noise,
    opt: &CircleOptions,
    i: i64,
    j: i64,
    wgt: f64,
    sum: &mut f64,
    var: &mut f64,
    area: &mut f64,
    flags: &mut u16,
    plain: bool,
) {
    // Overlaps below 1e-12 px² are rounding noise of a circle touching a pixel edge.
    if wgt < 1e-12 {
        return;
    }
    if i < 0 || j < 0 || i >= img.width as i64 || j >= img.height as i64 {
        *flags |= FLAG_EDGE;
        return;
    }
    let k = j as usize * img.width + i as usize;
    let v = img.data[k];
    if !v.is_finite() {
        *flags |= FLAG_BAD_PIXEL;
        return;
    }
    if f64::from(v) >= opt.saturation {
        *flags |= FLAG_SATURATED;
    }
    let b = bkg.map(|b| f64::from(b[k])).unwrap_or(0.0);
    *sum += wgt * (f64::from(v) - b);
    if !plain {
        let s = rms.map(|m| f64::from(m[k])).unwrap_or(noise.rms);
        *var += wgt * s * s;
    }
    *area += wgt;
}

/// Flag: the aperture extends beyond the image.
pub const FLAG_EDGE: u16 = 1;
/// Flag: a pixel in the aperture is NaN/inf or masked (it is left out of the sum).
pub const FLAG_BAD_PIXEL: u16 = 2;
/// Flag: a pixel in the aperture is at or above the saturation level.
pub const FLAG_SATURATED: u16 = 4;
/// Flag: the local annulus had too few good pixels; the global background was used.
pub const FLAG_ANNULUS_SPARSE: u16 = 8;

/// Noise model of a measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Background rms per pixel [ADU] (used when no rms map is given).
    pub rms: f64,
    /// Inverse gain [e⁻/ADU]; > 0 adds the source's Poisson noise (flux / gain in ADU²).
    pub gain: f64,
}

/// Result of one aperture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApertureResult {
    /// Background-subtracted flux [ADU].
    pub flux: f64,
    /// 1σ error [ADU].
    pub flux_err: f64,
    /// Sum of overlap weights of the good pixels [px²] (πr² when fully inside and clean).
    pub area: f64,
    /// Background per pixel subtracted [ADU] (0 when none).
    pub background: f64,
    /// `FLAG_*` bits.
    pub flags: u16,
}

/// An image view for photometry.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    /// Pixels, row-major.
    pub data: &'a [f32],
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl<'a> Image<'a> {
    /// Wraps a slice; panics if `data.len() != width × height`.
    pub fn new(data: &'a [f32], width: usize, height: usize) -> Self {
        assert_eq!(data.len(), width * height, "image size mismatch");
        Self {
            data,
            width,
            height,
        }
    }
}

/// Options of [`sum_circle`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircleOptions {
    /// Aperture radius [px] (10.5 = the 21 px diameter of the supernova team's practice).
    pub radius: f64,
    /// Local background annulus `(r_in, r_out)` [px]: the sigma-clipped median of its pixels
    /// is subtracted. `None`: only the given background (map or constant) is subtracted.
    pub annulus: Option<(f64, f64)>,
    /// Saturation level [ADU]; pixels at or above it set [`FLAG_SATURATED`].
    pub saturation: f64,
}

impl Default for CircleOptions {
    fn default() -> Self {
        Self {
            radius: 10.5,
            annulus: None,
            saturation: f64::INFINITY,
        }
    }
}

/// Sums a circular aperture at (`cx`, `cy`) with exact pixel weights.
///
/// * `bkg`: a background map (same shape) subtracted pixel by pixel, or `None`.
/// * `rms`: a per-pixel rms map (same shape); when `None`, `noise.rms` is used.
///
/// Error: σ² = Σ wᵢ rmsᵢ² (+ Σ wᵢ × annulus-median variance term when an annulus is used)
/// + max(flux, 0) / gain. Pixels outside the image or not finite are left out and flagged.
pub fn sum_circle(
    img: Image<'_>,
    bkg: Option<&[f32]>,
    rms: Option<&[f32]>,
    cx: f64,
    cy: f64,
    opt: &CircleOptions,
    noise: Noise,
) -> ApertureResult {
    thread_local! {
        static GEOM: std::cell::RefCell<Geom> = const { std::cell::RefCell::new(Geom::new()) };
    }
    let r = opt.radius;
    let mut flags = 0u16;
    let (w, h) = (img.width as i64, img.height as i64);
    let (mut sum, mut var, mut area) = (0.0f64, 0.0f64, 0.0f64);
    let plain = bkg.is_none() && rms.is_none();
    let mut mx = f32::NEG_INFINITY;
    GEOM.with(|geom| {
        let geom = &mut *geom.borrow_mut();
        geom.prepare(cx, cy, r);
        for jj in 0..geom.nr {
            let j = geom.j0 + jj as i64;
            let Some((lo, hi, ilo, ihi)) = geom.row_span(jj) else {
                continue;
            };
            let row_out = j < 0 || j >= h;
            // Interior run [ilo, ihi]: weight 1, summed directly when it is inside the image.
            if plain && !row_out && ilo <= ihi && ilo >= 0 && ihi < w {
                let start = j as usize * img.width;
                let run = &img.data[start + ilo as usize..=start + ihi as usize];
                let mut s = 0.0f64;
                for &v in run {
                    s += f64::from(v);
                    mx = mx.max(v);
                }
                if s.is_finite() {
                    sum += s;
                    area += run.len() as f64;
                } else {
                    for &v in run {
                        if v.is_finite() {
                            sum += f64::from(v);
                            area += 1.0;
                        } else {
                            flags |= FLAG_BAD_PIXEL;
                        }
                    }
                }
                // The boundary pixels on either side of the interior run.
                for i in (lo..ilo).chain(ihi + 1..=hi) {
                    accumulate(
                        img,
                        bkg,
                        rms,
                        noise,
                        opt,
                        i,
                        j,
                        geom.weight(i, jj),
                        &mut sum,
                        &mut var,
                        &mut area,
                        &mut flags,
                        plain,
                    );
                }
            } else {
                for i in lo..=hi {
                    let wgt = if i >= ilo && i <= ihi {
                        1.0
                    } else {
                        geom.weight(i, jj)
                    };
                    accumulate(
                        img, bkg, rms, noise, opt, i, j, wgt, &mut sum, &mut var, &mut area,
                        &mut flags, plain,
                    );
                }
            }
        }
    });
    if plain {
        var = area * noise.rms * noise.rms;
    }
    if f64::from(mx) >= opt.saturation {
        flags |= FLAG_SATURATED;
    }
    let mut background = 0.0;
    if let Some((a_in, a_out)) = opt.annulus {
        match annulus_median(img, bkg, cx, cy, a_in, a_out) {
            Some((med, sigma, n)) => {
                background = med;
                sum -= med * area;
                // Uncertainty of the subtracted level: σ² π/2 / n per pixel (median), times area².
                var += area * area * sigma * sigma * PI / 2.0 / n as f64;
            }
            None => flags |= FLAG_ANNULUS_SPARSE,
        }
    }
    if let Some(_b) = bkg {
        // background reported as the map value at the centre
        let (ic, jc) = (cx.round() as i64, cy.round() as i64);
        if ic >= 0 && jc >= 0 && ic < w && jc < h {
            background += f64::from(_b[jc as usize * img.width + ic as usize]);
        }
    }
    if noise.gain > 0.0 && sum > 0.0 {
        var += sum / noise.gain;
    }
    ApertureResult {
        flux: sum,
        flux_err: var.sqrt(),
        area,
        background,
        flags,
    }
}

/// Measures many apertures (same options) and returns results in input order.
///
/// Apertures are visited in order of image row band, then column, so consecutive apertures
/// reuse the same cache lines of the image; with random positions on a 9 MB frame this roughly
/// halves the time against visiting them in the given order.
pub fn sum_circles(
    img: Image<'_>,
    bkg: Option<&[f32]>,
    rms: Option<&[f32]>,
    positions: &[(f64, f64)],
    opt: &CircleOptions,
    noise: Noise,
) -> Vec<ApertureResult> {
    let band = (2.0 * opt.radius).max(8.0);
    let mut order: Vec<usize> = (0..positions.len()).collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (positions[a], positions[b]);
        let (ba, bb) = ((pa.1 / band).floor(), (pb.1 / band).floor());
        ba.total_cmp(&bb).then(pa.0.total_cmp(&pb.0))
    });
    let empty = ApertureResult {
        flux: 0.0,
        flux_err: 0.0,
        area: 0.0,
        background: 0.0,
        flags: 0,
    };
    let mut out = vec![empty; positions.len()];
    for i in order {
        let (x, y) = positions[i];
        out[i] = sum_circle(img, bkg, rms, x, y, opt, noise);
    }
    out
}

/// Sigma-clipped (3σ, 5 iterations) median and standard deviation of the pixels whose centres
/// lie in the annulus `r_in ≤ d < r_out`; `None` if fewer than 10 good pixels.
fn annulus_median(
    img: Image<'_>,
    bkg: Option<&[f32]>,
    cx: f64,
    cy: f64,
    r_in: f64,
    r_out: f64,
) -> Option<(f64, f64, usize)> {
    let mut v = Vec::new();
    let (j0, j1) = (
        ((cy - r_out).floor() as i64).max(0),
        ((cy + r_out).ceil() as i64).min(img.height as i64 - 1),
    );
    let (i0, i1) = (
        ((cx - r_out).floor() as i64).max(0),
        ((cx + r_out).ceil() as i64).min(img.width as i64 - 1),
    );
    for j in j0..=j1 {
        for i in i0..=i1 {
            let d2 = (i as f64 - cx).powi(2) + (j as f64 - cy).powi(2);
            if d2 >= r_in * r_in && d2 < r_out * r_out {
                let k = j as usize * img.width + i as usize;
                let x = f64::from(img.data[k]) - bkg.map(|b| f64::from(b[k])).unwrap_or(0.0);
                if x.is_finite() {
                    v.push(x);
                }
            }
        }
    }
    let (med, sigma) = crate::stats::sigma_clipped_median(&mut v, 3.0, 5)?;
    if v.len() < 10 {
        return None;
    }
    Some((med, sigma, v.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_hand_computed_cases() {
        let r = 1.0;
        // Whole disc inside a big rectangle: π r².
        assert!((circle_rect_overlap(-2.0, 2.0, -2.0, 2.0, r) - PI).abs() < 1e-14);
        // A quadrant.
        assert!((circle_rect_overlap(0.0, 2.0, 0.0, 2.0, r) - PI / 4.0).abs() < 1e-14);
        // Half disc.
        assert!((circle_rect_overlap(-2.0, 2.0, 0.0, 2.0, r) - PI / 2.0).abs() < 1e-14);
        // Unit square inside the unit-radius circle's quadrant: square [0,a]² with a = 1/√2 is inside.
        let a = std::f64::consts::FRAC_1_SQRT_2;
        assert!((circle_rect_overlap(0.0, a, 0.0, a, r) - 0.5).abs() < 1e-14);
        // Circular segment: chord at x = 0.5 cuts off area r²acos(d/r) − d√(r²−d²).
        let seg = (0.5f64).acos() - 0.5 * (0.75f64).sqrt();
        assert!((circle_rect_overlap(0.5, 3.0, -3.0, 3.0, r) - seg).abs() < 1e-14);
        // Disjoint.
        assert_eq!(circle_rect_overlap(1.0, 2.0, 1.0, 2.0, r), 0.0);
        // A pixel whose edge is tangent to the circle at its midpoint (found by the sum test).
        let t = pixel_overlap(10, 0, 10.0, 10.0, 10.5);
        let brute = 0.996_087_5; // 400×400 sub-sampling
        assert!((t - brute).abs() < 1e-4 && t < 1.0, "{t}");
        // A pixel that only touches the circle (x0 = r up to rounding) overlaps by ~0.
        let touch = pixel_overlap(160, 51, 158.8, 50.7, 0.7);
        assert!(touch < 1e-15, "{touch:e}");
        // Pixel centred on the circle centre with r large: whole pixel.
        assert!((pixel_overlap(5, 5, 5.0, 5.0, 3.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn overlaps_sum_to_circle_area_anywhere() {
        for &(cx, cy, r) in &[
            (10.0, 10.0, 10.5),
            (10.37, 9.81, 10.5),
            (3.5, 7.25, 2.2),
            (0.123, 0.987, 0.3),
        ] {
            let mut total = 0.0;
            for j in -30..=30 {
                for i in -30..=30 {
                    total += pixel_overlap(i, j, cx, cy, r);
                }
            }
            assert!((total - PI * r * r).abs() < 1e-10, "{cx},{cy},{r}: {total}");
        }
    }

    #[test]
    fn geometry_weights_and_spans_equal_per_pixel_overlaps() {
        let mut geom = Geom::new();
        for &(cx, cy, r) in &[
            (10.0, 10.0, 10.5),
            (10.37, 9.81, 10.5),
            (3.5, 7.25, 2.2),
            (0.123, 0.987, 0.3),
            (158.8, 50.7, 0.7),
            (5.5, 5.5, 0.5),
        ] {
            geom.prepare(cx, cy, r);
            let mut total = 0.0;
            for jj in 0..geom.nr {
                let j = geom.j0 + jj as i64;
                let span = geom.row_span(jj);
                for ii in 0..geom.nc {
                    let i = geom.i0 + ii as i64;
                    let exact = pixel_overlap(i, j, cx, cy, r);
                    let wgt = geom.weight(i, jj);
                    assert!(
                        (wgt - exact).abs() < 1e-12,
                        "{cx},{cy},{r} pixel {i},{j}: {wgt} vs {exact}"
                    );
                    total += wgt;
                    match span {
                        None => assert!(
                            exact < 1e-12,
                            "row {j} skipped but pixel {i} overlaps {exact}"
                        ),
                        Some((lo, hi, ilo, ihi)) => {
                            if i < lo || i > hi {
                                assert!(
                                    exact < 1e-12,
                                    "pixel {i},{j} outside [{lo},{hi}] overlaps {exact}"
                                );
                            }
                            if i >= ilo && i <= ihi {
                                assert!(
                                    (exact - 1.0).abs() < 1e-12,
                                    "pixel {i},{j} in interior run has {exact}"
                                );
                            }
                        }
                    }
                }
            }
            assert!((total - PI * r * r).abs() < 1e-10, "{cx},{cy},{r}: {total}");
            assert!(pixel_overlap(geom.i0 - 1, geom.j0 + geom.nr as i64 / 2, cx, cy, r) < 1e-12);
            assert!(
                pixel_overlap(
                    geom.i0 + geom.nc as i64,
                    geom.j0 + geom.nr as i64 / 2,
                    cx,
                    cy,
                    r
                ) < 1e-12
            );
        }
    }

    #[test]
    fn constant_image_gives_value_times_exact_area() {
        let (w, h) = (60, 50);
        let img = vec![7.0f32; w * h];
        let im = Image::new(&img, w, h);
        let opt = CircleOptions::default();
        // Fully inside at arbitrary sub-pixel centres.
        for &(cx, cy) in &[(30.0, 25.0), (29.37, 24.61), (20.5, 20.5)] {
            let r = sum_circle(
                im,
                None,
                None,
                cx,
                cy,
                &opt,
                Noise {
                    rms: 2.0,
                    gain: 0.0,
                },
            );
            let area = PI * 10.5 * 10.5;
            assert!(
                (r.flux - 7.0 * area).abs() < 1e-9 * r.flux,
                "{cx},{cy}: {}",
                r.flux
            );
            assert!((r.flux_err - 2.0 * area.sqrt()).abs() < 1e-9);
            assert_eq!(r.flags, 0);
        }
        // Across the corner: the sum is the value times the exact overlap with the image.
        let (cx, cy) = (2.3, 3.1);
        let r = sum_circle(
            im,
            None,
            None,
            cx,
            cy,
            &opt,
            Noise {
                rms: 0.0,
                gain: 0.0,
            },
        );
        let inside = circle_rect_overlap(
            -0.5 - cx,
            w as f64 - 0.5 - cx,
            -0.5 - cy,
            h as f64 - 0.5 - cy,
            10.5,
        );
        assert!(
            (r.flux - 7.0 * inside).abs() < 1e-9 * r.flux,
            "{} vs {}",
            r.flux,
            7.0 * inside
        );
        assert_eq!(r.flags & FLAG_EDGE, FLAG_EDGE);
    }

    #[test]
    fn batch_equals_single_in_input_order() {
        let (w, h) = (50, 40);
        let img: Vec<f32> = (0..w * h).map(|i| (i % 97) as f32).collect();
        let im = Image::new(&img, w, h);
        let pos = [(30.2, 5.0), (3.0, 35.5), (25.0, 20.0), (-2.0, 10.0)];
        let opt = CircleOptions {
            radius: 4.0,
            ..Default::default()
        };
        let n = Noise {
            rms: 1.0,
            gain: 0.5,
        };
        let batch = sum_circles(im, None, None, &pos, &opt, n);
        for (p, b) in pos.iter().zip(&batch) {
            assert_eq!(*b, sum_circle(im, None, None, p.0, p.1, &opt, n));
        }
    }

    #[test]
    fn nan_pixels_are_flagged_and_left_out() {
        let (w, h) = (40, 40);
        let mut img = vec![1.0f32; w * h];
        img[20 * w + 20] = f32::NAN;
        let r = sum_circle(
            Image::new(&img, w, h),
            None,
            None,
            20.0,
            20.0,
            &CircleOptions::default(),
            Noise {
                rms: 1.0,
                gain: 0.0,
            },
        );
        assert_eq!(r.flags & FLAG_BAD_PIXEL, FLAG_BAD_PIXEL);
        assert!((r.area - (PI * 10.5 * 10.5 - 1.0)).abs() < 1e-9);
    }
}
