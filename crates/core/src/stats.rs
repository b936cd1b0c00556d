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
