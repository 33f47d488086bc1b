//! RFC 9457 problem details (`application/problem+json`) with a stable `code`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Media type of every error answer.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// An error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// URI naming the problem type (`https://verivali.id/problems/seq-gap`, stable per code).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// This occurrence, for people.
    pub detail: String,
    /// Stable machine code clients translate (`sync.seq_gap`).
    pub code: String,
    /// Extra members (`expected_seq`, `errors`…).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Problem {
    /// A problem with a type URI made from the code.
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            problem_type: format!(
                "https://verivali.id/problems/{}",
                code.replace(['.', '_'], "-")
            ),
            title: title.to_string(),
            status,
            detail: detail.into(),
            code: code.to_string(),
            extra: Map::new(),
        }
    }

    /// Adds an extra member.
    pub fn with(mut self, key: &str, value: Value) -> Problem {
        self.extra.insert(key.to_string(), value);
        self
    }
}
