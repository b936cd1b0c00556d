//! The platform configuration file (`tomoe.toml`).
//!
//! One TOML file; every key has a default (so an empty file, or none, is valid); unknown keys
//! are errors. Any key can be overridden from the environment as
//! `TOMOE_<SECTION>_<KEY>` (upper case), e.g. `TOMOE_ARCHIVE_REDIS_URL=redis://host:6379/`.
//! Values from the environment are read as TOML literals when they parse as such (numbers,
//! booleans) and as strings otherwise.
//!
//! Lookup: `--config FILE`, else `$TOMOE_CONFIG`, else `./tomoe.toml` when present, else defaults.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tomoe_archive::ArchiveConfig;
use tomoe_web::WebConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The archive daemon and observation log.
    pub archive: ArchiveConfig,
    /// Photometry defaults.
    pub photometry: PhotometryConfig,
    /// The web server (`tomoe serve`).
    pub web: WebConfig,
    /// The light-curve ingest (`tomoe lc`, `tomoe gaia`).
    pub lightcurve: tomoe_lightcurve::config::LightcurveConfig,
}

/// `[photometry]`: the noise model per gain setting (FORMAT.md §1: inverse gain 0.23 / 0.94 /
/// 2.4 e⁻/ADU and read noise 2.0 / 4.1 / 9.2 e⁻ for the high / mid / low settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhotometryConfig {
    /// Which setting the data were taken with: `high`, `mid` or `low`.
    pub gain_setting: String,
    /// Inverse gain [e⁻/ADU] at high, mid, low gain.
    pub gain_e_per_adu: [f64; 3],
    /// Read noise [e⁻] at high, mid, low gain.
    pub read_noise_e: [f64; 3],
    /// Aperture radius [px] (21 px diameter).
    pub radius: f64,
    /// Saturation level [ADU].
    pub saturation: f64,
}

impl Default for PhotometryConfig {
    fn default() -> Self {
        Self {
            gain_setting: "mid".into(),
            gain_e_per_adu: [0.23, 0.94, 2.4],
            read_noise_e: [2.0, 4.1, 9.2],
            radius: 10.5,
            saturation: 60_000.0,
        }
    }
}

impl PhotometryConfig {
    /// Index of the gain setting.
    pub fn setting(&self) -> Result<usize, String> {
        match self.gain_setting.as_str() {
            "high" => Ok(0),
            "mid" => Ok(1),
            "low" => Ok(2),
            other => Err(format!(
                "photometry.gain_setting {other:?}: expected high, mid or low"
            )),
        }
    }

    /// (inverse gain [e⁻/ADU], read noise [e⁻]) of the configured setting.
    pub fn noise(&self) -> Result<(f64, f64), String> {
        let i = self.setting()?;
        Ok((self.gain_e_per_adu[i], self.read_noise_e[i]))
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Environment variables applied.
    pub env_overrides: Vec<String>,
}

/// Loads the configuration (see module docs).
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Loaded> {
    let file = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => match std::env::var_os("TOMOE_CONFIG") {
            Some(p) => Some(PathBuf::from(p)),
            None => Some(PathBuf::from("tomoe.toml")).filter(|p| p.exists()),
        },
    };
    let text = match &file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read config file {}", p.display()))?,
        None => String::new(),
    };
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("TOMOE_"))
        .collect();
    let (config, env_overrides) = parse_with_env(&text, &env).with_context(|| match &file {
        Some(p) => format!("invalid configuration in {}", p.display()),
        None => "invalid configuration".to_string(),
    })?;
    config.archive.validate().map_err(anyhow::Error::msg)?;
    config.photometry.setting().map_err(anyhow::Error::msg)?;
    config.lightcurve.validate().map_err(anyhow::Error::msg)?;
    Ok(Loaded {
        config,
        file,
        env_overrides,
    })
}

impl Config {
    /// Places `[web]` and `[archive]` should share but name differently (archive root, log,
    /// blocklist, previews): each is a warning line.
    pub fn shared_path_warnings(&self) -> Vec<String> {
        let (a, w) = (&self.archive, &self.web);
        let lc = (
            "lightcurves_root",
            &self.lightcurve.root,
            &w.lightcurves_root,
        );
        [
            ("archive_root", &a.archive_root, &w.archive_root),
            ("obslog_root", &a.obslog_root, &w.obslog_root),
            ("blocklist_dir", &a.blocklist_dir, &w.blocklist_dir),
            ("previews_dir", &a.previews_dir, &w.previews_dir),
        ]
        .into_iter()
        .chain(std::iter::once(lc))
        .filter(|(k, x, y)| x != y && !(*k == "previews_dir" && x.as_os_str().is_empty()))
        .map(|(k, x, y)| {
            let (section, key) = if k == "lightcurves_root" {
                ("lightcurve", "root")
            } else {
                ("archive", k)
            };
            format!(
                "warning: [{section}] {key} = {} but [web] {k} = {}: the web server will not see what is written there",
                x.display(),
                y.display()
            )
        })
        .collect()
    }
}

/// Parses TOML text and applies `TOMOE_<SECTION>_<KEY>` overrides.
pub fn parse_with_env(
    text: &str,
    env: &[(String, String)],
) -> anyhow::Result<(Config, Vec<String>)> {
    // Strict parse of the file first, for precise error messages.
    let parsed: Config = toml::from_str(text)?;
    let mut value = toml::Value::try_from(&parsed)?;
    let mut applied = Vec::new();
    let sections: Vec<String> = value
        .as_table()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    for (k, v) in env {
        let Some(rest) = k.strip_prefix("TOMOE_") else {
            continue;
        };
        let lower = rest.to_ascii_lowercase();
        let Some(section) = sections
            .iter()
            .find(|s| lower.starts_with(&format!("{s}_")))
        else {
            continue;
        };
        let key = &lower[section.len() + 1..];
        let Some(table) = value.get_mut(section).and_then(|t| t.as_table_mut()) else {
            continue;
        };
        if !table.contains_key(key) {
            bail!("environment variable {k}: {section} has no key {key:?}");
        }
        let literal = toml::from_str::<toml::Table>(&format!("v = {v}"))
            .ok()
            .and_then(|t| t.get("v").cloned());
        let new = match (literal, &table[key]) {
            (Some(l), old) if std::mem::discriminant(&l) == std::mem::discriminant(old) => l,
            (Some(toml::Value::Integer(i)), toml::Value::Float(_)) => toml::Value::Float(i as f64),
            _ => toml::Value::String(v.clone()),
        };
        table.insert(key.to_string(), new);
        applied.push(k.clone());
    }
    let config: Config = value
        .try_into()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("after environment overrides: {e}"))?;
    Ok((config, applied))
}

/// A commented example configuration with every key at its default.
pub fn example() -> String {
    let body = toml::to_string_pretty(&Config::default()).unwrap_or_default();
    format!(
        "# tomoe.toml — every key is optional; these are the defaults.\n\
         # Override any key from the environment as TOMOE_<SECTION>_<KEY>, e.g. TOMOE_ARCHIVE_REDIS_URL.\n\
         # archive.transport: \"pubsub\" (default) or \"stream\" (Redis stream + consumer group).\n\
         # web.admin_token enables the blocklist admin API (better set TOMOE_WEB_ADMIN_TOKEN); web paths\n\
         # must name the same archive, log and blocklist as [archive].\n\
         # photometry.gain_setting picks the column of gain_e_per_adu and read_noise_e: high, mid, low.\n\
         # Durations are in the unit their name ends with (_ms, _s, _hours).\n\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_example_roundtrip_and_strictness() {
        let (c, _) = parse_with_env("", &[]).unwrap();
        assert_eq!(c, Config::default());
        let (c2, _) = parse_with_env(&example(), &[]).unwrap();
        assert_eq!(c2, Config::default());
        let err = parse_with_env("[archive]\nconcurency = 3\n", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("concurency"), "{err}");
        assert!(parse_with_env("[nope]\n", &[]).is_err());
    }

    #[test]
    fn photometry_gain_settings() {
        let (c, _) = parse_with_env("[photometry]\ngain_setting = \"low\"\n", &[]).unwrap();
        assert_eq!(c.photometry.noise().unwrap(), (2.4, 9.2));
        assert_eq!(Config::default().photometry.noise().unwrap(), (0.94, 4.1));
        let (c, _) = parse_with_env("[photometry]\ngain_setting = \"medium\"\n", &[]).unwrap();
        assert!(c.photometry.noise().unwrap_err().contains("medium"));
        let env = vec![(
            "TOMOE_PHOTOMETRY_GAIN_SETTING".to_string(),
            "high".to_string(),
        )];
        let (c, _) = parse_with_env("", &env).unwrap();
        assert_eq!(c.photometry.noise().unwrap(), (0.23, 2.0));
    }

    #[test]
    fn shared_paths_are_checked() {
        assert!(Config::default().shared_path_warnings().is_empty());
        let (c, _) = parse_with_env("[web]\nobslog_root = \"elsewhere\"\n", &[]).unwrap();
        let w = c.shared_path_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("obslog_root"), "{w:?}");
    }

    #[test]
    fn lightcurve_section_is_validated_with_its_key_named() {
        let (c, _) = parse_with_env("[lightcurve]\nmatch_radius_arcsec = -1\n", &[]).unwrap();
        let e = c.lightcurve.validate().unwrap_err();
        assert!(e.contains("lightcurve.match_radius_arcsec"), "{e}");
        let e = parse_with_env("[lightcurve]\nmatch_radius = 1\n", &[]).unwrap_err();
        assert!(format!("{e:#}").contains("match_radius"), "{e:#}");
        let (c, _) = parse_with_env(
            "[lightcurve.columns]\nx = \"XWIN_IMAGE\"\none_based = true\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.lightcurve.columns.x, "XWIN_IMAGE");
    }

    #[test]
    fn env_overrides() {
        let env = vec![
            ("TOMOE_ARCHIVE_CONCURRENCY".to_string(), "3".to_string()),
            (
                "TOMOE_ARCHIVE_REDIS_URL".to_string(),
                "redis://h:1/".to_string(),
            ),
            (
                "TOMOE_ARCHIVE_SEAL_AFTER_HOURS".to_string(),
                "2".to_string(),
            ),
            ("TOMOE_LOG".to_string(), "debug".to_string()),
        ];
        let (c, applied) = parse_with_env("[archive]\nconcurrency = 5\n", &env).unwrap();
        assert_eq!(c.archive.concurrency, 3);
        assert_eq!(c.archive.redis_url, "redis://h:1/");
        assert_eq!(c.archive.seal_after_hours, 2.0);
        assert_eq!(applied.len(), 3);
        let bad = vec![("TOMOE_ARCHIVE_NOPE".to_string(), "1".to_string())];
        assert!(parse_with_env("", &bad)
            .unwrap_err()
            .to_string()
            .contains("nope"));
        let bad = vec![("TOMOE_ARCHIVE_CONCURRENCY".to_string(), "many".to_string())];
        assert!(parse_with_env("", &bad).is_err());
    }
}
