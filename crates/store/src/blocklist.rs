//! The blocklist: rules that hide archived files from every public surface, and optionally
//! stop them being fetched.
//!
//! A rule matches chip files by one of: Frame ID, `EXP_ID` (every chip of an exposure), an
//! object-name pattern (`*` and `?` wildcards, case-insensitive), a project (exact,
//! case-insensitive), a UTC time range (start inclusive, end exclusive, on the exposure start),
//! or a sky cone (on the chip's WCS centre, or the telescope pointing when the chip has none).
//! Every rule carries a reason and an author; `no_fetch` rules also make the archive daemon
//! refuse the file.
//!
//! Storage: `<dir>/rules.json` (rewritten atomically) and `<dir>/audit.jsonl` (one line per
//! change, appended and synced, never rewritten). Writers take an exclusive lock on
//! `<dir>/_lock`, so the CLI and a running server can both change the list. Readers notice
//! changes through [`Blocklist::version`] (the rules file's modification time and size).

use crate::atomic::write_atomic;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use tomoe_core::angle::Cone;
use tomoe_core::time::UtcMicros;

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// One chip file by Frame ID.
    FrameId {
        /// The 22-character Frame ID.
        frame_id: String,
    },
    /// Every chip file of an exposure.
    ExpId {
        /// `EXP_ID`.
        exp_id: i64,
    },
    /// Object names matching a pattern (`*`, `?`; case-insensitive).
    Object {
        /// The pattern.
        pattern: String,
    },
    /// A project (case-insensitive exact match).
    Project {
        /// The project name.
        project: String,
    },
    /// Exposures starting in `[from, to)`, ISO 8601 UTC.
    Time {
        /// Start (inclusive).
        from: String,
        /// End (exclusive).
        to: String,
    },
    /// A cone on the sky [degrees].
    Cone {
        /// Right ascension of the centre [deg].
        ra: f64,
        /// Declination of the centre [deg].
        dec: f64,
        /// Radius [deg].
        radius: f64,
    },
}

/// One rule. (`deny_unknown_fields` cannot be combined with the flattened kind; the kind's
/// own fields are checked.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Identifier (assigned on add, never reused).
    pub id: u64,
    /// What it matches.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// Why.
    pub reason: String,
    /// Who added it.
    pub author: String,
    /// When it was added (ISO 8601 UTC).
    pub created: String,
    /// Also refuse to fetch matching files.
    #[serde(default)]
    pub no_fetch: bool,
}

/// A rule to add (no id or time yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRule {
    /// What it matches.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// Why (required, non-empty).
    pub reason: String,
    /// Who (required, non-empty).
    pub author: String,
    /// Also refuse to fetch matching files.
    #[serde(default)]
    pub no_fetch: bool,
}

/// What the rules see of a chip file.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileFacts<'a> {
    /// Frame ID.
    pub frame_id: Option<&'a str>,
    /// `EXP_ID`.
    pub exp_id: Option<i64>,
    /// `OBJECT`.
    pub object: Option<&'a str>,
    /// `PROJECT`.
    pub project: Option<&'a str>,
    /// Start of the exposure.
    pub utc_start: Option<UtcMicros>,
    /// Position [deg]: the chip's WCS centre, else the pointing.
    pub ra_dec: Option<(f64, f64)>,
}

/// Errors of the blocklist.
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    /// The rule is not valid; the message says why.
    #[error("invalid rule: {0}")]
    Invalid(String),
    /// No rule with this id.
    #[error("no blocklist rule with id {0}")]
    NotFound(u64),
    /// Reading or writing the files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The rules file is not valid JSON of rules.
    #[error("{path}: not a valid rules file: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BlocklistError + '_ {
    move |source| BlocklistError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    next_id: u64,
    rules: Vec<Rule>,
}

/// A compiled rule set for matching.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<(Rule, Compiled)>,
}

#[derive(Debug, Clone)]
enum Compiled {
    FrameId(String),
    ExpId(i64),
    Object(Vec<char>),
    Project(String),
    Time(i64, i64),
    /// A sky cone (unit-vector test).
    Cone(Cone),
}

/// Case-insensitive glob match with `*` and `?`.
fn glob_match(pattern: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let (mut p, mut t) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '*' {
        p += 1;
    }
    p == pattern.len()
}

fn parse_time(s: &str, what: &str) -> Result<i64, BlocklistError> {
    UtcMicros::parse_iso(s)
        .map(|t| t.0)
        .map_err(|e| BlocklistError::Invalid(format!("{what}: {e}")))
}

impl RuleKind {
    fn compile(&self) -> Result<Compiled, BlocklistError> {
        let bad = |m: String| Err(BlocklistError::Invalid(m));
        Ok(match self {
            RuleKind::FrameId { frame_id } => {
                let f = frame_id.trim();
                if f.is_empty() || f.len() > 64 || !f.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return bad(format!("frame_id {frame_id:?} is not a Frame ID"));
                }
                Compiled::FrameId(f.to_string())
            }
            RuleKind::ExpId { exp_id } => {
                if *exp_id < 0 {
                    return bad(format!("exp_id {exp_id} is negative"));
                }
                Compiled::ExpId(*exp_id)
            }
            RuleKind::Object { pattern } => {
                if pattern.trim().is_empty() || pattern.len() > 200 {
                    return bad("object pattern must be 1–200 characters".into());
                }
                Compiled::Object(pattern.chars().flat_map(char::to_lowercase).collect())
            }
            RuleKind::Project { project } => {
                if project.trim().is_empty() {
                    return bad("project must not be empty".into());
                }
                Compiled::Project(project.trim().to_lowercase())
            }
            RuleKind::Time { from, to } => {
                let (a, b) = (parse_time(from, "from")?, parse_time(to, "to")?);
                if b <= a {
                    return bad(format!("time range is empty: from {from} to {to}"));
                }
                Compiled::Time(a, b)
            }
            RuleKind::Cone { ra, dec, radius } => {
                if !(ra.is_finite() && (0.0..360.0).contains(ra)) {
                    return bad(format!("cone ra {ra} is outside [0, 360) degrees"));
                }
                if !(dec.is_finite() && (-90.0..=90.0).contains(dec)) {
                    return bad(format!("cone dec {dec} is outside [-90, 90] degrees"));
                }
                if !(radius.is_finite() && *radius > 0.0 && *radius <= 180.0) {
                    return bad(format!("cone radius {radius} is outside (0, 180] degrees"));
                }
                Compiled::Cone(Cone::new(*ra, *dec, *radius))
            }
        })
    }
}

impl NewRule {
    /// Checks the rule (also done by [`Blocklist::add`]).
    pub fn validate(&self) -> Result<(), BlocklistError> {
        if self.reason.trim().is_empty() {
            return Err(BlocklistError::Invalid("a reason is required".into()));
        }
        if self.author.trim().is_empty() {
            return Err(BlocklistError::Invalid("an author is required".into()));
        }
        self.kind.compile().map(|_| ())
    }
}

impl Compiled {
    fn matches(&self, f: &FileFacts<'_>) -> bool {
        match self {
            Compiled::FrameId(id) => f.frame_id == Some(id.as_str()),
            Compiled::ExpId(e) => f.exp_id == Some(*e),
            Compiled::Object(p) => f.object.is_some_and(|o| glob_match(p, o)),
            Compiled::Project(p) => f.project.is_some_and(|x| x.trim().to_lowercase() == *p),
            Compiled::Time(a, b) => f.utc_start.is_some_and(|t| t.0 >= *a && t.0 < *b),
            Compiled::Cone(c) => f.ra_dec.is_some_and(|(ra, dec)| c.contains(ra, dec)),
        }
    }
}

impl RuleSet {
    /// Compiles rules (invalid ones, which `add` never writes, are skipped with a warning).
    pub fn new(rules: &[Rule]) -> Self {
        let rules = rules
            .iter()
            .filter_map(|r| match r.kind.compile() {
                Ok(c) => Some((r.clone(), c)),
                Err(e) => {
                    tracing::warn!(rule = r.id, error = %e, "blocklist rule skipped");
                    None
                }
            })
            .collect();
        Self { rules }
    }

    /// The first rule that hides this file, if any.
    pub fn blocking(&self, f: &FileFacts<'_>) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|(_, c)| c.matches(f))
            .map(|(r, _)| r)
    }

    /// The first `no_fetch` rule that refuses this file, if any.
    pub fn refusing(&self, f: &FileFacts<'_>) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|(r, c)| r.no_fetch && c.matches(f))
            .map(|(r, _)| r)
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Frame-ID and exp-ID rules only? (Then a file name is enough to decide.)
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|(r, _)| r)
    }
}

/// The blocklist directory.
#[derive(Debug, Clone)]
pub struct Blocklist {
    dir: PathBuf,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When (ISO 8601 UTC).
    pub at: String,
    /// `add` or `remove`.
    pub action: String,
    /// Who made the change.
    pub by: String,
    /// The rule added or removed.
    pub rule: Rule,
}

impl Blocklist {
    /// Opens (and creates) the blocklist directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, BlocklistError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn rules_path(&self) -> PathBuf {
        self.dir.join("rules.json")
    }

    /// The audit log's path.
    pub fn audit_path(&self) -> PathBuf {
        self.dir.join("audit.jsonl")
    }

    fn read_file(&self) -> Result<RulesFile, BlocklistError> {
        let p = self.rules_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| BlocklistError::Corrupt {
                path: p.clone(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RulesFile {
                next_id: 1,
                rules: Vec::new(),
            }),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// The rules, in the order they were added.
    pub fn rules(&self) -> Result<Vec<Rule>, BlocklistError> {
        Ok(self.read_file()?.rules)
    }

    /// The compiled rule set.
    pub fn rule_set(&self) -> Result<RuleSet, BlocklistError> {
        Ok(RuleSet::new(&self.rules()?))
    }

    /// A token that changes whenever the rules file changes (mtime and size).
    pub fn version(&self) -> Option<(std::time::SystemTime, u64)> {
        let m = std::fs::metadata(self.rules_path()).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    fn locked<T>(
        &self,
        f: impl FnOnce(&mut RulesFile) -> Result<(T, AuditEntry), BlocklistError>,
    ) -> Result<T, BlocklistError> {
        let lock_path = self.dir.join("_lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err(&lock_path)(e.into()))?;
        let mut file = self.read_file()?;
        let (out, entry) = f(&mut file)?;
        // Audit first: a change is never in effect without its record.
        let ap = self.audit_path();
        let mut audit = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&ap)
            .map_err(io_err(&ap))?;
        let mut line =
            serde_json::to_vec(&entry).map_err(|e| BlocklistError::Invalid(e.to_string()))?;
        line.push(b'\n');
        audit.write_all(&line).map_err(io_err(&ap))?;
        audit.sync_all().map_err(io_err(&ap))?;
        let body =
            serde_json::to_vec_pretty(&file).map_err(|e| BlocklistError::Invalid(e.to_string()))?;
        let rp = self.rules_path();
        write_atomic(&rp, |f| f.write_all(&body)).map_err(io_err(&rp))?;
        Ok(out)
    }

    /// Adds a rule and records it in the audit log.
    pub fn add(&self, new: NewRule) -> Result<Rule, BlocklistError> {
        new.validate()?;
        self.locked(|file| {
            let rule = Rule {
                id: file.next_id.max(1),
                kind: new.kind,
                reason: new.reason.trim().to_string(),
                author: new.author.trim().to_string(),
                created: UtcMicros::now().to_iso(),
                no_fetch: new.no_fetch,
            };
            file.next_id = rule.id + 1;
            file.rules.push(rule.clone());
            let entry = AuditEntry {
                at: rule.created.clone(),
                action: "add".into(),
                by: rule.author.clone(),
                rule: rule.clone(),
            };
            Ok((rule, entry))
        })
    }

    /// Removes rule `id`; `by` is recorded in the audit log.
    pub fn remove(&self, id: u64, by: &str) -> Result<Rule, BlocklistError> {
        if by.trim().is_empty() {
            return Err(BlocklistError::Invalid(
                "who removes the rule is required".into(),
            ));
        }
        self.locked(|file| {
            let k = file
                .rules
                .iter()
                .position(|r| r.id == id)
                .ok_or(BlocklistError::NotFound(id))?;
            let rule = file.rules.remove(k);
            let entry = AuditEntry {
                at: UtcMicros::now().to_iso(),
                action: "remove".into(),
                by: by.trim().to_string(),
                rule: rule.clone(),
            };
            Ok((rule, entry))
        })
    }

    /// The audit log, oldest first.
    pub fn audit(&self) -> Result<Vec<AuditEntry>, BlocklistError> {
        let p = self.audit_path();
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&p)(e)),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| BlocklistError::Corrupt {
                    path: p.clone(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn glob_is_case_insensitive_with_wildcards() {
        let p = |s: &str| s.chars().flat_map(char::to_lowercase).collect::<Vec<_>>();
        assert!(glob_match(&p("M3?"), "m31"));
        assert!(glob_match(&p("*secret*"), "A SECRET field"));
        assert!(!glob_match(&p("M3?"), "M3"));
        assert!(glob_match(&p("*"), ""));
        assert!(!glob_match(&p("a*b"), "acbd"));
        assert!(glob_match(&p("a*b*"), "acbd"));
    }

    #[test]
    fn cone_across_ra_zero_and_at_the_pole() {
        let r = RuleKind::Cone {
            ra: 359.9,
            dec: 0.0,
            radius: 0.5,
        }
        .compile()
        .unwrap();
        let at = |ra, dec| FileFacts {
            ra_dec: Some((ra, dec)),
            ..Default::default()
        };
        assert!(r.matches(&at(0.3, 0.1)));
        assert!(!r.matches(&at(0.5, 0.0)));
        let pole = RuleKind::Cone {
            ra: 0.0,
            dec: 90.0,
            radius: 1.0,
        }
        .compile()
        .unwrap();
        assert!(pole.matches(&at(200.0, 89.2)));
        assert!(!pole.matches(&at(200.0, 88.9)));
    }

    #[test]
    fn add_remove_audit_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let b = Blocklist::open(dir.path()).unwrap();
        let bad = NewRule {
            kind: RuleKind::Cone {
                ra: 400.0,
                dec: 0.0,
                radius: 1.0,
            },
            reason: "x".into(),
            author: "y".into(),
            no_fetch: false,
        };
        assert!(b.add(bad).unwrap_err().to_string().contains("ra 400"));
        let no_reason = NewRule {
            kind: RuleKind::ExpId { exp_id: 5 },
            reason: " ".into(),
            author: "y".into(),
            no_fetch: false,
        };
        assert!(b.add(no_reason).is_err());
        let r1 = b
            .add(NewRule {
                kind: RuleKind::ExpId { exp_id: 5 },
                reason: "embargo".into(),
                author: "ops".into(),
                no_fetch: true,
            })
            .unwrap();
        let r2 = b
            .add(NewRule {
                kind: RuleKind::Project {
                    project: "Secret".into(),
                },
                reason: "private".into(),
                author: "ops".into(),
                no_fetch: false,
            })
            .unwrap();
        assert_eq!((r1.id, r2.id), (1, 2));
        let set = b.rule_set().unwrap();
        let f = FileFacts {
            exp_id: Some(5),
            ..Default::default()
        };
        assert_eq!(set.blocking(&f).unwrap().id, 1);
        assert_eq!(set.refusing(&f).unwrap().id, 1);
        let g = FileFacts {
            project: Some("secret "),
            ..Default::default()
        };
        assert_eq!(set.blocking(&g).unwrap().id, 2);
        assert!(set.refusing(&g).is_none());
        b.remove(1, "admin").unwrap();
        assert!(matches!(
            b.remove(1, "admin"),
            Err(BlocklistError::NotFound(1))
        ));
        // Ids are never reused.
        let r3 = b
            .add(NewRule {
                kind: RuleKind::FrameId {
                    frame_id: "TMQ1202301020086026211".into(),
                },
                reason: "bad chip".into(),
                author: "ops".into(),
                no_fetch: false,
            })
            .unwrap();
        assert_eq!(r3.id, 3);
        let audit = b.audit().unwrap();
        let actions: Vec<_> = audit
            .iter()
            .map(|a| (a.action.as_str(), a.rule.id))
            .collect();
        assert_eq!(actions, [("add", 1), ("add", 2), ("remove", 1), ("add", 3)]);
        assert_eq!(audit[2].by, "admin");
    }
}
