//! Background and noise maps by the SourceExtractor method (Bertin & Arnouts 1996), as
//! implemented in sep, so that our maps can be checked against sep's to 1e-4.
//!
//! 1. The image is cut into meshes of `bw × bh` pixels (the last column and row of meshes
//!    take what is left). A mesh with fewer than half its pixels finite is marked bad.
//! 2. Per mesh: mean and σ of the finite pixels; again within mean ± 2σ; then a histogram of
//!    `min(⌊√(2/π)·5/4 · n⌋ + 1, 4096)` bins spanning mean ± 5σ.
//! 3. On the histogram, iterative 3σ clipping around the median until σ converges; the mesh
//!    background is the mode estimate 2.5 × median − 1.5 × mean when |mean − median| < 0.3σ,
//!    else the median; the mesh noise is the clipped σ.
//! 4. Bad meshes take the average of their nearest good meshes; the mesh grid is median-filtered
//!    with an `fw × fh` window (shrunk symmetrically at the borders).
//! 5. The full-resolution maps are bicubic natural splines through the mesh values (first along
//!    y per mesh column, then along x per row).
//!
//! Written here (rather than binding sep) so the platform has no C dependency in its numeric
//! core and can fuse this with detection; single precision follows sep where it uses it.

use crate::phot::Image;

const NSIGMA: f64 = 5.0;
const MAX_LEVELS: usize = 4096;
const AMIN: f64 = 4.0;

/// Parameters of [`BackgroundMap::estimate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackgroundParams {
    /// Mesh width [px].
    pub bw: usize,
    /// Mesh height [px].
    pub bh: usize,
    /// Median filter width [meshes].
    pub fw: usize,
    /// Median filter height [meshes].
    pub fh: usize,
    /// A mesh value is replaced by the filtered one only if they differ by at least this.
    pub fthresh: f64,
}

impl Default for BackgroundParams {
    fn default() -> Self {
        Self {
            bw: 64,
            bh: 64,
            fw: 3,
            fh: 3,
            fthresh: 0.0,
        }
    }
}

/// A background and noise model of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundMap {
    w: usize,
    h: usize,
    nx: usize,
    ny: usize,
    bw: usize,
    bh: usize,
    back: Vec<f32>,
    sigma: Vec<f32>,
    dback: Vec<f32>,
    dsigma: Vec<f32>,
    /// Median of the mesh backgrounds.
    pub global: f32,
    /// Median of the mesh noise values.
    pub global_rms: f32,
}

struct Mesh {
    mean: f32,
    nlevels: usize,
    qzero: f32,
    qscale: f32,
    bad: bool,
}

/// Median of floats (mean of the two middle values for an even count).
fn fmedian(v: &mut [f32]) -> f32 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Second derivatives of the natural cubic spline through `y` (unit spacing), in f32.
fn spline_d2(y: &[f32]) -> Vec<f32> {
    let n = y.len();
    let mut d = vec![0.0f32; n];
    if n < 3 {
        return d;
    }
    let mut u = vec![0.0f32; n];
    for i in 1..n - 1 {
        let t = -1.0 / (d[i - 1] + 4.0);
        d[i] = t;
        u[i] = t * (u[i - 1] - 6.0 * (y[i + 1] + y[i - 1] - 2.0 * y[i]));
    }
    d[n - 1] = 0.0;
    for i in (1..n - 1).rev() {
        d[i] = (d[i] * d[i + 1] + u[i]) / 6.0;
    }
    d
}

impl BackgroundMap {
    /// Estimates the maps of `img`; non-finite pixels are ignored.
    ///
    /// # Panics
    /// If `bw`, `bh`, `fw` or `fh` is zero.
    pub fn estimate(img: Image<'_>, p: &BackgroundParams) -> BackgroundMap {
        assert!(
            p.bw > 0 && p.bh > 0 && p.fw > 0 && p.fh > 0,
            "mesh and filter sizes must be positive"
        );
        let (w, h) = (img.width, img.height);
        let nx = w.div_ceil(p.bw).max(1);
        let ny = h.div_ceil(p.bh).max(1);
        let mut back = vec![0.0f32; nx * ny];
        let mut sigma = vec![0.0f32; nx * ny];
        let mut bad = vec![false; nx * ny];
        let mut hist = Vec::new();
        for my in 0..ny {
            let (y0, y1) = (my * p.bh, ((my + 1) * p.bh).min(h));
            for mx in 0..nx {
                let (x0, x1) = (mx * p.bw, ((mx + 1) * p.bw).min(w));
                let rows = || (y0..y1).map(move |y| &img.data[y * w + x0..y * w + x1]);
                let m = mesh_stats(rows(), (x1 - x0) * (y1 - y0));
                let k = my * nx + mx;
                if m.bad {
                    bad[k] = true;
                    continue;
                }
                hist.clear();
                hist.resize(m.nlevels, 0u64);
                let cste = 0.499_999f32 - m.qzero / m.qscale;
                for row in rows() {
                    for &v in row {
                        let b = (v / m.qscale + cste) as i64;
                        if v.is_finite() && b >= 0 && (b as usize) < m.nlevels {
                            hist[b as usize] += 1;
                        }
                    }
                }
                let (b, s) = guess(&m, &hist);
                back[k] = b;
                sigma[k] = s;
            }
        }
        // Bad meshes: average of the nearest good meshes.
        if bad.iter().any(|&b| b) {
            let good: Vec<usize> = (0..nx * ny).filter(|&k| !bad[k]).collect();
            let (b0, s0) = (back.clone(), sigma.clone());
            for k in (0..nx * ny).filter(|&k| bad[k]) {
                let (px, py) = ((k % nx) as i64, (k / nx) as i64);
                let mut best = f32::INFINITY;
                let (mut vb, mut vs, mut n) = (0.0f32, 0.0f32, 0);
                for &j in &good {
                    let (x, y) = ((j % nx) as i64, (j / nx) as i64);
                    let d2 = ((x - px) * (x - px) + (y - py) * (y - py)) as f32;
                    if d2 < best {
                        (best, vb, vs, n) = (d2, b0[j], s0[j], 1);
                    } else if d2 == best {
                        vb += b0[j];
                        vs += s0[j];
                        n += 1;
                    }
                }
                back[k] = if n > 0 { vb / n as f32 } else { 0.0 };
                sigma[k] = if n > 0 { vs / n as f32 } else { 1.0 };
            }
        }
        // Median filter of the mesh grid (window shrunk symmetrically at the borders).
        let (hx, hy) = ((p.fw / 2) as i64, (p.fh / 2) as i64);
        let (mut b2, mut s2) = (back.clone(), sigma.clone());
        let (mut wb, mut ws) = (Vec::new(), Vec::new());
        for py in 0..ny as i64 {
            let ry = hy.min(py).min(ny as i64 - 1 - py);
            for px in 0..nx as i64 {
                let rx = hx.min(px).min(nx as i64 - 1 - px);
                wb.clear();
                ws.clear();
                for y in py - ry..=py + ry {
                    for x in px - rx..=px + rx {
                        wb.push(back[(y as usize) * nx + x as usize]);
                        ws.push(sigma[(y as usize) * nx + x as usize]);
                    }
                }
                let k = py as usize * nx + px as usize;
                let med = fmedian(&mut wb);
                if f64::from((med - back[k]).abs()) >= p.fthresh {
                    b2[k] = med;
                    s2[k] = fmedian(&mut ws);
                }
            }
        }
        let global = fmedian(&mut b2.clone());
        let mut global_rms = fmedian(&mut s2.clone());
        if global_rms <= 0.0 {
            let mut pos: Vec<f32> = s2.iter().copied().filter(|&s| s > 0.0).collect();
            global_rms = if pos.is_empty() {
                1.0
            } else {
                fmedian(&mut pos)
            };
        }
        let column_d2 = |map: &[f32]| -> Vec<f32> {
            let mut d = vec![0.0f32; nx * ny];
            for x in 0..nx {
                let col: Vec<f32> = (0..ny).map(|y| map[y * nx + x]).collect();
                for (y, v) in spline_d2(&col).into_iter().enumerate() {
                    d[y * nx + x] = v;
                }
            }
            d
        };
        let (dback, dsigma) = (column_d2(&b2), column_d2(&s2));
        BackgroundMap {
            w,
            h,
            nx,
            ny,
            bw: p.bw,
            bh: p.bh,
            back: b2,
            sigma: s2,
            dback,
            dsigma,
            global,
            global_rms,
        }
    }

    /// Mesh grid size (columns, rows).
    pub fn mesh_grid(&self) -> (usize, usize) {
        (self.nx, self.ny)
    }

    fn line(&self, values: &[f32], d2: &[f32], y: usize, out: &mut [f32]) {
        let (nx, ny) = (self.nx, self.ny);
        let (node, dnode): (Vec<f32>, Vec<f32>) = if ny > 1 {
            let mut dy = y as f32 / self.bh as f32 - 0.5;
            let mut yl = dy as i64; // truncation toward zero, as sep
            dy -= yl as f32;
            if yl < 0 {
                yl = 0;
                dy -= 1.0;
            } else if yl >= ny as i64 - 1 {
                yl = ny as i64 - 2;
                dy += 1.0;
            }
            let (cdy, dy3) = (1.0 - dy, dy * dy * dy - dy);
            let cdy3 = cdy * cdy * cdy - cdy;
            let lo = yl as usize * nx;
            let node: Vec<f32> = (0..nx)
                .map(|x| {
                    cdy * values[lo + x]
                        + dy * values[lo + nx + x]
                        + cdy3 * d2[lo + x]
                        + dy3 * d2[lo + nx + x]
                })
                .collect();
            let dn = spline_d2(&node);
            (node, dn)
        } else {
            (values[..nx].to_vec(), d2[..nx].to_vec())
        };
        if nx == 1 {
            out.iter_mut().for_each(|v| *v = node[0]);
            return;
        }
        let nb = self.bw;
        let step = 1.0f32 / nb as f32;
        let change = nb / 2;
        let mut dx = (step - 1.0) / 2.0;
        let dx0 = ((nb + 1) % 2) as f32 * step / 2.0;
        let (mut lo, mut x, mut i) = (0usize, 0usize, 0usize);
        for o in out.iter_mut().take(self.w) {
            if i == change && x > 0 && x < nx - 1 {
                lo += 1;
                dx = dx0;
            }
            let cdx = 1.0 - dx;
            *o = cdx * (node[lo] + (cdx * cdx - 1.0) * dnode[lo])
                + dx * (node[lo + 1] + (dx * dx - 1.0) * dnode[lo + 1]);
            i += 1;
            dx += step;
            if i == nb {
                x += 1;
                i = 0;
            }
        }
    }

    /// The background of image row `y` (length = image width).
    pub fn back_row(&self, y: usize, out: &mut [f32]) {
        self.line(&self.back, &self.dback, y, out);
    }

    /// The noise (rms) of image row `y`.
    pub fn rms_row(&self, y: usize, out: &mut [f32]) {
        self.line(&self.sigma, &self.dsigma, y, out);
    }

    /// The full background image.
    pub fn back_image(&self) -> Vec<f32> {
        let mut v = vec![0.0f32; self.w * self.h];
        for (y, row) in v.chunks_mut(self.w).enumerate() {
            self.back_row(y, row);
        }
        v
    }

    /// The full noise image.
    pub fn rms_image(&self) -> Vec<f32> {
        let mut v = vec![0.0f32; self.w * self.h];
        for (y, row) in v.chunks_mut(self.w).enumerate() {
            self.rms_row(y, row);
        }
        v
    }
}

/// Clipped mean and σ of a mesh and its histogram layout.
fn mesh_stats<'a>(rows: impl Iterator<Item = &'a [f32]> + Clone, area: usize) -> Mesh {
    let bad = Mesh {
        mean: 0.0,
        nlevels: 0,
        qzero: 0.0,
        qscale: 1.0,
        bad: true,
    };
    let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0usize);
    for row in rows.clone() {
        for &v in row {
            if v.is_finite() {
                let v = f64::from(v);
                s += v;
                s2 += v * v;
                n += 1;
            }
        }
    }
    if (n as f32) < (area as f32 * 0.5) || n == 0 {
        return bad;
    }
    let mean = s / n as f64;
    let var = s2 / n as f64 - mean * mean;
    let sd = if var > 0.0 { var.sqrt() } else { 0.0 };
    let (lcut, hcut) = ((mean - 2.0 * sd) as f32, (mean + 2.0 * sd) as f32);
    let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0usize);
    for row in rows {
        for &v in row {
            if v <= hcut && v >= lcut {
                let v = f64::from(v);
                s += v;
                s2 += v * v;
                n += 1;
            }
        }
    }
    if n == 0 {
        return bad;
    }
    let mean = s / n as f64;
    let var = s2 / n as f64 - mean * mean;
    let sd = if var > 0.0 { var.sqrt() } else { 0.0 };
    let step = (2.0 / std::f64::consts::PI).sqrt() * NSIGMA / AMIN;
    let nlevels = ((step * n as f64 + 1.0) as usize).min(MAX_LEVELS);
    let qscale = if sd > 0.0 {
        (2.0 * NSIGMA * sd / nlevels as f64) as f32
    } else {
        1.0
    };
    Mesh {
        mean: mean as f32,
        nlevels,
        qzero: (mean - NSIGMA * sd) as f32,
        qscale,
        bad: false,
    }
}

/// Mode and σ of a mesh from its histogram (iterative 3σ clipping around the median).
fn guess(m: &Mesh, hist: &[u64]) -> (f32, f32) {
    let top = m.nlevels as i64 - 1;
    let (mut lcut, mut hcut) = (0i64, top);
    let (mut sig, mut sig1) = (10.0 * top as f64, 1.0f64);
    let (mut mea, mut med) = (f64::from(m.mean), f64::from(m.mean));
    let mut iter = 0;
    while iter < 100 && sig >= 0.1 && (sig / sig1 - 1.0).abs() > 1e-4 {
        iter += 1;
        sig1 = sig;
        let (mut sum, mut lowsum, mut highsum) = (0u64, 0u64, 0u64);
        mea = 0.0;
        sig = 0.0;
        // Walk in from both ends to find the median bin.
        let (mut lo, mut hi) = (lcut, hcut);
        for i in lcut..=hcut {
            if lowsum < highsum {
                lowsum += hist[lo as usize];
                lo += 1;
            } else {
                highsum += hist[hi as usize];
                hi -= 1;
            }
            let c = hist[i as usize];
            sum += c;
            let d = c as f64 * i as f64;
            mea += d;
            sig += d * i as f64;
        }
        med = if hi >= 0 {
            let denom = hist[lo.min(top) as usize].max(hist[hi as usize]) as f64;
            hi as f64 + 0.5 + (highsum as f64 - lowsum as f64) / (2.0 * denom)
        } else {
            0.0
        };
        if sum > 0 {
            mea /= sum as f64;
            sig = sig / sum as f64 - mea * mea;
        }
        sig = if sig > 0.0 { sig.sqrt() } else { 0.0 };
        let round = |v: f64| {
            if v > 0.0 {
                (v + 0.5) as i64
            } else {
                (v - 0.5) as i64
            }
        };
        let lo_t = med - 3.0 * sig;
        lcut = if lo_t > 0.0 { round(lo_t) } else { 0 };
        let hi_t = med + 3.0 * sig;
        hcut = if hi_t < top as f64 { round(hi_t) } else { top };
    }
    let (qz, qs) = (f64::from(m.qzero), f64::from(m.qscale));
    let mode = if sig.abs() > 0.0 {
        if ((mea - med) / sig).abs() < 0.3 {
            qz + (2.5 * med - 1.5 * mea) * qs
        } else {
            qz + med * qs
        }
    } else {
        qz + mea * qs
    };
    (mode as f32, (sig * qs) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_noiseless_image_gives_its_level_and_zero_noise() {
        let (w, h) = (200, 130);
        let img = vec![42.5f32; w * h];
        let m = BackgroundMap::estimate(Image::new(&img, w, h), &BackgroundParams::default());
        assert_eq!(m.mesh_grid(), (4, 3));
        assert!(m.back_image().iter().all(|&v| (v - 42.5).abs() < 1e-4));
        assert!(m.rms_image().iter().all(|&v| v.abs() < 1e-4));
        assert!((m.global - 42.5).abs() < 1e-4);
    }

    #[test]
    fn linear_gradient_is_followed() {
        let (w, h) = (256, 192);
        let img: Vec<f32> = (0..w * h)
            .map(|k| 100.0 + 0.1 * (k % w) as f32 + 0.05 * (k / w) as f32)
            .collect();
        let m = BackgroundMap::estimate(Image::new(&img, w, h), &BackgroundParams::default());
        let b = m.back_image();
        // Interior pixels: a spline through mesh centres of a plane is the plane (mesh values
        // are the mode of a uniform distribution = its centre).
        for &(x, y) in &[(96usize, 96usize), (128, 100), (150, 70)] {
            let want = 100.0 + 0.1 * x as f32 + 0.05 * y as f32;
            assert!(
                (b[y * w + x] - want).abs() < 0.2,
                "({x},{y}): {} vs {want}",
                b[y * w + x]
            );
        }
    }

    #[test]
    fn nan_meshes_are_filled_from_neighbours() {
        let (w, h) = (192, 64);
        let mut img = vec![10.0f32; w * h];
        for y in 0..64 {
            for x in 64..128 {
                img[y * w + x] = f32::NAN;
            }
        }
        let m = BackgroundMap::estimate(Image::new(&img, w, h), &BackgroundParams::default());
        assert!(m.back_image().iter().all(|&v| (v - 10.0).abs() < 1e-4));
    }
}
