//! `verivali-server demo`: a fresh server with one synthetic desa (Desa Contoh, 3308012001) and
//! demo accounts whose random passwords are printed. Everything is synthetic.

use base64::Engine;
use verivali_domain::Role;
use verivali_domain::sample::{self, Seq};

use crate::App;

/// The demo desa.
pub const DEMO_DESA: &str = "3308012001";

/// A demo account.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: String,
    /// Password (random, printed once).
    pub password: String,
    pub role: Role,
    pub area: String,
}

/// A baseline CSV of `n` synthetic households of `desa`.
pub fn synthetic_csv(desa: &str, n: u32, seed: u64) -> String {
    let mut s = Seq::new(seed);
    let mut out = crate::import::HEADER.join(",");
    out.push('\n');
    for i in 0..n {
        let (h, members) = sample::household(&mut s, desa, i);
        for m in &members {
            out.push_str(&format!(
                "{},{},{},\"{}\",{},{},{},{},{},{},{},{},{}\n",
                h.id_dtsen.as_deref().unwrap_or(""),
                h.no_kk.as_deref().unwrap_or(""),
                h.kode_desa,
                h.alamat,
                h.rt,
                h.rw,
                h.desil.map(|d| d.to_string()).unwrap_or_default(),
                m.nik.as_deref().unwrap_or(""),
                m.name,
                m.sex,
                m.birth_place.as_deref().unwrap_or(""),
                m.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                m.relationship.code()
            ));
        }
    }
    out
}

fn random_password() -> anyhow::Result<String> {
    let mut b = [0u8; 9];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(format!(
        "demo-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

impl App {
    /// Fills a fresh server with the demo desa and accounts.
    pub fn seed_demo(&self, households: u32) -> anyhow::Result<Vec<DemoAccount>> {
        let report = self.import_households(
            synthetic_csv(DEMO_DESA, households, 2026).as_bytes(),
            &|_, _| {},
        )?;
        anyhow::ensure!(
            report.bad_rows.is_empty(),
            "demo baseline has bad rows: {:?}",
            report.bad_rows.first()
        );
        self.import_regions(
            &crate::app::Caller::operator(),
            crate::regions::DEMO_REGIONS.as_bytes(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
        let plan = [
            ("admin.demo", Role::Admin, "3308"),
            ("pengawas.demo", Role::Supervisor, "330801"),
            ("petugas.demo1", Role::Enumerator, DEMO_DESA),
            ("petugas.demo2", Role::Enumerator, DEMO_DESA),
        ];
        let mut accounts = Vec::new();
        for (username, role, area) in plan {
            let password = random_password()?;
            self.add_user(username, username, role, &[area.to_string()], &password)?;
            accounts.push(DemoAccount {
                username: username.into(),
                password,
                role,
                area: area.into(),
            });
        }
        Ok(accounts)
    }
}
