//! Kemendagri region codes (kode wilayah) and areas (region-code prefixes).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::issue::Invalid;

/// Level of a region code, by its number of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    /// 2 digits.
    Provinsi,
    /// 4 digits.
    KabupatenKota,
    /// 6 digits.
    Kecamatan,
    /// 10 digits.
    DesaKelurahan,
}

/// Province codes in use (Kemendagri, including the Papua provinces created in 2022).
pub const PROVINCE_CODES: &[&str] = &[
    "11", "12", "13", "14", "15", "16", "17", "18", "19", "21", "31", "32", "33", "34", "35", "36",
    "51", "52", "53", "61", "62", "63", "64", "65", "71", "72", "73", "74", "75", "76", "81", "82",
    "91", "92", "93", "94", "95", "96",
];

/// Whether `code` starts with a province code that exists.
pub fn province_known(code: &str) -> bool {
    code.get(..2).is_some_and(|p| PROVINCE_CODES.contains(&p))
}

/// A validated region code of 2, 4, 6 or 10 digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    /// Parses a code; dots (`33.08.01.2001`) are accepted and removed.
    pub fn parse(raw: &str) -> Result<RegionCode, Invalid> {
        let code: String = raw.trim().chars().filter(|c| *c != '.').collect();
        let ok_len = matches!(code.len(), 2 | 4 | 6 | 10);
        if !ok_len || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::RegionFormat {
                value: raw.to_string(),
            });
        }
        if !province_known(&code) {
            return Err(Invalid::RegionUnknownProvince { value: code });
        }
        Ok(RegionCode(code))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The level, from the number of digits.
    pub fn level(&self) -> RegionLevel {
        match self.0.len() {
            2 => RegionLevel::Provinsi,
            4 => RegionLevel::KabupatenKota,
            6 => RegionLevel::Kecamatan,
            _ => RegionLevel::DesaKelurahan,
        }
    }

    /// Whether `other` lies inside this region (or is this region).
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(&self.0)
    }
}

impl TryFrom<String> for RegionCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RegionCode::parse(&value)
    }
}

impl From<RegionCode> for String {
    fn from(value: RegionCode) -> Self {
        value.0
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The areas a user may see and work in: a set of region-code prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Areas(Vec<RegionCode>);

impl Areas {
    /// Builds the set; codes inside another code of the set are dropped as redundant.
    pub fn new(codes: impl IntoIterator<Item = RegionCode>) -> Areas {
        let mut all: Vec<RegionCode> = codes.into_iter().collect();
        all.sort();
        all.dedup();
        let kept: Vec<RegionCode> = all
            .iter()
            .filter(|c| !all.iter().any(|o| o != *c && o.contains(c)))
            .cloned()
            .collect();
        Areas(kept)
    }

    /// Whether a region code (of any level) lies inside one of the areas.
    pub fn contains(&self, code: &str) -> bool {
        self.0.iter().any(|a| code.starts_with(a.as_str()))
    }

    /// Whether `area` (a region) lies entirely inside the caller's areas.
    pub fn covers(&self, area: &RegionCode) -> bool {
        self.0.iter().any(|a| a.contains(area))
    }

    /// Whether `code` (of any level) and the areas share ground: it lies inside one of them, or
    /// one of them lies inside it (a kecamatan enumerator seen by a desa-level supervisor).
    pub fn overlaps(&self, code: &str) -> bool {
        self.contains(code) || self.0.iter().any(|a| a.as_str().starts_with(code))
    }

    /// The areas narrowed to one region (a reviewer's `area=` filter): the parts of the areas
    /// inside `area`, or `area` itself where it lies inside one of them. Outside them all the
    /// result is empty, and an empty set sees nothing.
    pub fn narrowed_to(&self, area: &RegionCode) -> Areas {
        let mut codes = Vec::new();
        for a in &self.0 {
            if a.contains(area) {
                codes.push(area.clone());
            } else if area.contains(a) {
                codes.push(a.clone());
            }
        }
        Areas::new(codes)
    }

    /// The prefixes.
    pub fn codes(&self) -> &[RegionCode] {
        &self.0
    }

    /// True when the set is empty (the user may see nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Most characters of a region name ("Desa Sukamaju").
pub const MAX_REGION_NAME: usize = 100;

/// Why a row of a region-name file (`kode,nama`) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionNameError {
    /// Not a region code.
    #[error("{0:?} is not a region code (2, 4, 6 or 10 digits)")]
    BadCode(String),
    /// Empty, too long, or with control characters.
    #[error("a region name is 1-{MAX_REGION_NAME} characters")]
    BadName,
}

impl crate::i18n::Coded for RegionNameError {
    fn code(&self) -> &'static str {
        match self {
            RegionNameError::BadCode(_) => "region.bad_code",
            RegionNameError::BadName => "region.bad_name",
        }
    }

    fn message(&self, lang: crate::i18n::Lang) -> String {
        if lang == crate::i18n::Lang::En {
            return self.to_string();
        }
        match self {
            RegionNameError::BadCode(c) => {
                format!("{c:?} bukan kode wilayah (2, 4, 6 atau 10 angka)")
            }
            RegionNameError::BadName => {
                format!("Nama wilayah wajib diisi, paling banyak {MAX_REGION_NAME} karakter")
            }
        }
    }
}

/// A row of a Kemendagri names file: the code and the name as stored (trimmed).
pub fn region_name(code: &str, name: &str) -> Result<(RegionCode, String), RegionNameError> {
    let code = RegionCode::parse(code).map_err(|_| RegionNameError::BadCode(code.to_string()))?;
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_REGION_NAME
        || crate::text::check("nama", name).is_err()
    {
        return Err(RegionNameError::BadName);
    }
    Ok((code, name.to_string()))
}

impl Areas {
    /// Whether a region's name concerns a user of these areas: the region lies inside one of
    /// them, or contains one (the kabupaten and province above a desa user).
    pub fn names(&self, code: &RegionCode) -> bool {
        self.0.iter().any(|a| a.contains(code) || code.contains(a))
    }
}

/// A directory of known kecamatan codes, when the deployment ships one. Used to warn (never reject)
/// about NIK and No. KK prefixes that name no known kecamatan.
pub trait RegionDirectory {
    /// Whether a 6-digit kecamatan code exists.
    fn kecamatan_exists(&self, code: &str) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Coded;

    #[test]
    fn areas_overlap_and_narrow_both_ways() {
        let code = |c: &str| RegionCode::parse(c).unwrap();
        let kec = Areas::new([code("330801")]);
        assert!(kec.overlaps("3308012001"), "a desa inside");
        assert!(kec.overlaps("3308"), "a kabupaten around it");
        assert!(!kec.overlaps("330802"), "a neighbouring kecamatan");
        assert_eq!(
            kec.narrowed_to(&code("3308012001")).codes(),
            [code("3308012001")]
        );
        assert_eq!(kec.narrowed_to(&code("3308")).codes(), [code("330801")]);
        assert!(kec.narrowed_to(&code("330802")).is_empty());
    }

    #[test]
    fn parses_levels_and_dots() {
        assert_eq!(
            RegionCode::parse("33").unwrap().level(),
            RegionLevel::Provinsi
        );
        assert_eq!(
            RegionCode::parse("3308").unwrap().level(),
            RegionLevel::KabupatenKota
        );
        assert_eq!(
            RegionCode::parse("330801").unwrap().level(),
            RegionLevel::Kecamatan
        );
        let desa = RegionCode::parse("33.08.01.2001").unwrap();
        assert_eq!(desa.as_str(), "3308012001");
        assert_eq!(desa.level(), RegionLevel::DesaKelurahan);
    }

    #[test]
    fn rejects_bad_codes() {
        for bad in ["", "3", "333", "33080", "33080120", "33x8", "330801200101"] {
            assert_eq!(
                RegionCode::parse(bad).unwrap_err().code(),
                "region.format",
                "{bad}"
            );
        }
        assert_eq!(
            RegionCode::parse("99").unwrap_err().code(),
            "region.unknown_province"
        );
    }

    #[test]
    fn areas_contain_by_prefix() {
        let areas = Areas::new([
            RegionCode::parse("3308").unwrap(),
            RegionCode::parse("330801").unwrap(),
            RegionCode::parse("3471012001").unwrap(),
        ]);
        assert_eq!(areas.codes().len(), 2, "330801 is inside 3308");
        assert!(areas.contains("3308012001"));
        assert!(areas.contains("3471012001"));
        assert!(!areas.contains("3471012002"));
        assert!(!areas.contains("3309012001"));
        assert!(areas.covers(&RegionCode::parse("330802").unwrap()));
        assert!(!areas.covers(&RegionCode::parse("33").unwrap()));
        assert!(Areas::default().is_empty());
        assert!(!Areas::default().contains("33"));
    }

    #[test]
    fn region_names_are_checked_and_concern_the_areas_they_touch() {
        let (code, name) = region_name(" 33.08.01.2001 ", "  Desa Sukamaju ").unwrap();
        assert_eq!(
            (code.as_str(), name.as_str()),
            ("3308012001", "Desa Sukamaju")
        );
        assert_eq!(
            region_name("3308x", "x").unwrap_err().code(),
            "region.bad_code"
        );
        assert_eq!(
            region_name("3308", " ").unwrap_err().code(),
            "region.bad_name"
        );
        assert_eq!(
            region_name("3308", &"a".repeat(101)).unwrap_err().code(),
            "region.bad_name"
        );
        let kec = Areas::new([RegionCode::parse("330801").unwrap()]);
        let c = |s: &str| RegionCode::parse(s).unwrap();
        assert!(kec.names(&c("3308012001")), "a desa inside");
        assert!(
            kec.names(&c("3308")) && kec.names(&c("33")),
            "the regions above"
        );
        assert!(
            !kec.names(&c("330802")) && !kec.names(&c("3309")),
            "neighbours"
        );
    }
}
