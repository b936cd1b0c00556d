//! FITS header cards: lenient parsing, verbatim keeping, fixed-format writing.

use crate::{BLOCK, CARD};
use std::fmt;

/// Error reading a header.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeaderError {
    /// The bytes ended before an `END` card.
    #[error("header has no END card within {bytes} bytes (truncated file or not FITS)")]
    NoEnd {
        /// How many bytes were read.
        bytes: usize,
    },
    /// A card holds bytes outside printable ASCII.
    #[error("card {index} contains non-ASCII bytes")]
    NonAscii {
        /// 0-based card index.
        index: usize,
    },
    /// A keyword is required but absent.
    #[error("keyword {0} is missing")]
    Missing(String),
    /// A keyword has a value of the wrong type.
    #[error("keyword {key} has value {raw:?}, expected {expected}")]
    BadValue {
        /// Keyword.
        key: String,
        /// The raw value text.
        raw: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A parsed card value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Character string (quotes removed, `''` unescaped, trailing blanks removed).
    Str(String),
    /// Logical `T`/`F`.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Floating point (also accepts Fortran `D` exponents).
    Float(f64),
    /// A value field that is not one of the above (kept raw).
    Other(String),
}

impl Value {
    /// The value as `f64` when numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// One 80-column header card.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// Keyword (upper case, trimmed; HIERARCH keywords without the prefix).
    pub keyword: String,
    /// Value, for value cards (`= ` in columns 9–10). Commentary cards have none.
    pub value: Option<Value>,
    /// Comment text after `/`, trimmed.
    pub comment: Option<String>,
    /// The card exactly as read (80 bytes, space padded).
    pub raw: String,
}

/// Commentary keywords whose columns 9–80 are free text even when they look like `= value`
/// (Tomo-e section dividers are `COMMENT = '---------- DATA SECTION'`).
const COMMENTARY: [&str; 3] = ["COMMENT", "HISTORY", ""];

impl Card {
    /// Parses one card (up to 80 characters; shorter input is space padded).
    pub fn parse(text: &str) -> Card {
        let raw = format!("{text:<80}");
        let raw = raw[..CARD.min(raw.len())].to_string();
        let key_field = raw[..8].trim_end();
        let upper = key_field.to_ascii_uppercase();
        if COMMENTARY.contains(&upper.as_str()) || upper == "END" {
            let text = raw[8..].trim_end();
            return Card {
                keyword: upper,
                value: None,
                comment: if text.is_empty() {
                    None
                } else {
                    Some(text.trim_start().to_string())
                },
                raw,
            };
        }
        if upper == "HIERARCH" {
            if let Some(eq) = raw[8..].find('=') {
                let keyword = raw[8..8 + eq].trim().to_ascii_uppercase();
                let (value, comment) = parse_value_field(&raw[8 + eq + 1..]);
                return Card {
                    keyword,
                    value,
                    comment,
                    raw,
                };
            }
        }
        if &raw[8..10] == "= " || (&raw[8..9] == "=" && raw.len() > 9) {
            let (value, comment) = parse_value_field(&raw[10.min(raw.len())..]);
            return Card {
                keyword: upper,
                value,
                comment,
                raw,
            };
        }
        Card {
            keyword: upper,
            value: None,
            comment: Some(raw[8..].trim().to_string()),
            raw,
        }
    }

    /// A fixed-format string card (`KEY     = 'value'  / comment`).
    pub fn string(key: &str, value: &str, comment: &str) -> Card {
        let v = format!("'{}'", value.replace('\'', "''"));
        Self::format(key, &format!("{v:<20}"), comment)
    }

    /// A fixed-format logical card.
    pub fn logical(key: &str, value: bool, comment: &str) -> Card {
        Self::format(
            key,
            &format!("{:>20}", if value { "T" } else { "F" }),
            comment,
        )
    }

    /// A fixed-format integer card.
    pub fn int(key: &str, value: i64, comment: &str) -> Card {
        Self::format(key, &format!("{value:>20}"), comment)
    }

    /// A fixed-format floating-point card with `decimals` digits after the point.
    pub fn float(key: &str, value: f64, decimals: usize, comment: &str) -> Card {
        Self::format(key, &format!("{value:>20.decimals$}"), comment)
    }

    /// A commentary card (`COMMENT text`).
    pub fn comment(text: &str) -> Card {
        Card::parse(&format!("COMMENT {text}"))
    }

    fn format(key: &str, value: &str, comment: &str) -> Card {
        let mut s = format!("{key:<8}= {value}");
        if !comment.is_empty() {
            s.push_str(" / ");
            s.push_str(comment);
        }
        s.truncate(CARD);
        Card::parse(&s)
    }
}

/// Splits the value field (columns 11–80) into value and comment.
fn parse_value_field(field: &str) -> (Option<Value>, Option<String>) {
    let t = field.trim_start();
    if let Some(rest) = t.strip_prefix('\'') {
        // String: '' is an escaped quote; the string ends at a lone quote.
        let mut s = String::new();
        let mut chars = rest.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    s.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                s.push(c);
            }
        }
        let after = end.map(|e| &rest[e..]).unwrap_or("");
        let comment = after
            .trim_start()
            .strip_prefix('/')
            .map(|c| c.trim().to_string());
        return (Some(Value::Str(s.trim_end().to_string())), comment);
    }
    let (v, comment) = match t.find('/') {
        Some(i) => (&t[..i], Some(t[i + 1..].trim().to_string())),
        None => (t, None),
    };
    let v = v.trim();
    if v.is_empty() {
        return (None, comment);
    }
    let value = match v {
        "T" => Value::Bool(true),
        "F" => Value::Bool(false),
        _ => {
            if let Ok(i) = v.parse::<i64>() {
                Value::Int(i)
            } else if let Ok(f) = v.replace(['D', 'd'], "E").parse::<f64>() {
                Value::Float(f)
            } else {
                Value::Other(v.to_string())
            }
        }
    };
    (Some(value), comment)
}

/// An ordered list of cards (without `END`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// The cards in file order.
    pub cards: Vec<Card>,
}

impl Header {
    /// Parses a header from the start of `bytes`, which must contain an `END` card.
    /// Returns the header and its length in bytes, padded to whole 2880-byte blocks.
    pub fn parse(bytes: &[u8]) -> Result<(Header, usize), HeaderError> {
        let mut cards = Vec::new();
        for (index, chunk) in bytes.chunks(CARD).enumerate() {
            if chunk.len() < CARD {
                break;
            }
            if !chunk.iter().all(|b| (0x20..=0x7e).contains(b)) {
                return Err(HeaderError::NonAscii { index });
            }
            // Safe: checked printable ASCII above.
            let text = std::str::from_utf8(chunk).map_err(|_| HeaderError::NonAscii { index })?;
            if text.starts_with("END") && text[3..].trim().is_empty() {
                let used = (index + 1) * CARD;
                return Ok((
                    Header {
                        cards: merge_continue(cards),
                    },
                    used.div_ceil(BLOCK) * BLOCK,
                ));
            }
            cards.push(Card::parse(text));
        }
        Err(HeaderError::NoEnd { bytes: bytes.len() })
    }

    /// Parses header text with one card per line (as in the Tomo-e sample `.hdr` files).
    /// A missing `END` is accepted; lines are padded or cut to 80 columns.
    pub fn from_text(text: &str) -> Header {
        let cards = text
            .lines()
            .filter(|l| !l.trim().is_empty() || l.len() >= CARD)
            .take_while(|l| !(l.starts_with("END") && l[3..].trim().is_empty()))
            .map(Card::parse)
            .collect();
        Header {
            cards: merge_continue(cards),
        }
    }

    /// The first card with this keyword.
    pub fn card(&self, key: &str) -> Option<&Card> {
        self.cards
            .iter()
            .find(|c| c.keyword == key && c.value.is_some())
    }

    /// The value of a keyword.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.card(key).and_then(|c| c.value.as_ref())
    }

    /// A string value (other value types are rendered as their text).
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(if *b { "T" } else { "F" }.to_string()),
            Value::Other(o) => Some(o.clone()),
        }
    }

    /// A numeric value; a numeric string (`'2.0'`) is accepted too.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        match self.value(key)? {
            Value::Str(s) => s.trim().parse().ok(),
            v => v.as_f64(),
        }
    }

    /// An integer value; a float with no fractional part is accepted.
    pub fn get_i64(&self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A logical value.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A required integer.
    pub fn require_i64(&self, key: &str) -> Result<i64, HeaderError> {
        match self.value(key) {
            None => Err(HeaderError::Missing(key.to_string())),
            Some(_) => self.get_i64(key).ok_or_else(|| HeaderError::BadValue {
                key: key.to_string(),
                raw: self
                    .card(key)
                    .map(|c| c.raw.trim_end().to_string())
                    .unwrap_or_default(),
                expected: "an integer",
            }),
        }
    }

    /// Appends a card.
    pub fn push(&mut self, card: Card) {
        self.cards.push(card);
    }

    /// Every card verbatim, one 80-column card per line, without `END`.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.cards.len() * 81);
        for c in &self.cards {
            s.push_str(&c.raw);
            s.push('\n');
        }
        s
    }

    /// The header as FITS bytes: cards, `END`, padded with spaces to a 2880-byte block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.cards.len() + 1) * CARD + BLOCK);
        for c in &self.cards {
            out.extend_from_slice(format!("{:<80}", c.raw).as_bytes());
        }
        out.extend_from_slice(format!("{:<80}", "END").as_bytes());
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, b' ');
        out
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Joins `CONTINUE` long-string cards into the preceding string value (the raw cards stay).
fn merge_continue(cards: Vec<Card>) -> Vec<Card> {
    let mut out: Vec<Card> = Vec::with_capacity(cards.len());
    for card in cards {
        if card.keyword == "CONTINUE" {
            if let Some(Card {
                value: Some(Value::Str(s)),
                raw,
                ..
            }) = out.last_mut()
            {
                if s.ends_with('&') {
                    let (v, _) = parse_value_field(&card.raw[8..]);
                    if let Some(Value::Str(more)) = v {
                        s.pop();
                        s.push_str(&more);
                        raw.push('\n');
                        raw.push_str(&card.raw);
                        continue;
                    }
                }
            }
        }
        out.push(card);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commentary_divider_is_not_a_value() {
        let c = Card::parse("COMMENT = '---------- OBSERVATION SECTION'");
        assert_eq!(c.keyword, "COMMENT");
        assert_eq!(c.value, None);
        assert_eq!(
            c.comment.as_deref(),
            Some("= '---------- OBSERVATION SECTION'")
        );
    }

    #[test]
    fn unpadded_strings_quotes_and_comments() {
        let c = Card::parse("TIMESYS = 'UTC'                / time system used in the header.");
        assert_eq!(c.value, Some(Value::Str("UTC".into())));
        assert_eq!(
            c.comment.as_deref(),
            Some("time system used in the header.")
        );
        let c = Card::parse("OBSERVER= 'O''Brien / x'      / slash inside");
        assert_eq!(c.value, Some(Value::Str("O'Brien / x".into())));
        assert_eq!(c.comment.as_deref(), Some("slash inside"));
    }

    #[test]
    fn odd_float_formats() {
        for (s, v) in [
            ("EXPTIME =    8.498368000000001 / x", 8.498368000000001),
            ("EQUINOX =      2000.0000000000 / x", 2000.0),
            ("X       =              1.5D-03", 1.5e-3),
            ("EXPTIME =            59.988480 / [s] total", 59.98848),
        ] {
            assert_eq!(
                Card::parse(s).value.and_then(|v| v.as_f64()),
                Some(v),
                "{s}"
            );
        }
        assert_eq!(
            Card::parse("NAXIS1  =                 2000").value,
            Some(Value::Int(2000))
        );
        assert_eq!(
            Card::parse("EXTEND  =                    T").value,
            Some(Value::Bool(true))
        );
    }

    #[test]
    fn bytes_roundtrip_and_missing_end() {
        let mut h = Header::default();
        h.push(Card::logical("SIMPLE", true, "conforms to FITS standard"));
        h.push(Card::string("OBJECT", "J0305+2216_dith1", "object name"));
        h.push(Card::float(
            "EXPTIME",
            5.998848,
            10,
            "[s] total exposure time",
        ));
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), BLOCK);
        let (h2, len) = Header::parse(&bytes).unwrap();
        assert_eq!(len, BLOCK);
        assert_eq!(h2, h);
        assert_eq!(h2.get_f64("EXPTIME"), Some(5.998848));
        let err = Header::parse(&bytes[..80 * 3]).unwrap_err();
        assert_eq!(err, HeaderError::NoEnd { bytes: 240 });
    }

    #[test]
    fn fixed_format_matches_tomoe_layout() {
        // Column layout of the real sample: strings start in column 11, numbers end in 30.
        let c = Card::string("OBJECT", "J0322+5925_dith1", "object name");
        assert_eq!(
            c.raw.trim_end(),
            "OBJECT  = 'J0322+5925_dith1'   / object name"
        );
        let c = Card::float("TFRAME", 0.5, 10, "[s] frame interval in seconds");
        assert_eq!(
            c.raw.trim_end(),
            "TFRAME  =         0.5000000000 / [s] frame interval in seconds"
        );
    }

    #[test]
    fn continue_long_strings() {
        let h = Header::from_text("LONG    = 'abc&'\nCONTINUE  'def'\n");
        assert_eq!(h.get_str("LONG").as_deref(), Some("abcdef"));
    }

    #[test]
    fn non_ascii_is_an_error() {
        let mut bytes = vec![b' '; BLOCK];
        bytes[5] = 0xff;
        assert_eq!(
            Header::parse(&bytes).unwrap_err(),
            HeaderError::NonAscii { index: 0 }
        );
    }
}
