//! A Gaia-DR3-like catalogue of a sky region, for tests, benchmarks and the demo.
//!
//! What is realistic about it (and what the light-curve tests rely on):
//!
//! * **Counts**: sources uniform on the sphere within the cone, with G-band counts rising as
//!   dN/dG ∝ 10^(0.3 G) (a Galactic-latitude-independent approximation of Gaia's star counts)
//!   between `g_min` and `g_max`, normalised so that `density` sources per deg² are brighter
//!   than `g_max`.
//! * **Colours**: BP−RP from a normal distribution (mean 1.0, σ 0.45, clipped to [−0.3, 4]),
//!   BP and RP from G with Gaia's mean relation G − RP ≈ 0.5 (BP−RP) roughly; fluxes with the
//!   DR3 zero points (G 25.6874, BP 25.3385, RP 24.7479) and errors growing with magnitude.
//! * **Astrometry**: reference epoch 2016.0; positional errors 0.02–1 mas rising with G;
//!   proper motions N(0, 6 mas/yr) per axis plus a 1 % tail of fast movers (N(0, 150 mas/yr));
//!   parallax |N(0.5, 0.5)| mas.
//! * **source_id**: Gaia's scheme — the HEALPix order-12 nested index × 2³⁵ plus a running
//!   number — so ids are unique and spatially meaningful.
//!
//! Deterministic for a given seed.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// One source (columns named as in the Gaia archive).
#[derive(Debug, Clone, PartialEq)]
pub struct GaiaSource {
    /// `source_id`.
    pub source_id: i64,
    /// `ra` [deg] at `ref_epoch`.
    pub ra: f64,
    /// `dec` [deg] at `ref_epoch`.
    pub dec: f64,
    /// `ra_error` [mas].
    pub ra_error: f64,
    /// `dec_error` [mas].
    pub dec_error: f64,
    /// `pmra` (μα*) [mas/yr].
    pub pmra: f64,
    /// `pmdec` [mas/yr].
    pub pmdec: f64,
    /// `parallax` [mas].
    pub parallax: f64,
    /// `ref_epoch` [Julian year].
    pub ref_epoch: f64,
    /// `phot_g_mean_mag`.
    pub g: f64,
    /// `phot_bp_mean_mag`.
    pub bp: f64,
    /// `phot_rp_mean_mag`.
    pub rp: f64,
    /// `phot_g_mean_flux` [e⁻/s].
    pub g_flux: f64,
    /// `phot_g_mean_flux_error` [e⁻/s].
    pub g_flux_error: f64,
    /// `phot_bp_mean_flux` [e⁻/s].
    pub bp_flux: f64,
    /// `phot_rp_mean_flux` [e⁻/s].
    pub rp_flux: f64,
    /// `ruwe`.
    pub ruwe: f64,
}

/// Parameters of the simulated catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct GaiaSim {
    /// Cone centre RA [deg].
    pub ra: f64,
    /// Cone centre Dec [deg].
    pub dec: f64,
    /// Cone radius [deg].
    pub radius: f64,
    /// Sources per deg² brighter than `g_max`.
    pub density: f64,
    /// Brightest G.
    pub g_min: f64,
    /// Faintest G.
    pub g_max: f64,
    /// Random seed.
    pub seed: u64,
}

impl Default for GaiaSim {
    fn default() -> Self {
        Self {
            ra: 50.5,
            dec: 59.42,
            radius: 1.0,
            density: 3000.0,
            g_min: 8.0,
            g_max: 19.0,
            seed: 1,
        }
    }
}

/// DR3 photometric zero points (Vega mag of 1 e⁻/s).
const ZP_G: f64 = 25.6874;
const ZP_BP: f64 = 25.3385;
const ZP_RP: f64 = 24.7479;

impl GaiaSim {
    /// Area of the cone [deg²].
    pub fn area(&self) -> f64 {
        let r = self.radius.to_radians();
        2.0 * std::f64::consts::PI * (1.0 - r.cos()) * (180.0 / std::f64::consts::PI).powi(2)
    }

    /// Expected number of sources.
    pub fn expected(&self) -> f64 {
        self.density * self.area()
    }

    /// Draws the catalogue, sorted by source_id.
    ///
    /// # Panics
    /// If the radius is not in (0, 180], the centre's Dec outside [−90, 90], or g_min ≥ g_max.
    pub fn generate(&self) -> Vec<GaiaSource> {
        assert!(
            self.radius > 0.0 && self.radius <= 180.0,
            "radius {}",
            self.radius
        );
        assert!((-90.0..=90.0).contains(&self.dec), "dec {}", self.dec);
        assert!(self.g_min < self.g_max, "g_min ≥ g_max");
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        let n = rand_distr::Poisson::new(self.expected().max(1e-9))
            .map(|p| p.sample(&mut rng) as usize)
            .unwrap_or(0);
        let unit: Normal<f64> = Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!());
        let (a0, d0) = (self.ra.to_radians(), self.dec.to_radians());
        let cos_r = self.radius.to_radians().cos();
        let k = 0.3 * std::f64::consts::LN_10;
        let (e_lo, e_hi) = ((k * self.g_min).exp(), (k * self.g_max).exp());
        let mut out = Vec::with_capacity(n);
        let mut per_cell: std::collections::HashMap<u64, i64> = std::collections::HashMap::new();
        for _ in 0..n {
            // Uniform in the cone: cos ρ uniform in [cos r, 1], azimuth uniform.
            let cr: f64 = rng.random_range(cos_r..=1.0);
            let rho = cr.clamp(-1.0, 1.0).acos();
            let az: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let d = (d0.sin() * rho.cos() + d0.cos() * rho.sin() * az.cos())
                .clamp(-1.0, 1.0)
                .asin();
            let a = a0 + (az.sin() * rho.sin() * d0.cos()).atan2(rho.cos() - d0.sin() * d.sin());
            let (ra, dec) = (a.to_degrees().rem_euclid(360.0), d.to_degrees());
            // dN/dG ∝ 10^(0.3 G): inverse transform of the exponential.
            let u: f64 = rng.random_range(0.0..1.0);
            let g = (e_lo + u * (e_hi - e_lo)).ln() / k;
            let bp_rp = (1.0 + 0.45 * unit.sample(&mut rng)).clamp(-0.3, 4.0);
            let rp = g - 0.02 - 0.5 * bp_rp;
            let bp = rp + bp_rp;
            let flux = |m: f64, zp: f64| 10f64.powf(-0.4 * (m - zp));
            let g_flux = flux(g, ZP_G);
            let g_flux_error = (g_flux + 50.0).sqrt() * 0.3 + 2e-4 * g_flux;
            let pos_err = 0.02 * 10f64.powf(0.2 * (g - 13.0)).max(1.0);
            let fast = rng.random_range(0..100) == 0;
            let pm_sd = if fast { 150.0 } else { 6.0 };
            let cell = crate::gaia::healpix12(ra, dec);
            let seq = per_cell.entry(cell).or_insert(0);
            *seq += 1;
            out.push(GaiaSource {
                source_id: ((cell as i64) << 35) | *seq,
                ra,
                dec,
                ra_error: pos_err * (0.8 + 0.4 * rng.random_range(0.0..1.0)),
                dec_error: pos_err * (0.8 + 0.4 * rng.random_range(0.0..1.0)),
                pmra: pm_sd * unit.sample(&mut rng),
                pmdec: pm_sd * unit.sample(&mut rng),
                parallax: (0.5 + 0.5 * unit.sample(&mut rng)).abs(),
                ref_epoch: 2016.0,
                g,
                bp,
                rp,
                g_flux,
                g_flux_error,
                bp_flux: flux(bp, ZP_BP),
                rp_flux: flux(rp, ZP_RP),
                ruwe: 1.0 + 0.1 * unit.sample(&mut rng).abs(),
            });
        }
        out.sort_by_key(|s| s.source_id);
        out
    }
}

/// Writes sources as a CSV with the Gaia archive's column names (what `tomoe gaia import` reads).
pub fn write_csv(path: &std::path::Path, sources: &[GaiaSource]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        f,
        "source_id,ra,dec,ra_error,dec_error,pmra,pmdec,parallax,ref_epoch,phot_g_mean_mag,\
         phot_bp_mean_mag,phot_rp_mean_mag,phot_g_mean_flux,phot_g_mean_flux_error,\
         phot_bp_mean_flux,phot_rp_mean_flux,ruwe"
    )?;
    for s in sources {
        writeln!(
            f,
            "{},{:.12},{:.12},{:.5},{:.5},{:.5},{:.5},{:.5},{:.1},{:.6},{:.6},{:.6},{:.4},{:.4},{:.4},{:.4},{:.4}",
            s.source_id,
            s.ra,
            s.dec,
            s.ra_error,
            s.dec_error,
            s.pmra,
            s.pmdec,
            s.parallax,
            s.ref_epoch,
            s.g,
            s.bp,
            s.rp,
            s.g_flux,
            s.g_flux_error,
            s.bp_flux,
            s.rp_flux,
            s.ruwe
        )?;
    }
    f.flush()
}

/// HEALPix order-12 nested index (Gaia source_id's spatial part).
pub fn healpix12(ra: f64, dec: f64) -> u64 {
    tomoe_core::healpix::hash(12, ra, dec.clamp(-90.0, 90.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_magnitudes_ids_and_positions_are_gaia_like() {
        let sim = GaiaSim {
            radius: 0.5,
            density: 4000.0,
            ..Default::default()
        };
        let cat = sim.generate();
        let (n, exp) = (cat.len() as f64, sim.expected());
        assert!(
            (n - exp).abs() < 4.0 * exp.sqrt(),
            "{n} sources, expected {exp:.0}"
        );
        // Every source in the cone; ids unique and carrying the order-12 cell.
        let r = f64::to_radians;
        let mut ids = std::collections::HashSet::new();
        for s in &cat {
            let sep = tomoe_core::angle::separation(r(sim.ra), r(sim.dec), r(s.ra), r(s.dec));
            assert!(sep.to_degrees() <= sim.radius + 1e-9);
            assert!(ids.insert(s.source_id));
            assert_eq!((s.source_id >> 35) as u64, healpix12(s.ra, s.dec));
            assert!((s.bp - s.rp) >= -0.3 - 1e-9 && s.g >= sim.g_min && s.g <= sim.g_max);
        }
        // dN/dG ∝ 10^(0.3 G): the last magnitude holds 10^0.3 ≈ 2 times the one before.
        let bin = |lo: f64| cat.iter().filter(|s| s.g >= lo && s.g < lo + 1.0).count() as f64;
        let ratio = bin(18.0) / bin(17.0);
        assert!((ratio - 10f64.powf(0.3)).abs() < 0.25, "ratio {ratio}");
        // The same seed gives the same catalogue.
        assert_eq!(cat, sim.generate());
    }
}
