//! Users and who may change them (DESIGN.md §10): the admin of a dinas creates and changes the
//! accounts of their own areas. The rules live here once; the server's API and CLI apply them.
//!
//! - Only an admin manages users, and only users whose every area lies inside the admin's areas
//!   (the others do not exist for them: 404). New areas must lie inside the admin's areas too.
//! - Nobody disables themselves, and the last active admin of the server is never disabled or
//!   given another role, so the console cannot lock every admin out.
//! - A password has at least [`MIN_PASSWORD`] characters, at least four different ones, does not
//!   contain the username, and is none of a few well-known choices.

use crate::i18n::{Coded, Lang};
use crate::region::{Areas, RegionCode};
use crate::state::Role;

/// Fewest characters of a password.
pub const MIN_PASSWORD: usize = 10;
/// Most characters of a password (Argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD: usize = 256;
/// Most bytes of a username.
pub const MAX_USERNAME: usize = 64;
/// Most characters of a display name.
pub const MAX_DISPLAY_NAME: usize = 100;

/// Well-known passwords of ten characters or more, lowercased: refused whatever the username.
const COMMON: &[&str] = &[
    "1234567890",
    "0123456789",
    "12345678910",
    "qwertyuiop",
    "password12",
    "password123",
    "passw0rd123",
    "katasandi1",
    "katasandi123",
    "bismillah1",
    "bismillah123",
    "indonesia1",
    "indonesia123",
    "verivali123",
    "admin12345",
    "1q2w3e4r5t",
];

/// Why a user change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// Only admins manage users.
    #[error("only admins manage users")]
    NotAdmin,
    /// The user works outside the admin's areas (to them it does not exist).
    #[error("no such user in your areas")]
    OutsideAdmin,
    /// An area outside the admin's own.
    #[error("area {0} is outside your areas")]
    AreaOutside(String),
    /// A user needs at least one area.
    #[error("at least one area is required")]
    NoArea,
    /// Not a region code.
    #[error("{0:?} is not a region code")]
    BadArea(String),
    /// Not a role.
    #[error("unknown role {0:?}")]
    BadRole(String),
    /// Empty, too long, or with characters other than letters, digits and `.`, `_`, `-`, `@`.
    #[error("a username is 1-64 letters, digits or . _ - @")]
    BadUsername,
    /// Another user has it.
    #[error("username {0:?} is taken")]
    UsernameTaken(String),
    /// Empty or longer than [`MAX_DISPLAY_NAME`].
    #[error("a display name is 1-{MAX_DISPLAY_NAME} characters")]
    BadDisplayName,
    /// The password breaks the policy; the reason says how.
    #[error("password not accepted: {0}")]
    WeakPassword(WeakPassword),
    /// An admin disabling their own account.
    #[error("you cannot disable your own account")]
    SelfDisable,
    /// The change would leave the server without an active admin.
    #[error("the last active admin cannot be disabled or given another role")]
    LastAdmin,
    /// An operator desa works in desa (10-digit codes), a verifikator in kabupaten/kota (4).
    #[error("a {} works in areas of {} digits", .0.as_str(), area_digits(*.0).unwrap_or(0))]
    AreaLevel(Role),
}

/// The digits of the areas a role works in, when the role has one level: an operator desa's
/// are desa (10), a verifikator dinas's kabupaten/kota (4). The others work at any level.
pub fn area_digits(role: Role) -> Option<usize> {
    match role {
        Role::Operator => Some(10),
        Role::Verifier => Some(4),
        Role::Enumerator | Role::Supervisor | Role::Admin => None,
    }
}

/// Whether every area fits the role's level ([`area_digits`]).
pub fn areas_fit(role: Role, areas: &Areas) -> Result<(), UserError> {
    match area_digits(role) {
        Some(n) if areas.codes().iter().any(|c| c.as_str().len() != n) => {
            Err(UserError::AreaLevel(role))
        }
        _ => Ok(()),
    }
}

/// How a password breaks the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakPassword {
    /// Fewer than [`MIN_PASSWORD`] characters.
    Short,
    /// More than [`MAX_PASSWORD`] characters.
    Long,
    /// Fewer than four different characters.
    Repetitive,
    /// Contains the username.
    HasUsername,
    /// A well-known password.
    Common,
    /// The same as the one it replaces.
    Unchanged,
}

impl std::fmt::Display for WeakPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WeakPassword::Short => "fewer than 10 characters",
            WeakPassword::Long => "more than 256 characters",
            WeakPassword::Repetitive => "fewer than 4 different characters",
            WeakPassword::HasUsername => "it contains the username",
            WeakPassword::Common => "it is a well-known password",
            WeakPassword::Unchanged => "it is the same as the old one",
        })
    }
}

impl Coded for UserError {
    fn code(&self) -> &'static str {
        match self {
            UserError::NotAdmin => "auth.forbidden",
            UserError::OutsideAdmin => "not_found",
            UserError::AreaOutside(_) => "user.area_outside",
            UserError::NoArea => "user.no_area",
            UserError::BadArea(_) => "user.bad_area",
            UserError::BadRole(_) => "user.bad_role",
            UserError::BadUsername => "user.bad_username",
            UserError::UsernameTaken(_) => "user.username_taken",
            UserError::BadDisplayName => "user.bad_display_name",
            UserError::WeakPassword(_) => "user.weak_password",
            UserError::SelfDisable => "user.self_disable",
            UserError::LastAdmin => "user.last_admin",
            UserError::AreaLevel(_) => "user.area_level",
        }
    }

    fn message(&self, lang: Lang) -> String {
        if lang == Lang::En {
            return self.to_string();
        }
        match self {
            UserError::NotAdmin => "Hanya admin yang mengelola pengguna".into(),
            UserError::OutsideAdmin => "Pengguna tidak ada di wilayah Anda".into(),
            UserError::AreaOutside(a) => format!("Wilayah {a} di luar wilayah Anda"),
            UserError::NoArea => "Isi paling sedikit satu wilayah".into(),
            UserError::BadArea(a) => format!("{a:?} bukan kode wilayah"),
            UserError::BadRole(r) => format!("Peran {r:?} tidak dikenal"),
            UserError::BadUsername => {
                "Nama pengguna 1–64 huruf, angka, atau . _ - @ (tanpa spasi)".into()
            }
            UserError::UsernameTaken(u) => format!("Nama pengguna {u:?} sudah dipakai"),
            UserError::BadDisplayName => {
                format!("Nama tampilan wajib diisi, paling banyak {MAX_DISPLAY_NAME} karakter")
            }
            UserError::WeakPassword(w) => format!(
                "Kata sandi ditolak: {}",
                match w {
                    WeakPassword::Short => "kurang dari 10 karakter",
                    WeakPassword::Long => "lebih dari 256 karakter",
                    WeakPassword::Repetitive => "kurang dari 4 karakter yang berbeda",
                    WeakPassword::HasUsername => "memuat nama pengguna",
                    WeakPassword::Common => "kata sandi yang umum dipakai",
                    WeakPassword::Unchanged => "sama dengan kata sandi lama",
                }
            ),
            UserError::SelfDisable => "Anda tidak bisa menonaktifkan akun sendiri".into(),
            UserError::LastAdmin => {
                "Admin aktif terakhir tidak bisa dinonaktifkan atau diganti perannya".into()
            }
            UserError::AreaLevel(Role::Operator) => {
                "Operator desa bekerja di desa: isi kode desa 10 digit".into()
            }
            UserError::AreaLevel(_) => {
                "Verifikator dinas bekerja di kabupaten/kota: isi kode 4 digit".into()
            }
        }
    }
}

/// A username as stored (trimmed), or why not.
pub fn username(raw: &str) -> Result<String, UserError> {
    let u = raw.trim();
    let ok = !u.is_empty()
        && u.len() <= MAX_USERNAME
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(u.to_string())
    } else {
        Err(UserError::BadUsername)
    }
}

/// A display name as stored (trimmed), or why not.
pub fn display_name(raw: &str) -> Result<String, UserError> {
    let d = raw.trim();
    if d.is_empty()
        || d.chars().count() > MAX_DISPLAY_NAME
        || crate::text::check("display_name", d).is_err()
    {
        return Err(UserError::BadDisplayName);
    }
    Ok(d.to_string())
}

/// A role from its wire name.
pub fn role(raw: &str) -> Result<Role, UserError> {
    Role::parse(raw.trim()).ok_or_else(|| UserError::BadRole(raw.to_string()))
}

/// Checks a new password of `username` against the policy.
pub fn password(password: &str, username: &str) -> Result<(), WeakPassword> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(WeakPassword::Short);
    }
    if n > MAX_PASSWORD {
        return Err(WeakPassword::Long);
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err(WeakPassword::Repetitive);
    }
    let lower = password.to_lowercase();
    let name = username.trim().to_lowercase();
    if name.chars().count() >= 3 && lower.contains(&name) {
        return Err(WeakPassword::HasUsername);
    }
    if COMMON.contains(&lower.as_str()) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

/// Checks the new password that replaces `old` (a one-time password at the first sign-in).
pub fn new_password(new: &str, old: &str, username: &str) -> Result<(), WeakPassword> {
    if new == old {
        return Err(WeakPassword::Unchanged);
    }
    password(new, username)
}

/// The areas an admin with `admin_areas` gives a user: parsed, at least one, each inside the
/// admin's own (`None` for the CLI's operator, who may give any).
pub fn areas_for(admin_areas: Option<&Areas>, raw: &[String]) -> Result<Areas, UserError> {
    let mut codes = Vec::with_capacity(raw.len());
    for a in raw {
        let code = RegionCode::parse(a.trim()).map_err(|_| UserError::BadArea(a.clone()))?;
        if admin_areas.is_some_and(|mine| !mine.covers(&code)) {
            return Err(UserError::AreaOutside(code.as_str().to_string()));
        }
        codes.push(code);
    }
    if codes.is_empty() {
        return Err(UserError::NoArea);
    }
    Ok(Areas::new(codes))
}

/// Whether an admin (`role`, `areas`) may see and change a user of `user_areas`: every one of
/// the user's areas lies inside the admin's.
pub fn may_manage(admin: (Role, &Areas), user_areas: &Areas) -> Result<(), UserError> {
    let (role, areas) = admin;
    if role != Role::Admin {
        return Err(UserError::NotAdmin);
    }
    if user_areas.is_empty() || !user_areas.codes().iter().all(|c| areas.covers(c)) {
        return Err(UserError::OutsideAdmin);
    }
    Ok(())
}

/// A change of a user's standing, checked against the two lock-out rules.
pub struct Standing {
    /// The admin making the change is the user.
    pub is_self: bool,
    /// The user is an active admin now.
    pub active_admin: bool,
    /// The user is an active admin after the change.
    pub stays_active_admin: bool,
    /// The change disables the user.
    pub disables: bool,
    /// Active admins besides the user.
    pub other_active_admins: u64,
}

/// Nobody disables themselves; the last active admin stays one.
pub fn check_standing(s: &Standing) -> Result<(), UserError> {
    if s.is_self && s.disables {
        return Err(UserError::SelfDisable);
    }
    if s.active_admin && !s.stays_active_admin && s.other_active_admins == 0 {
        return Err(UserError::LastAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn areas(codes: &[&str]) -> Areas {
        Areas::new(codes.iter().map(|c| RegionCode::parse(c).unwrap()))
    }

    #[test]
    fn passwords_follow_the_policy() {
        assert_eq!(password("pendek", "ani"), Err(WeakPassword::Short));
        assert_eq!(
            password("aaaaabbbbbb", "ani"),
            Err(WeakPassword::Repetitive)
        );
        assert_eq!(
            password("ANI-sandi-2026", "ani"),
            Err(WeakPassword::HasUsername)
        );
        assert_eq!(password("Bismillah123", "ani"), Err(WeakPassword::Common));
        assert_eq!(password(&"ab1-".repeat(70), "ani"), Err(WeakPassword::Long));
        assert_eq!(password("kopi-tubruk-pagi", "ani"), Ok(()));
        // Short usernames are not searched for (every password would contain "a").
        assert_eq!(password("adalah-benar", "a"), Ok(()));
    }

    #[test]
    fn usernames_and_display_names() {
        assert_eq!(username("  ani.s@dinsos ").unwrap(), "ani.s@dinsos");
        assert_eq!(username("ani s"), Err(UserError::BadUsername));
        assert_eq!(username(""), Err(UserError::BadUsername));
        assert_eq!(username(&"a".repeat(65)), Err(UserError::BadUsername));
        assert_eq!(display_name(" Ani Suryani ").unwrap(), "Ani Suryani");
        assert_eq!(display_name("a\u{0}b"), Err(UserError::BadDisplayName));
        assert_eq!(role("supervisor").unwrap(), Role::Supervisor);
        assert_eq!(role("boss"), Err(UserError::BadRole("boss".into())));
    }

    #[test]
    fn an_admin_gives_and_manages_inside_their_areas_only() {
        let kab = areas(&["3308"]);
        let ok = areas_for(Some(&kab), &["3308012001".into(), "330802".into()]).unwrap();
        assert_eq!(ok.codes().len(), 2);
        assert_eq!(
            areas_for(Some(&kab), &["3309012001".into()]),
            Err(UserError::AreaOutside("3309012001".into()))
        );
        assert_eq!(areas_for(Some(&kab), &[]), Err(UserError::NoArea));
        assert_eq!(
            areas_for(None, &["33x".into()]),
            Err(UserError::BadArea("33x".into()))
        );
        assert!(areas_for(None, &["3309012001".into()]).is_ok());
        assert_eq!(
            may_manage((Role::Admin, &kab), &areas(&["3308012001"])),
            Ok(())
        );
        assert_eq!(
            may_manage((Role::Admin, &kab), &areas(&["3308012001", "3309012001"])),
            Err(UserError::OutsideAdmin)
        );
        assert_eq!(
            may_manage((Role::Admin, &areas(&["330801"])), &areas(&["3308"])),
            Err(UserError::OutsideAdmin),
            "a kecamatan admin does not manage a kabupaten user"
        );
        assert_eq!(
            may_manage((Role::Supervisor, &kab), &areas(&["3308012001"])),
            Err(UserError::NotAdmin)
        );
    }

    #[test]
    fn nobody_locks_the_admins_out() {
        let base = Standing {
            is_self: false,
            active_admin: true,
            stays_active_admin: false,
            disables: true,
            other_active_admins: 0,
        };
        assert_eq!(check_standing(&base), Err(UserError::LastAdmin));
        let demote = Standing {
            disables: false,
            ..base
        };
        assert_eq!(check_standing(&demote), Err(UserError::LastAdmin));
        assert_eq!(
            check_standing(&Standing {
                other_active_admins: 1,
                ..base
            }),
            Ok(())
        );
        assert_eq!(
            check_standing(&Standing {
                is_self: true,
                other_active_admins: 3,
                ..base
            }),
            Err(UserError::SelfDisable)
        );
        let enumerator = Standing {
            is_self: false,
            active_admin: false,
            stays_active_admin: false,
            disables: true,
            other_active_admins: 0,
        };
        assert_eq!(check_standing(&enumerator), Ok(()));
    }

    #[test]
    fn operators_work_in_a_desa_and_verifiers_in_a_kabupaten() {
        assert!(areas_fit(Role::Operator, &areas(&["3308010001"])).is_ok());
        assert_eq!(
            areas_fit(Role::Operator, &areas(&["3308010001", "330801"])),
            Err(UserError::AreaLevel(Role::Operator))
        );
        assert!(areas_fit(Role::Verifier, &areas(&["3308", "3309"])).is_ok());
        let e = areas_fit(Role::Verifier, &areas(&["33"])).unwrap_err();
        assert_eq!(e.code(), "user.area_level");
        assert_eq!(e.to_string(), "a verifier works in areas of 4 digits");
        assert!(areas_fit(Role::Supervisor, &areas(&["33", "3308010001"])).is_ok());
    }
}
