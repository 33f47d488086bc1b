//! NIK (Nomor Induk Kependudukan) and No. KK (Nomor Kartu Keluarga) rules of DESIGN.md §3.
//!
//! NIK layout: `PPKKCC DDMMYY SSSS` — digits 1–6 the kecamatan of first registration (not the
//! current address, so an unknown one only warns), 7–8 the birth day (+40 for women), 9–10 the
//! month, 11–12 the year's last two digits, 13–16 a serial number from 0001.

use chrono::{Datelike, NaiveDate};

use crate::household::Sex;
use crate::issue::{Invalid, Report, Warning};
use crate::region::{RegionDirectory, province_known};

/// What a well-formed NIK tells about its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NikInfo {
    /// Sex encoded by the day field.
    pub sex: Sex,
    /// Birth day (1–31), with the +40 for women removed.
    pub day: u32,
    /// Birth month (1–12).
    pub month: u32,
    /// Last two digits of the birth year.
    pub year2: u32,
}

fn digits(s: &str, from: usize, to: usize) -> u32 {
    s[from..to]
        .bytes()
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

fn is_16_digits(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a NIK on its own (format, day, month, calendar date, serial) and returns what it encodes.
pub fn parse_nik(nik: &str) -> Result<NikInfo, Invalid> {
    if !is_16_digits(nik) {
        return Err(Invalid::NikFormat);
    }
    let raw_day = digits(nik, 6, 8);
    let (sex, day) = match raw_day {
        1..=31 => (Sex::L, raw_day),
        41..=71 => (Sex::P, raw_day - 40),
        _ => return Err(Invalid::NikDay { day: raw_day }),
    };
    let month = digits(nik, 8, 10);
    if !(1..=12).contains(&month) {
        return Err(Invalid::NikMonth { month });
    }
    let year2 = digits(nik, 10, 12);
    // The century is not encoded: the date must exist in 19YY or 20YY.
    let real = [1900, 2000]
        .iter()
        .any(|c| NaiveDate::from_ymd_opt((c + year2) as i32, month, day).is_some());
    if !real {
        return Err(Invalid::NikDate);
    }
    if digits(nik, 12, 16) == 0 {
        return Err(Invalid::NikSerial);
    }
    Ok(NikInfo {
        sex,
        day,
        month,
        year2,
    })
}

/// Validates a member's NIK against every rule, including consistency with the member's sex and
/// birth date when they are known. Unknown region prefixes are warnings.
pub fn validate_nik(
    nik: &str,
    sex: Option<Sex>,
    birth_date: Option<NaiveDate>,
    regions: Option<&dyn RegionDirectory>,
) -> Report {
    let mut report = Report::default();
    let info = match parse_nik(nik) {
        Ok(info) => info,
        Err(e) => {
            report.error("", e);
            return report;
        }
    };
    if let Some(sex) = sex
        && sex != info.sex
    {
        report.error(
            "",
            Invalid::NikSexMismatch {
                nik_sex: info.sex.to_string(),
                member_sex: sex.to_string(),
            },
        );
    }
    if let Some(bd) = birth_date
        && (bd.day() != info.day
            || bd.month() != info.month
            || bd.year().rem_euclid(100) as u32 != info.year2)
    {
        report.error(
            "",
            Invalid::NikBirthDateMismatch {
                nik_date: format!("{:02}-{:02}-{:02}", info.day, info.month, info.year2),
                birth_date: bd.format("%d-%m-%Y").to_string(),
            },
        );
    }
    warn_unknown_region(&mut report, &nik[..6], regions, |prefix| {
        Warning::NikRegionUnknown { prefix }
    });
    report
}

/// Validates a No. KK: 16 digits, the first six the issuing region (unknown region warns).
pub fn validate_no_kk(no_kk: &str, regions: Option<&dyn RegionDirectory>) -> Report {
    let mut report = Report::default();
    if !is_16_digits(no_kk) {
        report.error("", Invalid::NoKkFormat);
        return report;
    }
    warn_unknown_region(&mut report, &no_kk[..6], regions, |prefix| {
        Warning::NoKkRegionUnknown { prefix }
    });
    report
}

fn warn_unknown_region(
    report: &mut Report,
    prefix: &str,
    regions: Option<&dyn RegionDirectory>,
    warning: impl Fn(String) -> Warning,
) {
    let known = province_known(prefix)
        && &prefix[2..4] != "00"
        && &prefix[4..6] != "00"
        && regions.is_none_or(|dir| dir.kecamatan_exists(prefix));
    if !known {
        report.warn("", warning(prefix.to_string()));
    }
}

/// A NIK or No. KK as a document meant for display shows it (UU Adminduk art. 84, UU PDP): the
/// six digits of the region of registration and the last two, the eight between starred. Anything
/// that is not 16 digits shows as a dash: it is not printed at all.
pub fn mask(number: &str) -> String {
    if is_16_digits(number) {
        format!("{}********{}", &number[..6], &number[14..])
    } else {
        "—".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Coded;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Builds a synthetic NIK from its parts (not a real person's).
    fn make_nik(region: &str, sex: Sex, date: NaiveDate, serial: u32) -> String {
        let day = date.day() + if sex == Sex::P { 40 } else { 0 };
        format!(
            "{region}{day:02}{:02}{:02}{serial:04}",
            date.month(),
            date.year() % 100
        )
    }

    #[test]
    fn accepts_a_well_formed_nik_for_a_man_and_a_woman() {
        let man = make_nik("330801", Sex::L, d(1985, 3, 14), 1);
        let report = validate_nik(&man, Some(Sex::L), Some(d(1985, 3, 14)), None);
        assert!(report.is_ok() && report.warnings.is_empty(), "{report:?}");
        let woman = make_nik("330801", Sex::P, d(2001, 12, 31), 27);
        assert_eq!(&woman[6..8], "71");
        assert!(validate_nik(&woman, Some(Sex::P), Some(d(2001, 12, 31)), None).is_ok());
    }

    #[test]
    fn rejects_each_broken_rule_with_its_code() {
        let cases = [
            ("33080114038500", "nik.format"),
            ("330801140385000a", "nik.format"),
            ("3308013203850001", "nik.day"),
            ("3308010003850001", "nik.day"),
            ("3308017203850001", "nik.day"),
            ("3308011413850001", "nik.month"),
            ("3308013102850001", "nik.date"),
            ("3308017102850001", "nik.date"),
            ("3308011403850000", "nik.serial"),
        ];
        for (nik, code) in cases {
            assert_eq!(
                validate_nik(nik, None, None, None).error_codes(),
                vec![code],
                "{nik}"
            );
        }
    }

    #[test]
    fn february_29_is_real_only_in_leap_years_of_some_century() {
        assert!(parse_nik("3308012902000001").is_ok(), "2000 is a leap year");
        assert!(parse_nik("3308012902040001").is_ok());
        assert_eq!(parse_nik("3308012902010001").unwrap_err(), Invalid::NikDate);
    }

    #[test]
    fn checks_sex_and_birth_date_against_the_member() {
        let nik = make_nik("330801", Sex::L, d(1990, 7, 1), 12);
        let r = validate_nik(&nik, Some(Sex::P), Some(d(1990, 7, 2)), None);
        assert_eq!(
            r.error_codes(),
            vec!["nik.sex_mismatch", "nik.birth_date_mismatch"]
        );
        let r = validate_nik(&nik, Some(Sex::L), Some(d(2090, 7, 1)), None);
        assert!(
            r.is_ok(),
            "only the last two digits of the year are encoded"
        );
        let r = validate_nik(&nik, Some(Sex::L), Some(d(1991, 7, 1)), None);
        assert_eq!(r.error_codes(), vec!["nik.birth_date_mismatch"]);
    }

    #[test]
    fn unknown_region_prefix_only_warns() {
        let nik = make_nik("990801", Sex::L, d(1990, 7, 1), 12);
        let r = validate_nik(&nik, None, None, None);
        assert!(r.is_ok());
        assert_eq!(r.warning_codes(), vec!["nik.region_unknown"]);

        struct OnlyOne;
        impl RegionDirectory for OnlyOne {
            fn kecamatan_exists(&self, code: &str) -> bool {
                code == "330801"
            }
        }
        let known = make_nik("330801", Sex::L, d(1990, 7, 1), 12);
        let other = make_nik("330899", Sex::L, d(1990, 7, 1), 12);
        assert!(
            validate_nik(&known, None, None, Some(&OnlyOne))
                .warnings
                .is_empty()
        );
        assert_eq!(
            validate_nik(&other, None, None, Some(&OnlyOne)).warning_codes(),
            vec!["nik.region_unknown"]
        );
    }

    #[test]
    fn no_kk_rules() {
        assert!(validate_no_kk("3308010101200001", None).is_ok());
        assert!(validate_no_kk("3308010101200001", None).warnings.is_empty());
        assert_eq!(
            validate_no_kk("330801010120000", None).error_codes(),
            vec!["no_kk.format"]
        );
        assert_eq!(
            validate_no_kk("33080101012000O1", None).error_codes(),
            vec!["no_kk.format"]
        );
        assert_eq!(
            validate_no_kk("0008010101200001", None).warning_codes(),
            vec!["no_kk.region_unknown"]
        );
    }

    fn sex_strategy() -> impl Strategy<Value = Sex> {
        prop_oneof![Just(Sex::L), Just(Sex::P)]
    }

    proptest! {
        /// Any NIK built from a real date, a sex and a non-zero serial passes against that member.
        #[test]
        fn generated_valid_niks_pass(
            days in 0i64..(365 * 120), sex in sex_strategy(), serial in 1u32..=9999,
        ) {
            let date = d(1905, 1, 1) + chrono::Duration::days(days);
            let nik = make_nik("330801", sex, date, serial);
            let r = validate_nik(&nik, Some(sex), Some(date), None);
            prop_assert!(r.is_ok(), "{nik}: {r:?}");
            let info = parse_nik(&nik).unwrap();
            prop_assert_eq!(info.sex, sex);
        }

        /// The opposite sex is always caught.
        #[test]
        fn wrong_sex_is_always_caught(days in 0i64..(365 * 120), sex in sex_strategy()) {
            let date = d(1905, 1, 1) + chrono::Duration::days(days);
            let nik = make_nik("330801", sex, date, 1);
            let other = if sex == Sex::L { Sex::P } else { Sex::L };
            let r = validate_nik(&nik, Some(other), Some(date), None);
            prop_assert_eq!(r.error_codes(), vec!["nik.sex_mismatch"]);
        }

        /// A day field outside 01-31 and 41-71 never passes.
        #[test]
        fn impossible_days_never_pass(day in 0u32..100, rest in "[0-9]{8}") {
            prop_assume!(!(1..=31).contains(&day) && !(41..=71).contains(&day));
            let nik = format!("330801{day:02}{rest}");
            prop_assert_eq!(parse_nik(&nik).unwrap_err(), Invalid::NikDay { day });
        }

        /// Whatever the input, validation answers without panicking, and only valid NIKs pass.
        #[test]
        fn never_panics_on_any_input(s in "\\PC{0,24}") {
            let r = validate_nik(&s, None, None, None);
            if r.is_ok() {
                prop_assert!(is_16_digits(&s));
            }
        }

        #[test]
        fn never_panics_on_digit_strings(s in "[0-9]{16}", sex in proptest::option::of(sex_strategy())) {
            let r = validate_nik(&s, sex, None, None);
            for e in &r.errors {
                prop_assert!(e.issue.code().starts_with("nik."));
            }
        }
    }

    #[test]
    fn a_displayed_number_keeps_its_region_and_last_two_digits() {
        assert_eq!(super::mask("3308014501900003"), "330801********03");
        assert_eq!(super::mask("33080145"), "—");
    }
}
