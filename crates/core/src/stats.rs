//! Robust statistics on small samples.

/// Median of a slice (reorders it). `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let mid = n / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        Some(m)
    } else {
        let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(0.5 * (lo + m))
    }
}

/// Iterative `k`σ clipping around the median: returns (median, standard deviation) of the
/// surviving values; `v` is reduced to them. `None` when empty.
pub fn sigma_clipped_median(v: &mut Vec<f64>, k: f64, iterations: usize) -> Option<(f64, f64)> {
    let mut med = median(v)?;
    let mut sd = std_dev(v);
    for _ in 0..iterations {
        let before = v.len();
        v.retain(|x| (x - med).abs() <= k * sd);
        if v.is_empty() {
            return None;
        }
        med = median(v)?;
        sd = std_dev(v);
        if v.len() == before {
            break;
        }
    }
    Some((med, sd))
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
pub fn std_dev(v: &[f64]) -> f64 {
    let n = v.len();
    if n < 2 {
        return 0.0;
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// IRAF's zscale display limits, as astropy's `ZScaleInterval` computes them (defaults:
/// 1000 samples, contrast 0.25, max_reject 0.5, min_npixels 5, krej 2.5, 5 iterations).
///
/// The samples are taken as `f32` (image pixels), as astropy keeps them; the median of an even
/// sample averages the middle pair in `f32` like numpy. Non-finite values are ignored; every `stride`-th remaining value is sampled
/// (stride = ⌊n / 1000⌋), sorted, a line is fitted to the sorted samples with k-σ rejection
/// (rejected points dilated by 1 % of the sample), and the limits are the median ∓ the slope /
/// contrast over the sample, clipped to the sample's range. Returns `None` with no finite value.
/// Reference values: `scripts/reference/zscale_reference.py`.
pub fn zscale(values: &[f32]) -> Option<(f64, f64)> {
    let finite: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v))
        .collect();
    if finite.is_empty() {
        return None;
    }
    let stride = ((finite.len() as f64 / 1000.0).max(1.0)) as usize;
    let mut s: Vec<f64> = finite.iter().step_by(stride).take(1000).copied().collect();
    s.sort_by(f64::total_cmp);
    let npix = s.len();
    let (mut vmin, mut vmax) = (s[0], s[npix - 1]);
    let minpix = 5usize.max((npix as f64 * 0.5) as usize);
    let ngrow = 1usize.max((npix as f64 * 0.01) as usize);
    let mut bad = vec![false; npix];
    let (mut ngood, mut last) = (npix, npix + 1);
    let mut slope = 0.0;
    for _ in 0..5 {
        if ngood >= last || ngood < minpix {
            break;
        }
        // Least-squares line through the good points.
        let (mut n, mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &y) in s.iter().enumerate() {
            if !bad[i] {
                let x = i as f64;
                n += 1.0;
                sx += x;
                sy += y;
                sxx += x * x;
                sxy += x * y;
            }
        }
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
        let icpt = (sy - slope * sx) / n;
        let flat: Vec<f64> = s
            .iter()
            .enumerate()
            .map(|(i, &y)| y - (slope * i as f64 + icpt))
            .collect();
        let good: Vec<f64> = flat
            .iter()
            .zip(&bad)
            .filter(|(_, b)| !**b)
            .map(|(f, _)| *f)
            .collect();
        // numpy's std: population (ddof = 0).
        let mean = good.iter().sum::<f64>() / good.len() as f64;
        let var = good.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / good.len() as f64;
        let threshold = 2.5 * var.sqrt();
        for (b, f) in bad.iter_mut().zip(&flat) {
            if *f < -threshold || *f > threshold {
                *b = true;
            }
        }
        // Dilate like numpy.convolve(bad, ones(ngrow), mode="same"): i sees [i − ngrow/2,
        // i + (ngrow − 1)/2].
        let grown: Vec<bool> = (0..npix)
            .map(|i| {
                let lo = i.saturating_sub(ngrow / 2);
                let hi = (i + (ngrow - 1) / 2).min(npix - 1);
                bad[lo..=hi].iter().any(|&b| b)
            })
            .collect();
        bad = grown;
        last = ngood;
        ngood = bad.iter().filter(|b| !**b).count();
    }
    if ngood >= minpix {
        let slope = slope / 0.25;
        let center = (npix - 1) / 2;
        // numpy's median of float32 samples averages the middle pair in float32.
        let med = if npix % 2 == 1 {
            s[npix / 2]
        } else {
            f64::from((s[npix / 2 - 1] as f32 + s[npix / 2] as f32) / 2.0)
        };
        vmin = vmin.max(med - (center as f64 - 1.0) * slope);
        vmax = vmax.min(med + (npix - center) as f64 * slope);
    }
    Some((vmin, vmax))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_clipping() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        let mut v: Vec<f64> = (0..100).map(|i| f64::from(i % 10)).collect();
        v.push(1e6);
        let (m, s) = sigma_clipped_median(&mut v, 3.0, 5).unwrap();
        assert_eq!(v.len(), 100);
        assert_eq!(m, 4.5);
        assert!((s - 2.8867513).abs() < 1e-6);
    }
}
