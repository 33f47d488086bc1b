//! Finding the right house: how a typed search ranks a household, and why it matched.
//!
//! An enumerator types a name, an address or a number at the door. Matching any word anywhere
//! (the first version) listed "Adi Rahayu" before "Dwi Rahayu" and a visit went to the wrong
//! house. The rule here ranks, best first:
//!
//! 1. an exact NIK or No. KK (all the digits typed), or the head's exact name;
//! 2. a member's exact name, or the exact address;
//! 3. the head's name containing the typed words as a phrase, or starting with them;
//! 4. a member's name containing the phrase;
//! 5. the address containing the phrase, or a NIK / No. KK / id DTSEN containing the digits;
//! 6. every typed word somewhere in the household (the old rule, last).
//!
//! Comparison ignores case and repeated spaces. The answer says which field matched, so the
//! list can show "anggota: Dwi Rahayu" under a head of another name.

use serde::{Deserialize, Serialize};

/// What a household offers to a search.
#[derive(Debug, Clone, Default)]
pub struct Searchable<'a> {
    pub nama_krt: &'a str,
    pub alamat: &'a str,
    pub no_kk: Option<&'a str>,
    pub id_dtsen: Option<&'a str>,
    /// Members: name and NIK.
    pub members: Vec<(&'a str, Option<&'a str>)>,
}

/// Which field a search matched.
#[derive(ts_rs::TS, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchField {
    /// The head's name.
    Head,
    /// A member's name.
    Member,
    /// A member's NIK.
    Nik,
    /// The No. KK.
    NoKk,
    /// The id DTSEN.
    IdDtsen,
    /// The address.
    Address,
    /// Words spread over several fields.
    Words,
}

/// Why a household matched: the field and its text ("Dwi Rahayu", "3308…").
#[derive(ts_rs::TS, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// 1 (exact) to 6 (words anywhere); lower is better.
    pub tier: u8,
    pub field: MatchField,
    /// The matched field's text.
    pub text: String,
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// How `query` matches `h`, or `None` when it does not. An empty query matches nothing (the
/// caller lists everything in its own order).
pub fn rank(query: &str, h: &Searchable<'_>) -> Option<Match> {
    let q = norm(query);
    if q.is_empty() {
        return None;
    }
    let digits = q.chars().all(|c| c.is_ascii_digit()) && q.len() >= 4;
    let hit = |tier, field, text: &str| {
        Some(Match {
            tier,
            field,
            text: text.to_string(),
        })
    };
    let numbers = || {
        h.members
            .iter()
            .filter_map(|(_, nik)| nik.map(|n| (MatchField::Nik, n)))
            .chain(h.no_kk.map(|k| (MatchField::NoKk, k)))
            .chain(h.id_dtsen.map(|d| (MatchField::IdDtsen, d)))
    };
    if digits && let Some((f, n)) = numbers().find(|(f, n)| *f != MatchField::IdDtsen && *n == q) {
        return hit(1, f, n);
    }
    let head = norm(h.nama_krt);
    if head == q {
        return hit(1, MatchField::Head, h.nama_krt);
    }
    if let Some((name, _)) = h.members.iter().find(|(n, _)| norm(n) == q) {
        return hit(2, MatchField::Member, name);
    }
    if norm(h.alamat) == q {
        return hit(2, MatchField::Address, h.alamat);
    }
    if head.contains(&q) {
        return hit(3, MatchField::Head, h.nama_krt);
    }
    if let Some((name, _)) = h.members.iter().find(|(n, _)| norm(n).contains(&q)) {
        return hit(4, MatchField::Member, name);
    }
    if norm(h.alamat).contains(&q) {
        return hit(5, MatchField::Address, h.alamat);
    }
    if digits && let Some((f, n)) = numbers().find(|(_, n)| n.contains(&q)) {
        return hit(5, f, n);
    }
    let all = norm(&format!(
        "{} {} {} {} {}",
        h.nama_krt,
        h.alamat,
        h.no_kk.unwrap_or(""),
        h.id_dtsen.unwrap_or(""),
        h.members
            .iter()
            .map(|(n, k)| format!("{n} {}", k.unwrap_or("")))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    if q.split(' ').all(|w| all.contains(w)) {
        return hit(6, MatchField::Words, "");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hh<'a>(head: &'a str, members: Vec<(&'a str, Option<&'a str>)>) -> Searchable<'a> {
        Searchable {
            nama_krt: head,
            alamat: "Dusun Krajan RT 001",
            no_kk: Some("3308011203040001"),
            id_dtsen: Some("D-001"),
            members,
        }
    }

    #[test]
    fn the_exact_name_comes_before_a_similar_one() {
        let dwi = hh("Dwi Rahayu", vec![("Dwi Rahayu", None)]);
        let adi = hh("Adi Rahayu", vec![("Adi Rahayu", None), ("Siti", None)]);
        let a = rank("dwi  rahayu", &dwi).unwrap();
        assert_eq!((a.tier, a.field), (1, MatchField::Head));
        // "Adi Rahayu" does not contain the phrase "dwi rahayu": no match at all.
        assert_eq!(rank("Dwi Rahayu", &adi), None);
        // Both contain "rahayu": the head's name, tier 3.
        assert_eq!(rank("rahayu", &adi).unwrap().tier, 3);
    }

    #[test]
    fn a_member_says_who_matched() {
        let h = hh(
            "Slamet",
            vec![("Slamet", None), ("Dwi Rahayu", Some("3308014107900002"))],
        );
        let m = rank("Dwi Rahayu", &h).unwrap();
        assert_eq!(
            (m.tier, m.field, m.text.as_str()),
            (2, MatchField::Member, "Dwi Rahayu")
        );
        assert_eq!(rank("rahayu", &h).unwrap().field, MatchField::Member);
        let n = rank("3308014107900002", &h).unwrap();
        assert_eq!((n.tier, n.field), (1, MatchField::Nik));
        let part = rank("41079", &h).unwrap();
        assert_eq!((part.tier, part.field), (5, MatchField::Nik));
        assert_eq!(
            rank("3308011203040001", &h).unwrap().field,
            MatchField::NoKk
        );
    }

    #[test]
    fn words_spread_over_fields_match_last_and_nothing_else_matches() {
        let h = hh("Slamet", vec![("Slamet", None), ("Wati", None)]);
        assert_eq!(rank("krajan", &h).unwrap().field, MatchField::Address);
        assert_eq!(rank("wati krajan", &h).unwrap().tier, 6);
        assert_eq!(rank("budi", &h), None);
        assert_eq!(rank("   ", &h), None);
    }
}
