//! Languages and translated texts. Bahasa Indonesia is the default, English the second language.

use serde::{Deserialize, Serialize};

/// A language the product speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Bahasa Indonesia (default).
    #[default]
    Id,
    /// English.
    En,
}

impl Lang {
    /// Parses an IETF-like tag (`id`, `id-ID`, `en`, `en-US`); anything else falls back to Indonesian.
    pub fn from_tag(tag: &str) -> Lang {
        if tag.to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Id
        }
    }
}

/// A text in both languages, as used in data files such as the questionnaire.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// Bahasa Indonesia.
    pub id: String,
    /// English.
    pub en: String,
}

impl Text {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Id => &self.id,
            Lang::En => &self.en,
        }
    }
}

/// Anything with a stable machine code and a message for people in both languages.
pub trait Coded {
    /// Stable code (`nik.sex_mismatch`); never changes once released, so clients can translate it.
    fn code(&self) -> &'static str;
    /// The message for people, in `lang`.
    fn message(&self, lang: Lang) -> String;
}
