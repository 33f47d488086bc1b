//! What a string may hold to be stored on every backend.
//!
//! PostgreSQL refuses NUL in `text` (SQLite stores it), so a NUL that reached the database turned
//! one bad op into an error for the whole push. The rule is the same everywhere and is checked at
//! the edge, once per request or per op: NUL, the other C0 control characters, DEL and the C1
//! controls are refused; tab, line feed and carriage return are allowed, because notes and reasons
//! are free text. Nothing in a name, address or code ever needs a control character: it is a
//! copy-and-paste accident or an attack, and the sender is told which field holds it.

use serde_json::Value;
use std::borrow::Cow;

use crate::i18n::{Coded, Lang};

/// A control character found in a string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: control character U+{code:04X} at character {at}")]
pub struct ControlChar {
    /// Where it is: a JSON path (`payload.members[2].name`) or a column name.
    pub field: String,
    /// The character's code point.
    pub code: u32,
    /// Its position in the string, counted in characters from 0.
    pub at: usize,
}

impl Coded for ControlChar {
    fn code(&self) -> &'static str {
        "text.control_char"
    }

    fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::En => format!(
                "{} holds a control character (U+{:04X}) that cannot be stored; retype the text",
                self.field, self.code
            ),
            Lang::Id => format!(
                "{} berisi karakter kontrol (U+{:04X}) yang tidak bisa disimpan; ketik ulang teksnya",
                self.field, self.code
            ),
        }
    }
}

/// Whether `c` may be stored.
pub fn allowed(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// Checks one string; `field` names it in the finding.
pub fn check(field: &str, s: &str) -> Result<(), ControlChar> {
    match s.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(ControlChar {
            field: field.to_string(),
            code: u32::from(c),
            at,
        }),
    }
}

/// Checks every string of a JSON value, keys included; the first finding names its path under
/// `root`. Depth-first in document order, so the same input always names the same field.
pub fn check_json(root: &str, v: &Value) -> Result<(), ControlChar> {
    // Nearly every payload is clean: one pass without building any path, and the walk that names
    // the field only when something was found (a push checks thousands of strings).
    if !json_has_refused(v) {
        return Ok(());
    }
    name_refused(root, v)
}

/// [`check_json`] over JSON text (an op's payload as it arrived). In JSON text a control
/// character inside a string is escaped (`\u0001`, `\b`, `\f`; `\t`, `\n`, `\r` are allowed), and
/// DEL and the C1 controls may also stand as themselves: text with none of those is clean without
/// being parsed. Otherwise (rare, and `\\u` in a text is a false alarm) the tree is built and
/// walked as before, so the finding names the same field. Text that is not JSON is left to the
/// payload's decoder to refuse.
pub fn check_json_text(root: &str, json: &str) -> Result<(), ControlChar> {
    let b = json.as_bytes();
    // memchr: the three bytes that can start a finding, found with vector instructions (a
    // byte-by-byte scan was 3 % of a push's server CPU).
    let suspect = memchr::memchr3_iter(b'\\', 0x7f, 0xc2, b).any(|i| match b[i] {
        b'\\' => matches!(b.get(i + 1), Some(b'u' | b'b' | b'f')),
        0x7f => true,
        _ => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
    });
    if !suspect {
        return Ok(());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(v) => check_json(root, &v),
        Err(_) => Ok(()),
    }
}

/// Whether every character of `s` is [`allowed`], by bytes: C0 controls and DEL are single bytes
/// in UTF-8, the C1 controls are `C2 80`–`C2 9F`.
fn clean(s: &str) -> bool {
    let b = s.as_bytes();
    !b.iter().enumerate().any(|(i, &c)| {
        (c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r'))
            || c == 0x7f
            || (c == 0xc2 && b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

fn json_has_refused(v: &Value) -> bool {
    match v {
        Value::String(s) => !clean(s),
        Value::Array(items) => items.iter().any(json_has_refused),
        Value::Object(map) => map
            .iter()
            .any(|(k, item)| !clean(k) || json_has_refused(item)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn name_refused(root: &str, v: &Value) -> Result<(), ControlChar> {
    match v {
        Value::String(s) => check(root, s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| name_refused(&format!("{root}[{i}]"), item)),
        Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            // A refused key is named scrubbed: the path is echoed back and may be stored.
            let key = scrub(k);
            let path = if root.is_empty() {
                key.into_owned()
            } else {
                format!("{root}.{key}")
            };
            check(&path, k)?;
            name_refused(&path, item)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// `s` with every refused character replaced by U+FFFD: for text the server itself writes from
/// what it was sent (an echo in an error message), which must be storable too.
pub fn scrub(s: &str) -> Cow<'_, str> {
    if s.chars().all(allowed) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_and_controls_are_refused_with_their_place() {
        assert!(check("nama", "Siti Aminah").is_ok());
        assert!(check("catatan", "baris 1\nbaris 2\ttab\r\n").is_ok());
        let e = check("nama", "Sit\u{0}i").unwrap_err();
        assert_eq!((e.code, e.at, e.field.as_str()), (0, 3, "nama"));
        assert!(check("x", "\u{1b}[31m").is_err(), "ESC");
        assert!(check("x", "a\u{7f}").is_err(), "DEL");
        assert!(check("x", "a\u{85}").is_err(), "C1");
        assert_eq!(e.code(), "text.control_char");
        assert!(e.message(Lang::Id).contains("nama"));
    }

    #[test]
    fn json_paths_name_the_field_and_keys_count() {
        let v = json!({"members": [{"name": "a"}, {"name": "b\u{0}"}]});
        let e = check_json("payload", &v).unwrap_err();
        assert_eq!(e.field, "payload.members[1].name");
        let v = json!({"answers": {"q\u{1}": 1}});
        assert_eq!(
            check_json("", &v).unwrap_err().field,
            "answers.q\u{FFFD}",
            "a key is checked too"
        );
        assert!(check_json("", &json!({"n": 1, "b": true, "z": null})).is_ok());
    }

    #[test]
    fn the_byte_scan_agrees_with_the_character_rule() {
        for c in (0..0x3000u32).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(clean(&s), s.chars().all(allowed), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn the_text_scan_finds_what_the_tree_walk_finds() {
        // Every character in a value and in a key, as serde_json writes it: same verdict, same
        // field named.
        for c in (0..0x3000u32).filter_map(char::from_u32) {
            for v in [
                json!({"members": [{"name": format!("a{c}b")}], "n": 1}),
                json!({"answers": {format!("q{c}"): [true, null, 2.5]}}),
            ] {
                let text = serde_json::to_string(&v).unwrap();
                assert_eq!(
                    check_json_text("payload", &text).map_err(|e| e.field),
                    check_json("payload", &v).map_err(|e| e.field),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
        // Escapes a device might write by hand are read as what they stand for.
        assert!(check_json_text("p", r#"{"a":"x\u0007"}"#).is_err());
        assert!(check_json_text("p", r#"{"a":"x\u00e9\n\t"}"#).is_ok());
        assert!(
            check_json_text("p", r#"{"a":"x\\u0007"}"#).is_ok(),
            "an escaped backslash"
        );
        assert!(check_json_text("p", r#"{"a":"\b"}"#).is_err());
    }

    #[test]
    fn scrub_keeps_clean_text_borrowed() {
        assert!(matches!(scrub("bersih"), Cow::Borrowed(_)));
        assert_eq!(scrub("a\u{0}b"), "a\u{FFFD}b");
    }
}
