//! Questionnaires as data: a versioned schema (question id, type, choices with codes, required,
//! ranges, relevance rules) pulled by devices, and the answer validation both sides run.
//!
//! Answer values in JSON: `int` an integer, `decimal` a number, `text` a string, `single_choice` a
//! choice code (string), `multi_choice` an array of distinct codes, `date` `"YYYY-MM-DD"`,
//! `yes_no` a boolean. An answer to a question whose relevance rule is false is an error: the form
//! hides and clears such questions, so stale answers cannot reach the registry.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use crate::i18n::Text;
use crate::issue::{Invalid, Report};

/// The default DTSEN household questionnaire, shipped with the server.
pub const DEFAULT_DTSEN_JSON: &str = include_str!("../questionnaire/dtsen-ruta-v1.json");

/// Type of a question's answer.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// Whole number.
    Int,
    /// Number with decimals.
    Decimal,
    /// Free text.
    Text,
    /// One code of `choices`.
    SingleChoice,
    /// Several codes of `choices`.
    MultiChoice,
    /// Calendar date.
    Date,
    /// Ya/tidak.
    YesNo,
}

impl QuestionType {
    fn expected(self) -> &'static str {
        match self {
            QuestionType::Int => "integer",
            QuestionType::Decimal => "number",
            QuestionType::Text => "text",
            QuestionType::SingleChoice => "choice code",
            QuestionType::MultiChoice => "list of choice codes",
            QuestionType::Date => "date YYYY-MM-DD",
            QuestionType::YesNo => "yes/no",
        }
    }
}

/// One choice of a choice question.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// Code stored in answers.
    pub code: String,
    pub label: Text,
}

/// When a question applies: another (earlier) question's answer equals one of `any_of`
/// (for multi-choice sources: contains one of them). Booleans and numbers compare by JSON value.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relevance {
    /// The question whose answer decides.
    pub question: String,
    /// Answers that make this question apply.
    pub any_of: Vec<Value>,
}

/// One question.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Stable id (answers key).
    pub id: String,
    /// Answer type.
    #[serde(rename = "type")]
    pub kind: QuestionType,
    /// The question as asked.
    pub label: Text,
    /// Must be answered (when relevant and the outcome needs answers).
    #[serde(default)]
    pub required: bool,
    /// Lower bound for numbers, or earliest date (`YYYY-MM-DD`) for dates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// Upper bound, as `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Maximum text length in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Unit shown after the input (m², VA…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Choices, for choice questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Relevance rule; always relevant when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevant: Option<Relevance>,
}

/// A section of questions.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// Section id.
    pub id: String,
    pub title: Text,
    /// Questions in order.
    pub questions: Vec<Question>,
}

/// A versioned questionnaire.
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Questionnaire {
    /// Questionnaire id (`dtsen-ruta`).
    pub id: String,
    /// Version; visits name the version they followed.
    pub version: u32,
    pub title: Text,
    /// Sections in order.
    pub sections: Vec<Section>,
    /// Where each question is, by id ([`Questionnaire::question`]).
    #[serde(skip)]
    #[ts(skip)]
    index: QuestionIndex,
}

/// Where each question of a questionnaire is (`sections[s].questions[q]`), by id, made on its
/// first look-up. A visit's validation looks up every answer's question and every relevance
/// rule's source: searching the questions in order for each was about 1.5 % of the server's CPU
/// in a 10,000-visit push (`perf record`, docs/benchmarks.md, seventeenth pass), and the device
/// validates every visit it records the same way. A look-up checks the id of the question it
/// finds and searches in order when that differs or nothing is found, so a questionnaire whose
/// sections were changed after the index was made still answers right (an unknown id, which
/// only an invalid answer has, costs the search it always did).
///
/// Not part of the questionnaire's value: a clone starts without one, and two questionnaires
/// compare equal whatever their indexes hold.
#[derive(Default)]
struct QuestionIndex(OnceLock<HashMap<String, (usize, usize)>>);

impl Clone for QuestionIndex {
    fn clone(&self) -> Self {
        QuestionIndex::default()
    }
}

impl PartialEq for QuestionIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for QuestionIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuestionIndex")
    }
}

/// Why a questionnaire schema is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// Not valid JSON for the schema.
    #[error("questionnaire JSON is invalid: {0}")]
    Json(String),
    /// A question id is used twice.
    #[error("question id {0:?} is used twice")]
    DuplicateId(String),
    /// A choice question without choices, or a choice code twice.
    #[error("question {0:?} has missing or repeated choice codes")]
    Choices(String),
    /// A relevance rule names an unknown or later question.
    #[error("question {0:?} depends on a question that does not come before it")]
    Relevance(String),
    /// No section, or a section without questions.
    #[error("{0} has no questions")]
    Empty(String),
    /// An id that is not lowercase letters, digits and `_` (answers and export columns use it).
    #[error("id {0:?} must be lowercase letters, digits and _")]
    BadId(String),
    /// A label (or title) without its Bahasa Indonesia text.
    #[error("{0} has no Bahasa Indonesia label")]
    NoLabel(String),
    /// `min` above `max`.
    #[error("question {0:?} has min above max")]
    BadRange(String),
}

impl crate::i18n::Coded for SchemaError {
    fn code(&self) -> &'static str {
        match self {
            SchemaError::Json(_) => "questionnaire.json",
            SchemaError::DuplicateId(_) => "questionnaire.duplicate_id",
            SchemaError::Choices(_) => "questionnaire.choices",
            SchemaError::Relevance(_) => "questionnaire.relevance",
            SchemaError::Empty(_) => "questionnaire.empty",
            SchemaError::BadId(_) => "questionnaire.bad_id",
            SchemaError::NoLabel(_) => "questionnaire.no_label",
            SchemaError::BadRange(_) => "questionnaire.bad_range",
        }
    }

    fn message(&self, lang: crate::i18n::Lang) -> String {
        if lang == crate::i18n::Lang::En {
            return self.to_string();
        }
        match self {
            SchemaError::Json(e) => format!("JSON kuesioner tidak sah: {e}"),
            SchemaError::DuplicateId(id) => format!("Id pertanyaan {id:?} dipakai dua kali"),
            SchemaError::Choices(id) => {
                format!("Pertanyaan {id:?} tanpa pilihan, atau kode pilihannya berulang")
            }
            SchemaError::Relevance(id) => {
                format!("Pertanyaan {id:?} bergantung pada pertanyaan yang tidak ada sebelumnya")
            }
            SchemaError::Empty(what) => format!("{what} tidak berisi pertanyaan"),
            SchemaError::BadId(id) => {
                format!("Id {id:?} harus huruf kecil, angka dan _ saja")
            }
            SchemaError::NoLabel(what) => format!("{what} tanpa label Bahasa Indonesia"),
            SchemaError::BadRange(id) => format!("Pertanyaan {id:?}: min lebih besar dari max"),
        }
    }
}

/// One problem of a schema, at the path of the offending part (`sections[1].questions[3]`, or a
/// line and column of the JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaIssue {
    pub path: String,
    pub problem: SchemaError,
}

fn good_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Questionnaire {
    /// Parses and checks a schema; the first problem.
    pub fn from_json(json: &str) -> Result<Questionnaire, SchemaError> {
        Questionnaire::check_json(json).map_err(|mut issues| issues.remove(0).problem)
    }

    /// Parses and checks a schema; every problem, each at its path, in document order.
    pub fn check_json(json: &str) -> Result<Questionnaire, Vec<SchemaIssue>> {
        let q: Questionnaire = serde_json::from_str(json).map_err(|e| {
            vec![SchemaIssue {
                path: format!("line {} column {}", e.line(), e.column()),
                problem: SchemaError::Json(e.to_string()),
            }]
        })?;
        let issues = q.schema_issues();
        if issues.is_empty() {
            Ok(q)
        } else {
            Err(issues)
        }
    }

    /// The default DTSEN household questionnaire.
    pub fn default_dtsen() -> Result<Questionnaire, SchemaError> {
        Questionnaire::from_json(DEFAULT_DTSEN_JSON)
    }

    /// All questions in order.
    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.sections.iter().flat_map(|s| s.questions.iter())
    }

    /// A question by id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        let index = self.index.0.get_or_init(|| {
            let mut at = HashMap::new();
            for (s, section) in self.sections.iter().enumerate() {
                for (q, question) in section.questions.iter().enumerate() {
                    // The first of a repeated id, as the search finds (a schema with one is
                    // refused, but a questionnaire may be built without the checks).
                    at.entry(question.id.clone()).or_insert((s, q));
                }
            }
            at
        });
        index
            .get(id)
            .and_then(|&(s, q)| self.sections.get(s)?.questions.get(q))
            .filter(|q| q.id == id)
            .or_else(|| self.questions().find(|q| q.id == id))
    }

    /// A validation message for people: every question id it quotes (`"luas_lantai"`) becomes
    /// the question's label in `lang` (`“Luas lantai”`). Ids are `[a-z0-9_]` and quoted by the
    /// messages of [`crate::Invalid`], so the replacement cannot touch other text.
    pub fn worded(&self, message: &str, lang: crate::i18n::Lang) -> String {
        let mut out = message.to_string();
        for q in self.questions() {
            let quoted = format!("{:?}", q.id);
            if out.contains(&quoted) {
                out = out.replace(&quoted, &format!("“{}”", q.label.get(lang)));
            }
        }
        out
    }

    fn schema_issues(&self) -> Vec<SchemaIssue> {
        let mut out = Vec::new();
        let mut issue = |path: String, problem| out.push(SchemaIssue { path, problem });
        if self.title.id.trim().is_empty() {
            issue("title".into(), SchemaError::NoLabel("title".into()));
        }
        if self.sections.is_empty() {
            issue(
                "sections".into(),
                SchemaError::Empty("the questionnaire".into()),
            );
        }
        let mut seen = HashSet::new();
        for (i, section) in self.sections.iter().enumerate() {
            let at = format!("sections[{i}]");
            if !good_id(&section.id) {
                issue(format!("{at}.id"), SchemaError::BadId(section.id.clone()));
            }
            if section.title.id.trim().is_empty() {
                issue(
                    format!("{at}.title"),
                    SchemaError::NoLabel(format!("section {:?}", section.id)),
                );
            }
            if section.questions.is_empty() {
                issue(
                    at.clone(),
                    SchemaError::Empty(format!("section {:?}", section.id)),
                );
            }
            for (j, q) in section.questions.iter().enumerate() {
                let at = format!("{at}.questions[{j}]");
                if !good_id(&q.id) {
                    issue(format!("{at}.id"), SchemaError::BadId(q.id.clone()));
                }
                if q.label.id.trim().is_empty() {
                    issue(
                        format!("{at}.label"),
                        SchemaError::NoLabel(format!("question {:?}", q.id)),
                    );
                }
                if let Some(rel) = &q.relevant
                    && !seen.contains(rel.question.as_str())
                {
                    issue(
                        format!("{at}.relevant"),
                        SchemaError::Relevance(q.id.clone()),
                    );
                }
                if !seen.insert(q.id.as_str()) {
                    issue(format!("{at}.id"), SchemaError::DuplicateId(q.id.clone()));
                }
                let is_choice = matches!(
                    q.kind,
                    QuestionType::SingleChoice | QuestionType::MultiChoice
                );
                let codes: HashSet<_> = q.choices.iter().map(|c| c.code.as_str()).collect();
                if is_choice && (q.choices.is_empty() || codes.len() != q.choices.len()) {
                    issue(format!("{at}.choices"), SchemaError::Choices(q.id.clone()));
                }
                let above = match (&q.min, &q.max) {
                    (Some(Value::Number(a)), Some(Value::Number(b))) => {
                        a.as_f64().zip(b.as_f64()).is_some_and(|(a, b)| a > b)
                    }
                    (Some(Value::String(a)), Some(Value::String(b))) => a > b,
                    _ => false,
                };
                if above {
                    issue(format!("{at}.min"), SchemaError::BadRange(q.id.clone()));
                }
            }
        }
        out
    }

    /// Whether question `q` applies given the answers so far. A question depending on one that does
    /// not apply does not apply either.
    pub fn is_relevant(&self, q: &Question, answers: &BTreeMap<String, Value>) -> bool {
        let Some(rel) = &q.relevant else { return true };
        let Some(source) = self.question(&rel.question) else {
            return false;
        };
        if !self.is_relevant(source, answers) {
            return false;
        }
        match answers.get(&rel.question) {
            None | Some(Value::Null) => false,
            Some(Value::Array(items)) => items.iter().any(|i| rel.any_of.contains(i)),
            Some(v) => rel.any_of.contains(v),
        }
    }

    /// Checks every given answer: known question, type, range, choices, length, relevance.
    /// Missing answers are not errors here (see [`Questionnaire::check_complete`]).
    pub fn check_answers(&self, answers: &BTreeMap<String, Value>) -> Report {
        let mut r = Report::default();
        for (id, value) in answers {
            if value.is_null() {
                continue;
            }
            let Some(q) = self.question(id) else {
                r.error(
                    id.clone(),
                    Invalid::UnknownQuestion {
                        question: id.clone(),
                        version: self.version,
                    },
                );
                continue;
            };
            if !self.is_relevant(q, answers) {
                r.error(
                    id.clone(),
                    Invalid::AnswerNotRelevant {
                        question: id.clone(),
                    },
                );
                continue;
            }
            if let Err(e) = check_value(q, value) {
                r.error(id.clone(), e);
            }
        }
        r
    }

    /// Checks that every required, relevant question has an answer.
    pub fn check_complete(&self, answers: &BTreeMap<String, Value>) -> Report {
        let mut r = Report::default();
        for q in self.questions() {
            let missing = match answers.get(&q.id) {
                None | Some(Value::Null) => true,
                Some(Value::String(s)) => s.trim().is_empty(),
                _ => false,
            };
            if q.required && missing && self.is_relevant(q, answers) {
                r.error(
                    q.id.clone(),
                    Invalid::AnswerRequired {
                        question: q.id.clone(),
                    },
                );
            }
        }
        r
    }
}

fn bound_str(v: &Option<Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}

fn check_value(q: &Question, value: &Value) -> Result<(), Invalid> {
    let type_err = || Invalid::AnswerType {
        question: q.id.clone(),
        expected: q.kind.expected().into(),
    };
    let range_err = || Invalid::AnswerRange {
        question: q.id.clone(),
        min: bound_str(&q.min),
        max: bound_str(&q.max),
    };
    let choice = |code: &Value| -> Result<(), Invalid> {
        let code = code.as_str().ok_or_else(type_err)?;
        if q.choices.iter().any(|c| c.code == code) {
            Ok(())
        } else {
            Err(Invalid::AnswerChoice {
                question: q.id.clone(),
                value: code.to_string(),
            })
        }
    };
    match q.kind {
        QuestionType::Int | QuestionType::Decimal => {
            let n = if q.kind == QuestionType::Int {
                value.as_i64().map(|i| i as f64)
            } else {
                value.as_f64()
            }
            .ok_or_else(type_err)?;
            let lo = q.min.as_ref().and_then(Value::as_f64);
            let hi = q.max.as_ref().and_then(Value::as_f64);
            if lo.is_some_and(|lo| n < lo) || hi.is_some_and(|hi| n > hi) {
                return Err(range_err());
            }
        }
        QuestionType::Text => {
            let s = value.as_str().ok_or_else(type_err)?;
            let max = q.max_length.unwrap_or(1000);
            if s.chars().count() > max {
                return Err(Invalid::AnswerTooLong {
                    question: q.id.clone(),
                    max,
                });
            }
        }
        QuestionType::SingleChoice => choice(value)?,
        QuestionType::MultiChoice => {
            let items = value.as_array().ok_or_else(type_err)?;
            let mut seen = HashSet::new();
            for item in items {
                choice(item)?;
                if !seen.insert(item.as_str()) {
                    return Err(type_err());
                }
            }
        }
        QuestionType::Date => {
            let s = value.as_str().ok_or_else(type_err)?;
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| type_err())?;
            let parse = |v: &Option<Value>| {
                v.as_ref()
                    .and_then(Value::as_str)
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            };
            if parse(&q.min).is_some_and(|lo| d < lo) || parse(&q.max).is_some_and(|hi| d > hi) {
                return Err(range_err());
            }
        }
        QuestionType::YesNo => {
            value.as_bool().ok_or_else(type_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Coded;
    use serde_json::json;

    fn q() -> Questionnaire {
        Questionnaire::default_dtsen().expect("default questionnaire must load")
    }

    /// A complete, valid set of answers to the default questionnaire (synthetic).
    pub(crate) fn complete_answers() -> BTreeMap<String, Value> {
        serde_json::from_value(json!({
            "status_bangunan": "1", "luas_lantai": 36, "jenis_lantai": "6", "jenis_dinding": "1",
            "kondisi_dinding": "2", "jenis_atap": "2", "kondisi_atap": "1",
            "sumber_air_minum": "5", "sumber_penerangan": "1", "daya_terpasang": "1",
            "bahan_bakar_memasak": "3", "fasilitas_bab": "1", "jenis_kloset": "1",
            "pembuangan_tinja": "1", "aset": ["1", "10"], "memiliki_lahan": false, "memiliki_rumah_lain": false,
            "penerima_pkh": true, "penerima_bpnt": false, "penerima_pbi_jkn": true, "penerima_pip": false
        }))
        .unwrap()
    }

    /// The look-up's index is made on the first look-up; a questionnaire changed after that
    /// (a question moved, removed or added) still finds each question as itself, and the index
    /// is no part of its value (equality, clone, JSON).
    #[test]
    fn a_question_is_found_by_id_after_its_questionnaire_changed() {
        let mut q = q();
        let json = serde_json::to_value(&q).unwrap();
        let first = q.sections[0].questions[0].id.clone();
        assert!(q.question(&first).is_some());
        assert_eq!(serde_json::to_value(&q).unwrap(), json);
        assert_eq!(q.clone(), q);
        let moved = q.sections[0].questions.remove(0);
        q.sections.last_mut().unwrap().questions.push(moved);
        assert_eq!(
            q.question(&first).map(|x| x.id.as_str()),
            Some(first.as_str())
        );
        let gone = q.sections[0].questions.remove(0).id;
        assert!(q.question(&gone).is_none());
        let mut added = q.sections[0].questions[0].clone();
        added.id = "pertanyaan_baru".into();
        q.sections[0].questions.push(added);
        assert!(q.question("pertanyaan_baru").is_some());
        assert!(q.question("tidak_ada").is_none());
        for x in q.questions() {
            assert!(std::ptr::eq(q.question(&x.id).unwrap(), x), "{}", x.id);
        }
    }

    #[test]
    fn messages_name_questions_by_their_label_never_their_id() {
        let q = q();
        let mut answers = complete_answers();
        answers.remove("luas_lantai");
        let report = q.check_complete(&answers);
        let raw = report.errors[0].issue.message(crate::i18n::Lang::Id);
        assert!(raw.contains("\"luas_lantai\""), "{raw}");
        let label = q.question("luas_lantai").unwrap().label.id.clone();
        let worded = q.worded(&raw, crate::i18n::Lang::Id);
        assert!(worded.contains(&format!("“{label}”")), "{worded}");
        assert!(!worded.contains("luas_lantai"), "{worded}");
    }

    #[test]
    fn default_questionnaire_covers_the_design() {
        let q = q();
        for id in [
            "luas_lantai",
            "jenis_lantai",
            "jenis_dinding",
            "kondisi_dinding",
            "jenis_atap",
            "kondisi_atap",
            "sumber_air_minum",
            "sumber_penerangan",
            "daya_terpasang",
            "bahan_bakar_memasak",
            "fasilitas_bab",
            "aset",
            "penerima_pkh",
            "penerima_bpnt",
            "penerima_pbi_jkn",
            "penerima_pip",
        ] {
            assert!(q.question(id).is_some(), "{id} missing");
        }
        let kinds: HashSet<_> = q.questions().map(|x| format!("{:?}", x.kind)).collect();
        assert_eq!(
            kinds.len(),
            7,
            "every question type is exercised: {kinds:?}"
        );
    }

    #[test]
    fn complete_answers_pass() {
        let q = q();
        let a = complete_answers();
        assert!(q.check_answers(&a).is_ok(), "{:?}", q.check_answers(&a));
        assert!(q.check_complete(&a).is_ok(), "{:?}", q.check_complete(&a));
    }

    #[test]
    fn installed_power_only_when_lighting_is_pln() {
        let q = q();
        let mut a = complete_answers();
        a.insert("sumber_penerangan".into(), json!("4"));
        assert_eq!(
            q.check_answers(&a).error_codes(),
            vec!["answer.not_relevant"]
        );
        a.remove("daya_terpasang");
        assert!(q.check_answers(&a).is_ok() && q.check_complete(&a).is_ok());
        a.insert("sumber_penerangan".into(), json!("2"));
        assert_eq!(q.check_complete(&a).error_codes(), vec!["answer.required"]);
    }

    #[test]
    fn each_answer_rule_has_its_code() {
        let q = q();
        let cases = [
            ("luas_lantai", json!("36"), "answer.type"),
            ("luas_lantai", json!(36.5), "answer.type"),
            ("luas_lantai", json!(0), "answer.range"),
            ("jenis_lantai", json!("99"), "answer.choice"),
            ("jenis_lantai", json!(6), "answer.type"),
            ("aset", json!(["1", "1"]), "answer.type"),
            ("aset", json!(["77"]), "answer.choice"),
            ("penerima_pkh", json!("ya"), "answer.type"),
            ("catatan", json!("x".repeat(501)), "answer.too_long"),
            ("tidak_ada", json!(1), "answer.unknown_question"),
        ];
        for (id, v, code) in cases {
            let mut a = complete_answers();
            a.insert(id.into(), v.clone());
            assert_eq!(q.check_answers(&a).error_codes(), vec![code], "{id} = {v}");
        }
    }

    #[test]
    fn dates_and_chained_relevance() {
        let q = q();
        let mut a = complete_answers();
        a.insert("penerima_bpnt".into(), json!(true));
        a.insert("tanggal_bansos_terakhir".into(), json!("2026-02-30"));
        assert_eq!(q.check_answers(&a).error_codes(), vec!["answer.type"]);
        a.insert("tanggal_bansos_terakhir".into(), json!("2026-02-28"));
        assert!(q.check_answers(&a).is_ok());
        a.insert("memiliki_lahan".into(), json!(true));
        a.insert("luas_lahan".into(), json!(250.5));
        assert!(q.check_answers(&a).is_ok());
        a.insert("memiliki_lahan".into(), json!(false));
        assert_eq!(
            q.check_answers(&a).error_codes(),
            vec!["answer.not_relevant"]
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::String),
            (1u32..20).prop_map(|c| json!(c.to_string())),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            proptest::collection::vec(inner, 0..4).prop_map(Value::Array)
        })
    }

    proptest::proptest! {
        /// Any value for any question (or an unknown one) is answered with findings, never a panic,
        /// and an answer that passes has the question's type.
        #[test]
        fn any_answer_is_judged_without_panic(
            picks in proptest::collection::vec((0usize..40, json_value()), 0..12),
        ) {
            let q = q();
            let ids: Vec<String> = q.questions().map(|x| x.id.clone()).chain(["tidak_ada".to_string()]).collect();
            let mut a = BTreeMap::new();
            for (i, v) in picks {
                a.insert(ids[i % ids.len()].clone(), v);
            }
            let r = q.check_answers(&a);
            let _ = q.check_complete(&a);
            for (id, v) in &a {
                let flagged = r.errors.iter().any(|e| &e.field == id);
                if let (Some(question), false) = (q.question(id), flagged || v.is_null()) {
                    proptest::prop_assert!(check_value(question, v).is_ok(), "{id} = {v} passed unchecked");
                }
            }
        }
    }

    #[test]
    fn bad_schemas_are_refused() {
        let base = json!({"id": "t", "version": 1, "title": {"id": "t", "en": "t"}, "sections": [
        {"id": "s", "title": {"id": "s", "en": "s"}, "questions": [
            {"id": "a", "type": "yes_no", "label": {"id": "a", "en": "a"}},
            {"id": "b", "type": "int", "label": {"id": "b", "en": "b"},
             "relevant": {"question": "a", "any_of": [true]}}
        ]}]});
        assert!(Questionnaire::from_json(&base.to_string()).is_ok());
        let mut later = base.clone();
        later["sections"][0]["questions"][1]["relevant"]["question"] = json!("c");
        assert!(matches!(
            Questionnaire::from_json(&later.to_string()),
            Err(SchemaError::Relevance(_))
        ));
        let mut dup = base.clone();
        dup["sections"][0]["questions"][1]["id"] = json!("a");
        assert!(Questionnaire::from_json(&dup.to_string()).is_err());
        let mut nochoice = base;
        nochoice["sections"][0]["questions"][0]["type"] = json!("single_choice");
        assert!(matches!(
            Questionnaire::from_json(&nochoice.to_string()),
            Err(SchemaError::Choices(_))
        ));
        assert!(Questionnaire::from_json("{").is_err());
        let _ = Invalid::AnswerRequired {
            question: "x".into(),
        }
        .code();
    }

    #[test]
    fn every_schema_problem_is_reported_at_its_path() {
        let bad = json!({
            "id": "dtsen-ruta", "version": 2, "title": {"id": "Kuesioner", "en": "Questionnaire"},
            "sections": [
                {"id": "rumah", "title": {"id": "Rumah", "en": "House"}, "questions": [
                    {"id": "luas", "type": "int", "label": {"id": "Luas", "en": "Area"}, "min": 10, "max": 2},
                    {"id": "Luas Lantai", "type": "int", "label": {"id": "", "en": "x"}},
                    {"id": "atap", "type": "single_choice", "label": {"id": "Atap", "en": "Roof"}},
                    {"id": "luas", "type": "text", "label": {"id": "Lagi", "en": "Again"},
                     "relevant": {"question": "nanti", "any_of": [true]}}
                ]},
                {"id": "kosong", "title": {"id": "Kosong", "en": "Empty"}, "questions": []}
            ]
        });
        let issues = Questionnaire::check_json(&bad.to_string()).unwrap_err();
        let got: Vec<(&str, &str)> = issues
            .iter()
            .map(|i| (i.path.as_str(), i.problem.code()))
            .collect();
        assert_eq!(
            got,
            [
                ("sections[0].questions[0].min", "questionnaire.bad_range"),
                ("sections[0].questions[1].id", "questionnaire.bad_id"),
                ("sections[0].questions[1].label", "questionnaire.no_label"),
                ("sections[0].questions[2].choices", "questionnaire.choices"),
                (
                    "sections[0].questions[3].relevant",
                    "questionnaire.relevance"
                ),
                ("sections[0].questions[3].id", "questionnaire.duplicate_id"),
                ("sections[1]", "questionnaire.empty"),
            ]
        );
        assert!(
            issues[0]
                .problem
                .message(crate::i18n::Lang::Id)
                .contains("min lebih besar")
        );
        let broken = Questionnaire::check_json("{\n  \"id\": 3\n}").unwrap_err();
        assert_eq!(broken[0].path, "line 2 column 9");
        assert_eq!(broken[0].problem.code(), "questionnaire.json");
    }
}
