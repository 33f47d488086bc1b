//! Synthetic households, members and visits for demos, tests and benchmarks. Every name, NIK and
//! address here is generated from a seed; none belongs to a real person.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::household::{
    Household, HouseholdFields, HouseholdFound, Member, PresenceStatus, Relationship, Sex,
};
use crate::visit::{Gps, Outcome, Paradata, PhotoKind, VisitRecord};

const GIVEN_L: &[&str] = &[
    "Adi", "Bagus", "Cahyo", "Dwi", "Eko", "Fajar", "Gilang", "Hadi", "Joko", "Slamet",
];
const GIVEN_P: &[&str] = &[
    "Ayu", "Bunga", "Citra", "Dewi", "Endah", "Fitri", "Gita", "Indah", "Sri", "Wulan",
];
const FAMILY: &[&str] = &[
    "Prasetyo",
    "Santoso",
    "Wibowo",
    "Lestari",
    "Rahayu",
    "Saputra",
    "Kurniawan",
    "Utami",
];
const DUSUN: &[&str] = &[
    "Krajan",
    "Sidomulyo",
    "Karanganyar",
    "Ngasem",
    "Tegalsari",
    "Sumberejo",
];

/// A small deterministic generator (splitmix64) so samples are reproducible without a rand crate.
#[derive(Debug, Clone)]
pub struct Seq(u64);

impl Seq {
    /// Starts from a seed.
    pub fn new(seed: u64) -> Seq {
        Seq(seed)
    }

    /// Next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A deterministic UUIDv7-shaped id (version and variant bits set).
    pub fn uuid(&mut self) -> Uuid {
        let hi = self.next_u64();
        let lo = self.next_u64();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        let mut u = uuid::Builder::from_bytes(b);
        u.set_version(uuid::Version::SortRand);
        u.set_variant(uuid::Variant::RFC4122);
        u.into_uuid()
    }
}

/// A synthetic NIK for a person registered in `kecamatan` (6 digits), valid against sex and date.
pub fn synthetic_nik(kecamatan: &str, sex: Sex, birth: NaiveDate, serial: u32) -> String {
    let day = birth.day() + if sex == Sex::P { 40 } else { 0 };
    format!(
        "{kecamatan}{day:02}{:02}{:02}{:04}",
        birth.month(),
        birth.year() % 100,
        serial % 9999 + 1
    )
}

/// A synthetic household of desa `kode_desa` (10 digits) with 1–6 members, the head first.
pub fn household(seq: &mut Seq, kode_desa: &str, index: u32) -> (Household, Vec<Member>) {
    let kec = &kode_desa[..6];
    let family = seq.pick(FAMILY);
    let n_members = 1 + seq.below(6) as usize;
    let base = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or(NaiveDate::MIN);
    let mut members = Vec::with_capacity(n_members);
    for i in 0..n_members {
        let sex = if i == 1 || (i > 1 && seq.below(2) == 0) {
            Sex::P
        } else {
            Sex::L
        };
        let relationship = match i {
            0 => Relationship::Kepala,
            1 => Relationship::Pasangan,
            _ => Relationship::Anak,
        };
        let age_days = if i < 2 { 365 * 20 } else { 365 * 45 } + seq.below(365 * 20) as i64;
        let birth = base + Duration::days(age_days);
        let given = if sex == Sex::L {
            seq.pick(GIVEN_L)
        } else {
            seq.pick(GIVEN_P)
        };
        members.push(Member {
            member_id: seq.uuid(),
            nik: Some(synthetic_nik(kec, sex, birth, index * 8 + i as u32)),
            name: format!("{given} {family}"),
            sex,
            birth_place: Some("Magelang".into()),
            birth_date: Some(birth),
            relationship,
            status: PresenceStatus::Tinggal,
            exit: None,
        });
    }
    let hh = Household {
        id: seq.uuid(),
        id_dtsen: Some(format!("DTSEN{:010}", seq.below(10_000_000_000))),
        fields: HouseholdFields {
            no_kk: Some(format!(
                "{kec}{:02}{:02}{:02}{:04}",
                1 + seq.below(28),
                1 + seq.below(12),
                10 + seq.below(15),
                1 + index % 9999
            )),
            nama_krt: members[0].name.clone(),
            alamat: format!("Dusun {} No. {}", seq.pick(DUSUN), 1 + seq.below(200)),
            rt: format!("{:03}", 1 + index % 12),
            rw: format!("{:03}", 1 + index % 4),
        },
        kode_desa: kode_desa.to_string(),
        desil: Some(1 + seq.below(10) as u8),
        version: 1,
    };
    (hh, members)
}

/// Complete answers to the default DTSEN questionnaire, varied by the seed.
pub fn answers(seq: &mut Seq) -> BTreeMap<String, Value> {
    let pln = seq.below(4) < 3;
    let mut a: BTreeMap<String, Value> = BTreeMap::new();
    let choice = |seq: &mut Seq, n: u64| json!((1 + seq.below(n)).to_string());
    a.insert("status_bangunan".into(), choice(seq, 5));
    a.insert("luas_lantai".into(), json!(12 + seq.below(120)));
    a.insert("jenis_lantai".into(), choice(seq, 9));
    a.insert("jenis_dinding".into(), choice(seq, 7));
    a.insert("kondisi_dinding".into(), choice(seq, 2));
    a.insert("jenis_atap".into(), choice(seq, 8));
    a.insert("kondisi_atap".into(), choice(seq, 2));
    a.insert("sumber_air_minum".into(), choice(seq, 11));
    a.insert(
        "sumber_penerangan".into(),
        json!(if pln { "1" } else { "4" }),
    );
    if pln {
        a.insert("daya_terpasang".into(), choice(seq, 6));
    }
    a.insert("bahan_bakar_memasak".into(), choice(seq, 12));
    a.insert("fasilitas_bab".into(), json!("1"));
    a.insert("jenis_kloset".into(), json!("1"));
    a.insert("pembuangan_tinja".into(), json!("1"));
    a.insert("aset".into(), json!(["9", "15"]));
    a.insert("memiliki_lahan".into(), json!(false));
    a.insert("memiliki_rumah_lain".into(), json!(false));
    for p in [
        "penerima_pkh",
        "penerima_bpnt",
        "penerima_pbi_jkn",
        "penerima_pip",
    ] {
        a.insert(p.into(), json!(seq.below(2) == 0));
    }
    a
}

/// A finished `ditemukan` visit of `hh` that passes validation against the default questionnaire.
pub fn visit(seq: &mut Seq, hh: &Household, members: &[Member], at: DateTime<Utc>) -> VisitRecord {
    // Drawn in the order the fields were always drawn, so every seed gives the visits it gave.
    let visit_id = seq.uuid();
    let answers = answers(seq);
    let gps = Some(Gps {
        lat: -7.47 + seq.below(1000) as f64 / 100_000.0,
        lon: 110.21 + seq.below(1000) as f64 / 100_000.0,
        accuracy_m: 4.0 + seq.below(20) as f64,
        at,
        mocked: None,
    });
    let photo = format!(
        "{:064x}",
        u128::from(seq.next_u64()) << 64 | u128::from(seq.next_u64())
    );
    VisitRecord {
        visit_id,
        household_id: hh.id,
        baseline_version: hh.version,
        revision: 1,
        outcome: Outcome::Ditemukan,
        outcome_reason: None,
        reference_household_id: None,
        household: HouseholdFound {
            fields: HouseholdFields {
                no_kk: hh.no_kk.clone(),
                nama_krt: hh.nama_krt.clone(),
                alamat: hh.alamat.clone(),
                rt: hh.rt.clone(),
                rw: hh.rw.clone(),
            },
            kode_desa: hh.kode_desa.clone(),
        },
        members: members.to_vec(),
        questionnaire_version: 1,
        answers,
        gps,
        photos: vec![photo.clone()],
        photo_kinds: [(photo, PhotoKind::Depan)].into(),
        evidence_note: None,
        started_at: at - Duration::minutes(12),
        finished_at: Some(at),
        // Eleven of the twelve minutes in the foreground; the fixes of arrival and finish.
        paradata: Some(Paradata {
            duration_s: 660,
            sections: SECTIONS.iter().map(|(s, t)| (s.to_string(), *t)).collect(),
            answer_changes: 2,
            gps_start: gps.map(|g| Gps {
                at: at - Duration::minutes(11),
                accuracy_m: g.accuracy_m + 6.0,
                ..g
            }),
            gps_finish: gps,
            mock_location: None,
        }),
        graduation: None,
    }
}

/// Foreground seconds per section of the default questionnaire in a sample visit (660 in all).
const SECTIONS: [(&str, u32); 3] = [("perumahan", 300), ("aset", 240), ("program", 120)];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::Questionnaire;
    use crate::visit::{NotFoundReason, VisitContext};

    fn ctx(q: &Questionnaire) -> VisitContext<'_> {
        VisitContext {
            questionnaire: q,
            today: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
            regions: None,
        }
    }

    #[test]
    fn samples_are_valid_and_deterministic() {
        let q = Questionnaire::default_dtsen().unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
            .unwrap()
            .to_utc();
        for i in 0..300 {
            let mut s = Seq::new(i);
            let (hh, members) = household(&mut s, "3308012001", i as u32);
            let v = visit(&mut s, &hh, &members, at);
            let r = v.validate(ctx(&q));
            assert!(r.is_ok(), "seed {i}: {r:?}");
            assert_eq!(v.visit_id.get_version_num(), 7);
        }
        let a = household(&mut Seq::new(5), "3308012001", 1);
        let b = household(&mut Seq::new(5), "3308012001", 1);
        assert_eq!(a, b);
    }

    #[test]
    fn whole_visit_rules() {
        let q = Questionnaire::default_dtsen().unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
            .unwrap()
            .to_utc();
        let mut s = Seq::new(1);
        let (hh, members) = household(&mut s, "3308012001", 1);
        let good = visit(&mut s, &hh, &members, at);

        let mut unfinished = good.clone();
        unfinished.finished_at = None;
        assert_eq!(
            unfinished.validate(ctx(&q)).error_codes(),
            vec!["visit.unfinished"]
        );
        assert!(
            unfinished.validate_draft(ctx(&q)).is_ok(),
            "a draft may be unfinished"
        );

        let mut backwards = good.clone();
        backwards.finished_at = Some(good.started_at - Duration::minutes(1));
        assert_eq!(
            backwards.validate(ctx(&q)).error_codes(),
            vec!["visit.times"]
        );

        let mut missing = good.clone();
        missing.answers.remove("luas_lantai");
        let r = missing.validate(ctx(&q));
        assert_eq!(r.errors[0].field, "answers.luas_lantai");
        assert_eq!(r.error_codes(), vec!["answer.required"]);

        // Not found: no answers needed, and baseline errors (here a broken NIK) do not block.
        let mut gone = good.clone();
        gone.outcome = Outcome::TidakDitemukan;
        gone.outcome_reason = Some(NotFoundReason::Pindah);
        gone.answers.clear();
        gone.members[0].nik = Some("123".into());
        assert!(
            gone.validate(ctx(&q)).is_ok(),
            "{:?}",
            gone.validate(ctx(&q))
        );

        let mut bad_member = good.clone();
        bad_member.members[0].nik = Some("123".into());
        let r = bad_member.validate(ctx(&q));
        assert_eq!(r.errors[0].field, "members[0].nik");
        assert_eq!(r.error_codes(), vec!["nik.format"]);

        let mut bad_photo = good;
        bad_photo.photos.push("xyz".into());
        bad_photo.questionnaire_version = 9;
        assert_eq!(
            bad_photo.validate(ctx(&q)).error_codes(),
            vec!["answer.questionnaire_version", "photo.hash"]
        );
    }
}
