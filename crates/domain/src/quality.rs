//! Quality control (DESIGN.md §11): the evidence a supervisor needs to look at the right visits
//! first. Each rule turns one visit, and what the server knows around it ([`Evidence`]), into
//! flags `{code, severity, detail}` under thresholds an admin can change ([`Thresholds`]); the
//! flags add up to a [`risk`] score that orders the review queue.
//!
//! Pure functions: the server gathers the evidence (indexed look-ups, never a scan per visit) and
//! stores the flags at ingest; this module only decides. A rule stays quiet when its evidence is
//! unknown (an older device without a duration, a household without a reference point): a flag
//! must mean something was seen, never that something was missing from the data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::visit::{Gps, Outcome, VisitRecord};

/// How much a flag weighs in the review order.
#[derive(
    ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a glance (a vague fix).
    Info,
    /// Worth checking before approving (a fast visit, a fix far from the house).
    Warning,
    /// Points at fabrication or a wrong person (a reused photo, a NIK held elsewhere, a mock
    /// location).
    High,
}

impl Severity {
    /// Points in the risk score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Info => 1,
            Severity::Warning => 3,
            Severity::High => 10,
        }
    }
}

/// What a flag says (the codes of DESIGN.md §11; labels in the vocabulary).
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlagCode {
    /// Shorter than the outcome's minimum duration.
    #[serde(rename = "quality.too_fast")]
    TooFast,
    /// An outcome that needs a fix has none.
    #[serde(rename = "quality.gps_missing")]
    GpsMissing,
    /// The fix is vaguer than the accuracy threshold.
    #[serde(rename = "quality.gps_inaccurate")]
    GpsInaccurate,
    /// Farther from the household's reference point than the threshold.
    #[serde(rename = "quality.gps_far")]
    GpsFar,
    /// The platform reported a mock location.
    #[serde(rename = "quality.mock_location")]
    MockLocation,
    /// A photo already used by another visit.
    #[serde(rename = "quality.photo_reused")]
    PhotoReused,
    /// A member's NIK is held by a living member of another household.
    #[serde(rename = "quality.nik_duplicate")]
    NikDuplicate,
    /// More finished visits by the enumerator within an hour than the threshold.
    #[serde(rename = "quality.burst")]
    Burst,
    /// Another visit of the same household in the period.
    #[serde(rename = "quality.two_visits")]
    TwoVisits,
    /// Recorded by an enumerator the household is no longer assigned to.
    #[serde(rename = "quality.reassigned")]
    Reassigned,
}

impl FlagCode {
    /// Every code, in the order the dashboard lists them.
    pub const ALL: [FlagCode; 10] = [
        FlagCode::PhotoReused,
        FlagCode::NikDuplicate,
        FlagCode::MockLocation,
        FlagCode::GpsFar,
        FlagCode::TooFast,
        FlagCode::Burst,
        FlagCode::TwoVisits,
        FlagCode::Reassigned,
        FlagCode::GpsMissing,
        FlagCode::GpsInaccurate,
    ];

    /// The wire name (`quality.too_fast`).
    pub fn as_str(self) -> &'static str {
        match self {
            FlagCode::TooFast => "quality.too_fast",
            FlagCode::GpsMissing => "quality.gps_missing",
            FlagCode::GpsInaccurate => "quality.gps_inaccurate",
            FlagCode::GpsFar => "quality.gps_far",
            FlagCode::MockLocation => "quality.mock_location",
            FlagCode::PhotoReused => "quality.photo_reused",
            FlagCode::NikDuplicate => "quality.nik_duplicate",
            FlagCode::Burst => "quality.burst",
            FlagCode::TwoVisits => "quality.two_visits",
            FlagCode::Reassigned => "quality.reassigned",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<FlagCode> {
        FlagCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How much it weighs.
    pub fn severity(self) -> Severity {
        match self {
            FlagCode::PhotoReused | FlagCode::NikDuplicate | FlagCode::MockLocation => {
                Severity::High
            }
            FlagCode::GpsFar
            | FlagCode::TooFast
            | FlagCode::Burst
            | FlagCode::TwoVisits
            | FlagCode::Reassigned
            | FlagCode::GpsMissing => Severity::Warning,
            FlagCode::GpsInaccurate => Severity::Info,
        }
    }
}

/// One finding about a visit, with what the supervisor needs to check it (`detail`: for
/// `gps_far` the distance, for `photo_reused` the other visit, for `nik_duplicate` the other
/// household…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub code: FlagCode,
    pub severity: Severity,
    /// Facts behind the flag, as JSON for the dashboard and the export.
    pub detail: Value,
    /// The flag in words, in the reader's language, with its main fact; filled where a flag is
    /// shown (the review API), never stored.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Flag {
    /// A flag of `code` at its severity.
    pub fn new(code: FlagCode, detail: Value) -> Flag {
        Flag {
            code,
            severity: code.severity(),
            detail,
            message: String::new(),
        }
    }

    /// The flag in words with its main fact ("Jauh dari titik rumah tangga: 2.004 m, batas
    /// 200 m"); a NIK is shown masked (region and last two digits).
    pub fn describe(&self, lang: crate::Lang) -> String {
        let (id, en) = crate::vocabulary::flag_label(self.code);
        let en_lang = lang == crate::Lang::En;
        let label = if en_lang { en } else { id };
        let d = &self.detail;
        let n = |k: &str| d[k].as_f64().unwrap_or(0.0).round() as i64;
        let fact = match self.code {
            FlagCode::TooFast if en_lang => {
                format!("{} s, at least {} s", n("duration_s"), n("min_s"))
            }
            FlagCode::TooFast => format!("{} detik, minimal {} detik", n("duration_s"), n("min_s")),
            FlagCode::GpsFar if en_lang => format!("{} m, limit {} m", n("distance_m"), n("max_m")),
            FlagCode::GpsFar => format!("{} m, batas {} m", n("distance_m"), n("max_m")),
            FlagCode::GpsInaccurate if en_lang => {
                format!("accuracy {} m, limit {} m", n("accuracy_m"), n("max_m"))
            }
            FlagCode::GpsInaccurate => {
                format!("akurasi {} m, batas {} m", n("accuracy_m"), n("max_m"))
            }
            FlagCode::Burst if en_lang => format!("{} in an hour, limit {}", n("visits"), n("max")),
            FlagCode::Burst => format!("{} dalam sejam, batas {}", n("visits"), n("max")),
            FlagCode::PhotoReused => d["other_visit"].as_str().unwrap_or_default().to_string(),
            FlagCode::NikDuplicate => {
                format!(
                    "NIK {}",
                    crate::nik::mask(d["nik"].as_str().unwrap_or_default())
                )
            }
            _ => String::new(),
        };
        if fact.is_empty() {
            label.to_string()
        } else {
            format!("{label}: {fact}")
        }
    }
}

/// Puts `flag` among `flags` (replacing one of the same code), most severe first: for a visit
/// that only learns something new about its neighbours (another visit of its household, a burst
/// in its hour) without its own evidence being gathered again.
pub fn merge(flags: &mut Vec<Flag>, flag: Flag) {
    flags.retain(|f| f.code != flag.code);
    flags.push(flag);
    flags.sort_by_key(|f| std::cmp::Reverse(f.severity));
}

/// Two visits of one household: the flag a visit carries, naming the others.
pub fn two_visits(others: &[Uuid]) -> Flag {
    Flag::new(FlagCode::TwoVisits, json!({"other_visits": others}))
}

/// A burst: the flag a visit carries when its enumerator finished `visits` within an hour.
pub fn burst(visits: u32, t: &Thresholds) -> Flag {
    Flag::new(
        FlagCode::Burst,
        json!({"visits": visits, "max": t.burst_per_hour}),
    )
}

/// The thresholds of the rules, stored on the server and changed by an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Shortest believable visit per outcome, seconds (an outcome not listed has none).
    pub min_duration_s: BTreeMap<Outcome, u32>,
    /// A fix vaguer than this, metres, is `gps_inaccurate`.
    pub gps_accuracy_m: f64,
    /// Farther than this from the household's reference point, metres, is `gps_far`.
    pub gps_far_m: f64,
    /// More finished visits than this by one enumerator within an hour is a `burst`.
    pub burst_per_hour: u32,
}

impl Default for Thresholds {
    /// DESIGN.md §11: a `ditemukan` visit (or a new household) under five minutes is too fast;
    /// the door-step outcomes under one; 50 m accuracy; 200 m from the reference; 12 an hour.
    fn default() -> Thresholds {
        let mut min = BTreeMap::new();
        for o in Outcome::ALL {
            let s = if o.needs_answers() { 300 } else { 60 };
            min.insert(o, s);
        }
        Thresholds {
            min_duration_s: min,
            gps_accuracy_m: 50.0,
            gps_far_m: 200.0,
            burst_per_hour: 12,
        }
    }
}

/// Why a set of thresholds was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// A distance or accuracy that is not a positive number of metres.
    #[error("{0} must be a positive number of metres")]
    Metres(&'static str),
    /// A burst limit of zero would flag every visit.
    #[error("the burst limit must be at least 1 visit an hour")]
    Burst,
    /// A minimum duration above two hours would flag every honest visit.
    #[error("a minimum duration must be at most 7,200 seconds")]
    Duration,
}

impl Thresholds {
    /// Checks an admin's change before it is stored.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        let metres = |v: f64| v.is_finite() && v > 0.0;
        if !metres(self.gps_accuracy_m) {
            return Err(ThresholdError::Metres("gps_accuracy_m"));
        }
        if !metres(self.gps_far_m) {
            return Err(ThresholdError::Metres("gps_far_m"));
        }
        if self.burst_per_hour == 0 {
            return Err(ThresholdError::Burst);
        }
        if self.min_duration_s.values().any(|s| *s > 7_200) {
            return Err(ThresholdError::Duration);
        }
        Ok(())
    }
}

/// What the server knows around one visit, gathered by indexed look-ups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    /// How long the visit took, seconds: the device's foreground time where it sent one,
    /// otherwise finish minus start; `None` when neither is known.
    pub duration_s: Option<u32>,
    /// The household's reference point: the fix of its last approved visit.
    pub reference: Option<Gps>,
    /// Photos of this visit (SHA-256) that another visit uses too, with that visit.
    pub reused_photos: Vec<(String, Uuid)>,
    /// NIKs of this visit's members held by a living member of another household, with it.
    pub duplicate_niks: Vec<(String, Uuid)>,
    /// Visits the same enumerator finished within the hour up to this one's finish (this one
    /// included).
    pub finished_within_hour: u32,
    /// Other visits of the household in the period.
    pub other_visits: Vec<Uuid>,
    /// The household is assigned to someone else than the visit's enumerator.
    pub reassigned: bool,
}

/// How long a visit took, seconds: the device's foreground time where it measured one (paradata),
/// otherwise finish minus start.
pub fn duration_s(visit: &VisitRecord) -> Option<u32> {
    match &visit.paradata {
        Some(p) => Some(p.duration_s),
        None => wall_duration_s(visit.started_at, visit.finished_at),
    }
}

/// Whether the platform reported a fix of the visit as mocked.
pub fn mocked(visit: &VisitRecord) -> bool {
    visit.gps.is_some_and(|g| g.mocked == Some(true))
        || visit
            .paradata
            .as_ref()
            .is_some_and(|p| p.mock_location == Some(true))
}

/// The duration of a visit from its clock times, seconds, where both are known and in order.
pub fn wall_duration_s(started: DateTime<Utc>, finished: Option<DateTime<Utc>>) -> Option<u32> {
    let secs = (finished? - started).num_seconds();
    u32::try_from(secs).ok()
}

/// Great-circle distance between two fixes, metres (haversine on a 6,371 km sphere: within
/// 0.5 % of the ellipsoid, far inside a 200 m threshold's needs).
pub fn distance_m(a: &Gps, b: &Gps) -> f64 {
    let r = 6_371_000.0_f64;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dla = la2 - la1;
    let dlo = (b.lon - a.lon).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().min(1.0).asin()
}

/// Every flag the rules raise for `visit`, most severe first.
pub fn flags(visit: &VisitRecord, e: &Evidence, t: &Thresholds) -> Vec<Flag> {
    let mut out = Vec::new();
    let outcome = visit.outcome;
    if let (Some(d), Some(min)) = (e.duration_s, t.min_duration_s.get(&outcome))
        && d < *min
    {
        out.push(Flag::new(
            FlagCode::TooFast,
            json!({"duration_s": d, "min_s": min}),
        ));
    }
    // Only an outcome at the door needs a fix; a household that moved away may have no house.
    let needs_fix = outcome.needs_answers();
    match &visit.gps {
        None if needs_fix => out.push(Flag::new(FlagCode::GpsMissing, json!({}))),
        None => {}
        Some(g) => {
            if g.accuracy_m > t.gps_accuracy_m {
                out.push(Flag::new(
                    FlagCode::GpsInaccurate,
                    json!({"accuracy_m": g.accuracy_m.round(), "max_m": t.gps_accuracy_m}),
                ));
            }
            if let Some(r) = &e.reference {
                let d = distance_m(g, r);
                if d > t.gps_far_m {
                    out.push(Flag::new(
                        FlagCode::GpsFar,
                        json!({"distance_m": d.round(), "max_m": t.gps_far_m,
                               "reference": {"lat": r.lat, "lon": r.lon}}),
                    ));
                }
            }
        }
    }
    if mocked(visit) {
        out.push(Flag::new(FlagCode::MockLocation, json!({})));
    }
    for (sha, other) in &e.reused_photos {
        out.push(Flag::new(
            FlagCode::PhotoReused,
            json!({"sha256": sha, "other_visit": other}),
        ));
    }
    for (nik, household) in &e.duplicate_niks {
        out.push(Flag::new(
            FlagCode::NikDuplicate,
            json!({"nik": nik, "other_household": household}),
        ));
    }
    if e.finished_within_hour > t.burst_per_hour {
        out.push(burst(e.finished_within_hour, t));
    }
    if !e.other_visits.is_empty() {
        out.push(two_visits(&e.other_visits));
    }
    if e.reassigned {
        out.push(Flag::new(FlagCode::Reassigned, json!({})));
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

/// The review order's score: the flags' weights added up (0 for a clean visit).
pub fn risk(flags: &[Flag]) -> u32 {
    flags.iter().map(|f| f.severity.weight()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{self, Seq};
    use chrono::Duration;

    fn clean() -> (VisitRecord, Evidence) {
        let mut s = Seq::new(3);
        let hh = sample::household(&mut s, "3308012001", 0);
        let now = Utc::now();
        let v = sample::visit(&mut s, &hh.0, &hh.1, now);
        let e = Evidence {
            duration_s: wall_duration_s(v.started_at, v.finished_at),
            reference: v.gps,
            finished_within_hour: 3,
            ..Evidence::default()
        };
        (v, e)
    }

    fn codes(f: &[Flag]) -> Vec<&'static str> {
        f.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn a_clean_visit_carries_no_flag() {
        let (v, e) = clean();
        let f = flags(&v, &e, &Thresholds::default());
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(risk(&f), 0);
    }

    #[test]
    fn each_rule_fires_on_its_own_evidence() {
        let t = Thresholds::default();
        let (v, e) = clean();
        let other = Uuid::now_v7();

        let mut fast = v.clone();
        fast.started_at = fast.finished_at.unwrap() - Duration::minutes(4);
        let e_fast = Evidence {
            duration_s: wall_duration_s(fast.started_at, fast.finished_at),
            ..e.clone()
        };
        let f = flags(&fast, &e_fast, &t);
        assert_eq!(codes(&f), vec!["quality.too_fast"]);
        assert_eq!(f[0].detail, json!({"duration_s": 240, "min_s": 300}));

        let mut no_fix = v.clone();
        no_fix.gps = None;
        assert_eq!(codes(&flags(&no_fix, &e, &t)), vec!["quality.gps_missing"]);

        let mut vague = v.clone();
        vague.gps.as_mut().unwrap().accuracy_m = 80.0;
        assert_eq!(
            codes(&flags(&vague, &e, &t)),
            vec!["quality.gps_inaccurate"]
        );

        let mut mocked = v.clone();
        mocked.gps.as_mut().unwrap().mocked = Some(true);
        assert_eq!(
            codes(&flags(&mocked, &e, &t)),
            vec!["quality.mock_location"]
        );

        // About 2 km north of the reference point.
        let mut far = v.clone();
        far.gps.as_mut().unwrap().lat += 0.018;
        let f = flags(&far, &e, &t);
        assert_eq!(codes(&f), vec!["quality.gps_far"]);
        let d = f[0].detail["distance_m"].as_f64().unwrap();
        assert!((1_950.0..2_050.0).contains(&d), "{d}");

        let sha = v.photos[0].clone();
        let reused = Evidence {
            reused_photos: vec![(sha.clone(), other)],
            ..e.clone()
        };
        let f = flags(&v, &reused, &t);
        assert_eq!(codes(&f), vec!["quality.photo_reused"]);
        assert_eq!(f[0].detail["other_visit"], json!(other));

        let dup = Evidence {
            duplicate_niks: vec![("3308014107800001".into(), other)],
            ..e.clone()
        };
        assert_eq!(codes(&flags(&v, &dup, &t)), vec!["quality.nik_duplicate"]);

        let burst = Evidence {
            finished_within_hour: 13,
            ..e.clone()
        };
        assert_eq!(codes(&flags(&v, &burst, &t)), vec!["quality.burst"]);

        let twice = Evidence {
            other_visits: vec![other],
            ..e.clone()
        };
        assert_eq!(codes(&flags(&v, &twice, &t)), vec!["quality.two_visits"]);

        let moved = Evidence {
            reassigned: true,
            ..e.clone()
        };
        assert_eq!(codes(&flags(&v, &moved, &t)), vec!["quality.reassigned"]);
    }

    #[test]
    fn unknown_evidence_raises_nothing() {
        let (mut v, _) = clean();
        // An older device: no duration known, no reference point, a door-step outcome without
        // a fix.
        v.outcome = Outcome::TidakDitemukan;
        v.gps = None;
        let f = flags(&v, &Evidence::default(), &Thresholds::default());
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(wall_duration_s(v.started_at, None), None);
        let before = v.started_at - Duration::seconds(5);
        assert_eq!(wall_duration_s(v.started_at, Some(before)), None);
    }

    #[test]
    fn a_fabricated_visit_outranks_a_careless_one() {
        let t = Thresholds::default();
        let (v, e) = clean();
        let careless = Evidence {
            duration_s: Some(200),
            ..e.clone()
        };
        let mut far = v.clone();
        far.gps.as_mut().unwrap().lat += 0.018;
        let fabricated = Evidence {
            duration_s: Some(150),
            reused_photos: vec![(v.photos[0].clone(), Uuid::now_v7())],
            ..e.clone()
        };
        let a = flags(&v, &careless, &t);
        let b = flags(&far, &fabricated, &t);
        assert!(risk(&b) > risk(&a), "{b:?} vs {a:?}");
        // Most severe first.
        assert_eq!(b[0].code, FlagCode::PhotoReused);
    }

    #[test]
    fn thresholds_are_checked_before_they_are_stored() {
        let ok = Thresholds::default();
        assert!(ok.validate().is_ok());
        assert_eq!(ok.min_duration_s[&Outcome::Ditemukan], 300);
        assert_eq!(ok.min_duration_s[&Outcome::Menolak], 60);
        let bad = Thresholds {
            gps_far_m: 0.0,
            ..ok.clone()
        };
        assert_eq!(bad.validate(), Err(ThresholdError::Metres("gps_far_m")));
        let bad = Thresholds {
            burst_per_hour: 0,
            ..ok.clone()
        };
        assert_eq!(bad.validate(), Err(ThresholdError::Burst));
        let mut bad = ok.clone();
        bad.min_duration_s.insert(Outcome::Ditemukan, 10_000);
        assert_eq!(bad.validate(), Err(ThresholdError::Duration));
        // Stored as JSON with outcomes by their wire names.
        let text = serde_json::to_value(&ok).unwrap();
        assert_eq!(text["min_duration_s"]["ditemukan"], json!(300));
    }

    #[test]
    fn codes_round_trip_and_match_the_wire() {
        for c in FlagCode::ALL {
            assert_eq!(FlagCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
        }
        assert_eq!(
            FlagCode::Reassigned.as_str(),
            crate::assignment::FLAG_REASSIGNED
        );
    }
}
