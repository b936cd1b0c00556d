//! Sexagesimal angles as written in Tomo-e headers (`RA = '03:05:16.1'`, `DEC = '+22:12:50.0'`)
//! and small angular helpers.

/// Error from parsing a sexagesimal angle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sexagesimal angle {text:?}: {reason}")]
pub struct AngleParseError {
    /// The text that failed to parse.
    pub text: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// Parses `[±]a:b:c[.d]` (also space separated) into `(sign, a, b, c)` with `b, c < 60`.
fn parse_sexagesimal(text: &str) -> Result<(f64, f64, f64, f64), AngleParseError> {
    let err = |reason| AngleParseError {
        text: text.to_string(),
        reason,
    };
    let t = text.trim();
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        Some(_) => (1.0, t),
        None => return Err(err("empty")),
    };
    let parts: Vec<&str> = body.split([':', ' ']).filter(|p| !p.is_empty()).collect();
    if parts.len() != 3 {
        return Err(err("expected three fields a:b:c"));
    }
    let mut v = [0.0f64; 3];
    for (i, p) in parts.iter().enumerate() {
        if !p.bytes().all(|c| c.is_ascii_digit() || c == b'.') || p.starts_with('.') {
            return Err(err("non-numeric field"));
        }
        v[i] = p.parse().map_err(|_| err("non-numeric field"))?;
    }
    if v[1] >= 60.0 || v[2] >= 60.0 {
        return Err(err("minutes or seconds >= 60"));
    }
    Ok((sign, v[0], v[1], v[2]))
}

/// Right ascension `hh:mm:ss.s` → degrees in [0, 360).
///
/// # Errors
/// Malformed text, a sign, or hours ≥ 24.
pub fn parse_ra_hms_deg(text: &str) -> Result<f64, AngleParseError> {
    let (sign, h, m, s) = parse_sexagesimal(text)?;
    if sign < 0.0 || text.trim().starts_with('+') || h >= 24.0 {
        return Err(AngleParseError {
            text: text.to_string(),
            reason: "RA hours must be in [0, 24)",
        });
    }
    Ok((h + m / 60.0 + s / 3600.0) * 15.0)
}

/// Declination `±dd:mm:ss.s` → degrees. Values beyond ±90° are returned as they are (Tomo-e
/// calibration frames carry e.g. `+119:07:53.0`): callers decide; see [`dec_is_physical`].
pub fn parse_dec_dms_deg(text: &str) -> Result<f64, AngleParseError> {
    let (sign, d, m, s) = parse_sexagesimal(text)?;
    Ok(sign * (d + m / 60.0 + s / 3600.0))
}

/// True when a declination in degrees is within [−90°, +90°].
pub fn dec_is_physical(dec_deg: f64) -> bool {
    (-90.0..=90.0).contains(&dec_deg)
}

/// Unit vector (x, y, z) of a sky position given in **degrees** (x towards RA = 0 on the
/// equator, z towards the north pole).
pub fn unit_vector(ra_deg: f64, dec_deg: f64) -> [f64; 3] {
    let (sa, ca) = ra_deg.to_radians().sin_cos();
    let (sd, cd) = dec_deg.to_radians().sin_cos();
    [cd * ca, cd * sa, sd]
}

/// Sky position [deg] (RA in [0, 360)) of the direction of a vector (not necessarily of unit
/// length; the mean of unit vectors gives the mean position, exact across RA = 0 and at the
/// poles). `None` for the zero vector.
pub fn direction_of(v: [f64; 3]) -> Option<(f64, f64)> {
    let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if norm.is_nan() || norm <= 0.0 {
        return None;
    }
    Some((
        v[1].atan2(v[0]).to_degrees().rem_euclid(360.0),
        (v[2] / norm).clamp(-1.0, 1.0).asin().to_degrees(),
    ))
}

/// A cone on the sky for fast membership tests: a point is inside when the dot product of its
/// unit vector with the centre's is at least cos(radius) (exact, no special case at RA = 0/360
/// or the poles). Degrees in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cone {
    centre: [f64; 3],
    cos_radius: f64,
}

impl Cone {
    /// The cone of `radius_deg` around (`ra_deg`, `dec_deg`).
    pub fn new(ra_deg: f64, dec_deg: f64, radius_deg: f64) -> Self {
        Self {
            centre: unit_vector(ra_deg, dec_deg),
            cos_radius: radius_deg.to_radians().cos(),
        }
    }

    /// Cosine of the angle between the centre and (`ra_deg`, `dec_deg`) (larger is nearer).
    pub fn cos_to(&self, ra_deg: f64, dec_deg: f64) -> f64 {
        let u = unit_vector(ra_deg, dec_deg);
        u[0] * self.centre[0] + u[1] * self.centre[1] + u[2] * self.centre[2]
    }

    /// Whether (`ra_deg`, `dec_deg`) lies within the radius.
    pub fn contains(&self, ra_deg: f64, dec_deg: f64) -> bool {
        self.cos_to(ra_deg, dec_deg) >= self.cos_radius
    }
}

/// Angular separation of two points given in radians (Vincenty formula, stable at all
/// separations). Returns radians in [0, π].
pub fn separation(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let dra = ra2 - ra1;
    let (sd1, cd1) = dec1.sin_cos();
    let (sd2, cd2) = dec2.sin_cos();
    let (sdra, cdra) = dra.sin_cos();
    let num1 = cd2 * sdra;
    let num2 = cd1 * sd2 - sd1 * cd2 * cdra;
    let den = sd1 * sd2 + cd1 * cd2 * cdra;
    num1.hypot(num2).atan2(den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cone_membership_across_ra_zero_and_at_the_pole() {
        let c = Cone::new(359.99, 0.0, 0.05);
        assert!(c.contains(0.03, 0.0) && c.contains(359.95, 0.02));
        assert!(!c.contains(0.05, 0.0));
        let p = Cone::new(123.0, 90.0, 1.0);
        assert!(p.contains(0.0, 89.01) && p.contains(250.0, 89.5));
        assert!(!p.contains(0.0, 88.99));
        assert!(c.cos_to(359.99, 0.0) > c.cos_to(0.0, 0.0));
    }

    #[test]
    fn parses_header_samples() {
        // stack/cube samples; values by hand: 3h05m16.1s = 46.317083°, +22°12'50" = 22.213889°
        assert!((parse_ra_hms_deg("03:05:16.1").unwrap() - 46.317_083_333).abs() < 1e-8);
        assert!((parse_dec_dms_deg("+22:12:50.0").unwrap() - 22.213_888_889).abs() < 1e-8);
        assert!((parse_dec_dms_deg("-00:30:00").unwrap() + 0.5).abs() < 1e-12);
        let d = parse_dec_dms_deg("+119:07:53.0").unwrap();
        assert!(!dec_is_physical(d));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_ra_hms_deg("25:00:00").is_err());
        assert!(parse_ra_hms_deg("-01:00:00").is_err());
        assert!(parse_ra_hms_deg("12:60:00").is_err());
        assert!(parse_dec_dms_deg("abc").is_err());
        assert!(parse_dec_dms_deg("").is_err());
        assert!(parse_dec_dms_deg("10:20").is_err());
    }

    #[test]
    fn separation_known_cases() {
        let d = std::f64::consts::PI / 180.0;
        assert!((separation(0.0, 0.0, 90.0 * d, 0.0) - 90.0 * d).abs() < 1e-15);
        assert!((separation(10.0 * d, 89.0 * d, 190.0 * d, 89.0 * d) - 2.0 * d).abs() < 1e-14);
        // across RA = 0/360
        assert!((separation(359.9 * d, 0.0, 0.1 * d, 0.0) - 0.2 * d).abs() < 1e-14);
    }
}
