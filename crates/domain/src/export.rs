//! The export of reviewed visits for the ministry system's upload: one row per visit, fixed
//! columns first, then one column per question of the questionnaire (`q_<id>`), then GPS,
//! people and dates. Members are listed in visit order in `nik_art` / `nama_art` / `status_art`,
//! separated by `;` (one row per visit keeps the upload's key, `id_dtsen`, unique).

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::Questionnaire;

/// Separator inside list cells.
pub const LIST_SEP: &str = ";";

/// The parts of a stored visit record (`visit.record` JSON) the export needs, read without
/// copying where the JSON has no escapes: exporting a million visits is mostly decoding them.
#[derive(Debug, Deserialize)]
pub struct ExportRecord<'a> {
    #[serde(borrow)]
    visit_id: Cow<'a, str>,
    #[serde(borrow)]
    household: FoundLite<'a>,
    #[serde(borrow, default)]
    members: Vec<MemberLite<'a>>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(borrow, default)]
    outcome_reason: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reference_household_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    answers: BTreeMap<Cow<'a, str>, Value>,
    #[serde(default)]
    gps: Option<GpsLite>,
    #[serde(borrow)]
    started_at: Cow<'a, str>,
    #[serde(borrow, default)]
    finished_at: Option<Cow<'a, str>>,
    #[serde(default)]
    questionnaire_version: u32,
    #[serde(default)]
    paradata: Option<ParadataLite>,
}

#[derive(Debug, Deserialize)]
struct ParadataLite {
    duration_s: u32,
}

#[derive(Debug, Deserialize)]
struct FoundLite<'a> {
    #[serde(borrow, default)]
    no_kk: Option<Cow<'a, str>>,
    #[serde(borrow)]
    nama_krt: Cow<'a, str>,
    #[serde(borrow)]
    alamat: Cow<'a, str>,
    #[serde(borrow)]
    rt: Cow<'a, str>,
    #[serde(borrow)]
    rw: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
struct MemberLite<'a> {
    #[serde(borrow, default)]
    nik: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    relationship: u8,
    #[serde(borrow)]
    status: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
struct GpsLite {
    lat: f64,
    lon: f64,
    accuracy_m: f64,
}

impl<'a> ExportRecord<'a> {
    /// Reads a stored record.
    pub fn parse(json: &'a str) -> Result<ExportRecord<'a>, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// What the server adds to a visit's record.
#[derive(Debug, Clone, Default)]
pub struct ExportContext<'a> {
    /// Registry id of the household (none for a proposal).
    pub id_dtsen: Option<&'a str>,
    /// Desa code.
    pub kode_desa: &'a str,
    /// Enumerator's username.
    pub enumerator: &'a str,
    /// Reviewer's username.
    pub reviewer: Option<&'a str>,
    /// When the visit was approved (RFC 3339).
    pub approved_at: Option<&'a str>,
    /// Quality flag codes the visit carried (DESIGN.md §11), space-separated; empty when clean.
    pub flags: &'a str,
}

const LEAD: [&str; 15] = [
    "visit_id",
    "id_dtsen",
    "kode_desa",
    "no_kk",
    "nik_krt",
    "nama_krt",
    "alamat",
    "rt",
    "rw",
    "jumlah_art",
    "nik_art",
    "nama_art",
    "status_art",
    "hasil_kunjungan",
    "alasan",
];
const TAIL: [&str; 11] = [
    "ruta_rujukan",
    "lat",
    "lon",
    "akurasi_m",
    "petugas",
    "pemeriksa",
    "tanggal_kunjungan",
    "tanggal_disetujui",
    // The questionnaire version the visit followed (an older one for a visit begun before a
    // new version was published; its columns are the active version's).
    "versi_kuesioner",
    // Quality control: the flag codes (`quality.gps_far quality.too_fast`) and the duration in
    // seconds (foreground time where the device measured it), so an analyst can filter on them.
    "tanda_mutu",
    "durasi_detik",
];

/// The columns: ids of the questions, in questionnaire order.
#[derive(Debug, Clone)]
pub struct ExportLayout {
    questions: Vec<String>,
}

impl ExportLayout {
    /// The layout for a questionnaire.
    pub fn new(q: &Questionnaire) -> ExportLayout {
        ExportLayout {
            questions: q.questions().map(|q| q.id.clone()).collect(),
        }
    }

    /// Column names.
    pub fn header(&self) -> Vec<String> {
        LEAD.iter()
            .map(|s| s.to_string())
            .chain(self.questions.iter().map(|q| format!("q_{q}")))
            .chain(TAIL.iter().map(|s| s.to_string()))
            .collect()
    }

    /// A short name of the layout (FNV-1a over the question ids, 16 hex digits): cells kept in
    /// compact form are used only under the layout they were written for, so publishing a
    /// questionnaire with other questions falls back to decoding the records, never a shifted
    /// column.
    pub fn key(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        // The format's version first: a change to the cells derived from a record changes it.
        for b in COMPACT_VERSION
            .bytes()
            .chain(self.questions.iter().flat_map(|q| q.bytes().chain([b'\n'])))
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// How many cells come from the record itself (the rest are the server's context).
    pub fn record_width(&self) -> usize {
        RECORD_LEAD + self.questions.len() + RECORD_TAIL
    }

    /// The cells that come from the record, in header order: what [`ExportLayout::compact`]
    /// keeps so an export needs no JSON decoding.
    pub fn record_cells(&self, v: &ExportRecord<'_>) -> Vec<String> {
        let head = v.members.iter().find(|m| m.relationship == 1);
        let list = |f: &dyn for<'m> Fn(&'m MemberLite<'_>) -> &'m str| {
            v.members.iter().map(f).collect::<Vec<_>>().join(LIST_SEP)
        };
        let mut out = Vec::with_capacity(self.record_width());
        out.push(v.visit_id.to_string());
        out.push(v.household.no_kk.as_deref().unwrap_or_default().to_string());
        out.push(
            head.and_then(|m| m.nik.as_deref())
                .unwrap_or_default()
                .to_string(),
        );
        out.push(v.household.nama_krt.to_string());
        out.push(v.household.alamat.to_string());
        out.push(v.household.rt.to_string());
        out.push(v.household.rw.to_string());
        out.push(v.members.len().to_string());
        out.push(list(&|m| m.nik.as_deref().unwrap_or_default()));
        out.push(list(&|m| &m.name));
        out.push(list(&|m| &m.status));
        out.push(v.outcome.to_string());
        out.push(v.outcome_reason.as_deref().unwrap_or_default().to_string());
        for q in &self.questions {
            out.push(v.answers.get(q.as_str()).map(cell).unwrap_or_default());
        }
        out.push(
            v.reference_household_id
                .as_deref()
                .unwrap_or_default()
                .to_string(),
        );
        match &v.gps {
            Some(g) => {
                out.push(format!("{:.6}", g.lat));
                out.push(format!("{:.6}", g.lon));
                out.push(format!("{:.0}", g.accuracy_m));
            }
            None => out.extend([String::new(), String::new(), String::new()]),
        }
        // Stored times are RFC 3339 in UTC: the date is their first ten characters.
        let visited = v.finished_at.as_deref().unwrap_or(&v.started_at);
        out.push(visited.get(..10).unwrap_or(visited).to_string());
        out.push(v.questionnaire_version.to_string());
        let duration = match &v.paradata {
            Some(p) => Some(i64::from(p.duration_s)),
            None => v.finished_at.as_deref().and_then(|f| {
                let f = chrono::DateTime::parse_from_rfc3339(f).ok()?;
                let s = chrono::DateTime::parse_from_rfc3339(&v.started_at).ok()?;
                Some((f - s).num_seconds()).filter(|d| *d >= 0)
            }),
        };
        out.push(duration.map(|d| d.to_string()).unwrap_or_default());
        debug_assert_eq!(out.len(), self.record_width());
        out
    }

    /// The record's cells in compact form (joined by [`COMPACT_SEP`]), written once when a visit
    /// is approved; `None` when a cell holds the separator itself (the export then decodes that
    /// record, as for any visit without compact cells).
    pub fn compact(&self, v: &ExportRecord<'_>) -> Option<String> {
        let cells = self.record_cells(v);
        if cells.iter().any(|c| c.contains(COMPACT_SEP)) {
            return None;
        }
        Some(cells.join(&COMPACT_SEP.to_string()))
    }

    /// Splits compact cells back; `None` when their count is not this layout's.
    pub fn split_compact<'c>(&self, compact: &'c str) -> Option<Vec<&'c str>> {
        let cells: Vec<&str> = compact.split(COMPACT_SEP).collect();
        (cells.len() == self.record_width()).then_some(cells)
    }

    /// A whole row, in header order, from the record's cells and the server's context.
    pub fn assemble<'c>(&self, rec: &[&'c str], ctx: &ExportContext<'c>) -> Vec<&'c str> {
        let q_end = RECORD_LEAD + self.questions.len() + 4;
        let mut out = Vec::with_capacity(LEAD.len() + self.questions.len() + TAIL.len());
        out.push(rec[0]);
        out.push(ctx.id_dtsen.unwrap_or_default());
        out.push(ctx.kode_desa);
        out.extend_from_slice(&rec[1..q_end]);
        out.push(ctx.enumerator);
        out.push(ctx.reviewer.unwrap_or_default());
        out.push(rec[q_end]);
        out.push(
            ctx.approved_at
                .map(|a| a.get(..10).unwrap_or(a))
                .unwrap_or_default(),
        );
        out.push(rec[q_end + 1]);
        out.push(ctx.flags);
        out.push(rec[q_end + 2]);
        out
    }

    /// One visit's cells, in header order.
    pub fn row(&self, v: &ExportRecord<'_>, ctx: &ExportContext<'_>) -> Vec<String> {
        let cells = self.record_cells(v);
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        self.assemble(&refs, ctx)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// Between the cells of [`ExportLayout::compact`]: the ASCII unit separator, which no text a
/// visit carries may hold (control characters are refused at the door).
pub const COMPACT_SEP: char = '\u{1f}';

/// Bumped when [`ExportLayout::record_cells`] changes: older compact cells are then ignored.
const COMPACT_VERSION: &str = "1";

/// Record cells before the questions (`visit_id`, then `no_kk` … `alasan`).
const RECORD_LEAD: usize = 13;
/// Record cells after them: `ruta_rujukan`, `lat`, `lon`, `akurasi_m`, `tanggal_kunjungan`,
/// `versi_kuesioner`, `durasi_detik`.
const RECORD_TAIL: usize = 7;

/// A CSV cell as a spreadsheet will read it safely (OWASP, CSV injection): a cell that begins
/// with `=`, `+`, `-`, `@`, a tab or a carriage return would start a formula in Excel, LibreOffice
/// or Google Sheets, so it gets a leading `'`, which those show as text and do not display. Plain
/// numbers (`-7.123456`, a negative latitude) stay numbers: they cannot be a formula. XLSX cells
/// are written as strings and need none of this.
pub fn csv_safe(cell: &str) -> Cow<'_, str> {
    let risky = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    if risky && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// `-12`, `+3.5`, `-0.000001`: an optional sign, digits, at most one decimal point.
fn is_plain_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// An answer as a cell: text as is, numbers and booleans (`1`/`0`) plainly, lists joined.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(LIST_SEP),
        Value::Object(_) => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{self, Seq};

    #[test]
    fn a_row_has_a_cell_per_column_and_the_head_first() {
        let q = Questionnaire::default_dtsen().unwrap();
        let layout = ExportLayout::new(&q);
        let mut seq = Seq::new(7);
        let at = chrono::Utc::now();
        let (hh, members) = sample::household(&mut seq, "3308010001", 1);
        let v = sample::visit(&mut seq, &hh, &members, at);
        let json = serde_json::to_string(&v).unwrap();
        let lite = ExportRecord::parse(&json).unwrap();
        let ctx = ExportContext {
            id_dtsen: Some("X1"),
            kode_desa: "3308010001",
            enumerator: "petugas",
            reviewer: Some("spv"),
            approved_at: Some("2026-11-20T08:00:00.000Z"),
            flags: "quality.gps_far",
        };
        let row = layout.row(&lite, &ctx);
        let header = layout.header();
        assert_eq!(row.len(), header.len());
        let col = |name: &str| &row[header.iter().position(|h| h == name).unwrap()];
        assert_eq!(col("id_dtsen"), "X1");
        assert_eq!(col("tanggal_disetujui"), "2026-11-20");
        assert_eq!(col("tanda_mutu"), "quality.gps_far");
        assert_eq!(col("durasi_detik"), "660");
        assert_eq!(col("jumlah_art"), &v.members.len().to_string());
        let head = v
            .members
            .iter()
            .find(|m| m.relationship.code() == 1)
            .unwrap();
        assert_eq!(col("nik_krt"), head.nik.as_deref().unwrap_or(""));
        assert_eq!(col("nama_art").split(LIST_SEP).count(), v.members.len());
        assert!(header.iter().any(|h| h.starts_with("q_")));
        assert_eq!(col("hasil_kunjungan"), v.outcome.as_str());
        assert_eq!(
            col("tanggal_kunjungan"),
            &v.finished_at
                .unwrap_or(v.started_at)
                .format("%Y-%m-%d")
                .to_string()
        );
        let answered = v.answers.keys().next().unwrap();
        assert_eq!(col(&format!("q_{answered}")), &cell(&v.answers[answered]));
    }

    #[test]
    fn compact_cells_give_the_same_row_and_belong_to_their_layout() {
        let q = Questionnaire::default_dtsen().unwrap();
        let layout = ExportLayout::new(&q);
        let mut seq = Seq::new(11);
        let (hh, members) = sample::household(&mut seq, "3308010001", 2);
        let v = sample::visit(&mut seq, &hh, &members, chrono::Utc::now());
        let json = serde_json::to_string(&v).unwrap();
        let lite = ExportRecord::parse(&json).unwrap();
        let ctx = ExportContext {
            id_dtsen: Some("X2"),
            kode_desa: "3308010001",
            enumerator: "petugas",
            reviewer: None,
            approved_at: Some("2026-11-21T08:00:00.000Z"),
            flags: "",
        };
        let compact = layout.compact(&lite).unwrap();
        let cells = layout.split_compact(&compact).unwrap();
        let from_compact: Vec<String> = layout
            .assemble(&cells, &ctx)
            .into_iter()
            .map(str::to_string)
            .collect();
        assert_eq!(from_compact, layout.row(&lite, &ctx));
        assert_eq!(from_compact.len(), layout.header().len());
        // Another questionnaire is another layout: its key differs and the cells do not fit.
        let fewer = ExportLayout {
            questions: layout.questions[1..].to_vec(),
        };
        assert_ne!(fewer.key(), layout.key());
        assert!(fewer.split_compact(&compact).is_none());
        assert_eq!(layout.key(), ExportLayout::new(&q).key(), "stable");
    }

    #[test]
    fn csv_cells_never_start_a_formula_but_numbers_stay_numbers() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"klik\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "-",
            "=",
        ] {
            let safe = csv_safe(bad);
            assert!(safe.starts_with('\''), "{bad:?} -> {safe:?}");
            assert_eq!(&safe[1..], bad, "the text itself is kept");
        }
        for fine in [
            "-7.123456",
            "110.5",
            "+62",
            "-0",
            "Siti",
            "",
            "3308012001",
            "a=b",
        ] {
            assert_eq!(csv_safe(fine), fine);
        }
        assert!(csv_safe("-1.").starts_with('\''));
        assert!(csv_safe("-1.2.3").starts_with('\''));
    }

    #[test]
    fn answers_become_plain_cells() {
        assert_eq!(cell(&serde_json::json!(true)), "1");
        assert_eq!(cell(&serde_json::json!(12)), "12");
        assert_eq!(cell(&serde_json::json!(["a", "b"])), "a;b");
        assert_eq!(cell(&serde_json::json!(null)), "");
    }
}
