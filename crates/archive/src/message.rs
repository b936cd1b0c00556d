//! The notification wire format.
//!
//! The sender (`tomoe files announce`) publishes one JSON object per completed file:
//!
//! ```json
//! {"type":"file","path":"sTMQ1202301020086026211.fits","url":"http://host:8081/sTMQ1202301020086026211.fits",
//!  "size":9031680,"sha256":"…64 hex…","sent_at":"2023-01-02T09:48:25.123456"}
//! ```
//!
//! and a heartbeat every 5 s: `{"type":"heartbeat","sent_at":"…","host":"…"}`.
//!
//! The receiver also accepts what a simple sender sends:
//! * a bare URL: `http://host:8081/20230102/sTMQ….fits`;
//! * a bare path, resolved against the configured file-server base URL: `20230102/sTMQ….fits`;
//! * JSON with only `url` or `path`, and optional `size` and `sha256`;
//! * the words `heartbeat` or `ping` (any case), or JSON `{"type":"heartbeat"}`.
//!
//! Anything else is malformed and is refused with a reason (the daemon counts it and goes on).

use serde::{Deserialize, Serialize};
use url::Url;

/// A parsed message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A new file.
    File(Notice),
    /// Proof of life from the sender.
    Heartbeat,
}

/// A file announcement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notice {
    /// Where to fetch it.
    pub url: Url,
    /// File name (last path segment): the archive's unique key.
    pub name: String,
    /// Announced size in bytes.
    pub size: Option<u64>,
    /// Announced SHA-256 (lower-case hex).
    pub sha256: Option<String>,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed message ({reason}): {excerpt:?}")]
pub struct MessageError {
    /// What was wrong.
    pub reason: String,
    /// The start of the message.
    pub excerpt: String,
}

/// The JSON form (both directions).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireMessage {
    /// `file` or `heartbeat`; optional on input when `url` or `path` is present.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Path relative to the file server root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Absolute URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Send time (ISO UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// Sender host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

fn err(reason: impl Into<String>, text: &str) -> MessageError {
    MessageError {
        reason: reason.into(),
        excerpt: text.chars().take(120).collect(),
    }
}

/// Parses a message; bare paths are resolved against `base` (the file server root URL).
pub fn parse_message(text: &str, base: Option<&Url>) -> Result<Message, MessageError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(err("empty message", text));
    }
    if t.eq_ignore_ascii_case("heartbeat") || t.eq_ignore_ascii_case("ping") {
        return Ok(Message::Heartbeat);
    }
    if t.starts_with('{') {
        let w: WireMessage =
            serde_json::from_str(t).map_err(|e| err(format!("invalid JSON: {e}"), text))?;
        return from_wire(w, base, text);
    }
    if t.starts_with('[') || t.starts_with('"') {
        return Err(err("expected a JSON object, a URL or a path", text));
    }
    from_wire(
        WireMessage {
            path: Some(t.to_string()),
            ..Default::default()
        },
        base,
        text,
    )
}

fn from_wire(w: WireMessage, base: Option<&Url>, text: &str) -> Result<Message, MessageError> {
    match w.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("heartbeat") | Some("ping") => return Ok(Message::Heartbeat),
        Some("file") | None => {}
        Some(other) => return Err(err(format!("unknown type {other:?}"), text)),
    }
    let url = match (&w.url, &w.path) {
        (Some(u), _) => Url::parse(u).map_err(|e| err(format!("bad url: {e}"), text))?,
        (None, Some(p)) if p.starts_with("http://") || p.starts_with("https://") => {
            Url::parse(p).map_err(|e| err(format!("bad url: {e}"), text))?
        }
        (None, Some(p)) => {
            let base = base.ok_or_else(|| {
                err(
                    "a bare path needs the file server base URL (archive.source_url)",
                    text,
                )
            })?;
            let p = p.trim_start_matches('/');
            if p.split('/').any(|s| s == ".." || s == ".")
                || p.chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
            {
                return Err(err(
                    "path contains '..', '.', whitespace or control characters",
                    text,
                ));
            }
            base.join(p)
                .map_err(|e| err(format!("bad path: {e}"), text))?
        }
        (None, None) => return Err(err("no url or path", text)),
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(err(
            format!("unsupported URL scheme {:?}", url.scheme()),
            text,
        ));
    }
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .to_string()
        })
        .filter(|s| !s.is_empty() && !s.starts_with('.') && !s.contains('/'))
        .ok_or_else(|| err("URL does not end in a file name", text))?;
    let sha256 = match w.sha256 {
        Some(s) => {
            let s = s.trim().to_ascii_lowercase();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err("sha256 must be 64 hex digits", text));
            }
            Some(s)
        }
        None => None,
    };
    Ok(Message::File(Notice {
        url,
        name,
        size: w.size,
        sha256,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://files:8081/root/").unwrap()
    }

    #[test]
    fn accepts_every_documented_form() {
        let full = r#"{"type":"file","path":"a/sTMQ1202301020086026211.fits","url":"http://h:1/a/sTMQ1202301020086026211.fits","size":5,"sha256":"AB5DF625BC76DBD4E163BED2DD888DF828F90159BB93556525C31821B6541D46"}"#;
        let Message::File(n) = parse_message(full, Some(&base())).unwrap() else {
            panic!()
        };
        assert_eq!(n.url.as_str(), "http://h:1/a/sTMQ1202301020086026211.fits");
        assert_eq!(n.name, "sTMQ1202301020086026211.fits");
        assert_eq!(n.size, Some(5));
        assert_eq!(
            n.sha256.as_deref(),
            Some("ab5df625bc76dbd4e163bed2dd888df828f90159bb93556525c31821b6541d46")
        );
        let Message::File(n) = parse_message("  20230102/s.fits\n", Some(&base())).unwrap() else {
            panic!()
        };
        assert_eq!(n.url.as_str(), "http://files:8081/root/20230102/s.fits");
        let Message::File(n) = parse_message("/x.fits", Some(&base())).unwrap() else {
            panic!()
        };
        assert_eq!(n.url.as_str(), "http://files:8081/root/x.fits");
        let Message::File(n) = parse_message("http://o:9/d/f%20g.fits", None).unwrap() else {
            panic!()
        };
        assert_eq!(n.name, "f g.fits");
        let Message::File(n) =
            parse_message(r#"{"path":"q.fits","size":10}"#, Some(&base())).unwrap()
        else {
            panic!()
        };
        assert_eq!((n.name.as_str(), n.size), ("q.fits", Some(10)));
        for hb in ["heartbeat", "PING", r#"{"type":"heartbeat","sent_at":"x"}"#] {
            assert_eq!(parse_message(hb, None).unwrap(), Message::Heartbeat);
        }
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "   ",
            "{not json",
            r#"{"type":"nope","path":"a"}"#,
            r#"{"size":3}"#,
            "../etc/passwd",
            "a/../../b",
            "ftp://x/y",
            "http://x/",
            r#"{"path":"a.fits","sha256":"xyz"}"#,
            "[1,2]",
            "a b.fits",
        ] {
            let e = parse_message(bad, Some(&base()));
            assert!(e.is_err(), "{bad:?} accepted: {e:?}");
        }
        assert!(parse_message("x.fits", None)
            .unwrap_err()
            .reason
            .contains("base URL"));
    }
}
