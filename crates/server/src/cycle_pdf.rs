//! The documents of the update cycle, laid out with [`crate::pdf`]: the berita acara of a
//! musyawarah desa (or the SPTJM that stands in for one). In Bahasa Indonesia, as the desa signs
//! it; residents by name and address, their NIK masked (UU Adminduk art. 84, UU PDP).

use chrono::{Datelike, NaiveDate, Weekday};
use verivali_domain::cycle::Verdict;
use verivali_protocol::cycle::MusdesView;

use crate::pdf::Doc;

const MONTHS: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// "Kamis, 3 Desember 2026".
pub fn tanggal(d: NaiveDate) -> String {
    let day = match d.weekday() {
        Weekday::Mon => "Senin",
        Weekday::Tue => "Selasa",
        Weekday::Wed => "Rabu",
        Weekday::Thu => "Kamis",
        Weekday::Fri => "Jumat",
        Weekday::Sat => "Sabtu",
        Weekday::Sun => "Minggu",
    };
    format!(
        "{day}, {} {} {}",
        d.day(),
        MONTHS[d.month0() as usize],
        d.year()
    )
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Layak => "LAYAK",
        Verdict::TidakLayak => "TIDAK LAYAK",
    }
}

/// A region with its level in front, unless its stored name says it already ("Desa Sukamaju").
fn titled(level: &str, words: &[&str], name: &str) -> String {
    let first = name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    if words.contains(&first.as_str()) {
        name.to_string()
    } else {
        format!("{level} {name}")
    }
}

/// The berita acara of `m`; `(desa, kecamatan, kabupaten)` are the region names as printed.
pub fn berita_acara(m: &MusdesView, (desa, kecamatan, kabupaten): (&str, &str, &str)) -> Vec<u8> {
    let mut d = Doc::new();
    if m.sptjm {
        d.centred("SURAT PERNYATAAN TANGGUNG JAWAB MUTLAK (SPTJM)", 13.0, true);
    } else {
        d.centred("BERITA ACARA MUSYAWARAH DESA", 14.0, true);
    }
    d.centred(
        "PEMUTAKHIRAN DATA TUNGGAL SOSIAL DAN EKONOMI NASIONAL (DTSEN)",
        11.0,
        true,
    );
    d.gap(4.0);
    d.centred(
        &titled("Desa/Kelurahan", &["desa", "kelurahan"], desa),
        10.0,
        false,
    );
    d.centred(&titled("Kecamatan", &["kecamatan"], kecamatan), 10.0, false);
    d.centred(
        &titled("Kabupaten/Kota", &["kabupaten", "kota"], kabupaten),
        10.0,
        false,
    );
    d.centred(&format!("Nomor: {}", m.id), 8.0, false);
    d.gap(10.0);
    let layak = m
        .decisions
        .iter()
        .filter(|x| x.decision == Verdict::Layak)
        .count();
    if m.sptjm {
        d.paragraph(
            &format!(
                "Pada hari {}, yang bertanda tangan di bawah ini, {}, selaku Kepala Desa {desa}, \
                 menyatakan dengan sebenarnya dan bertanggung jawab penuh atas keputusan usulan \
                 dan sanggah berikut, yang diambil tanpa musyawarah desa.",
                tanggal(m.date),
                m.chair
            ),
            10.0,
            false,
        );
    } else {
        d.paragraph(
            &format!(
                "Pada hari {}, bertempat di {}, telah dilaksanakan musyawarah desa untuk \
                 membahas usulan, sanggah dan laporan warga dalam pemutakhiran DTSEN, dipimpin oleh \
                 {} dan dihadiri oleh {} orang sebagai berikut:",
                tanggal(m.date),
                m.place,
                m.chair,
                m.attendees.len()
            ),
            10.0,
            false,
        );
        d.gap(4.0);
        let rows: Vec<Vec<String>> = m
            .attendees
            .iter()
            .enumerate()
            .map(|(i, a)| {
                vec![
                    (i + 1).to_string(),
                    a.name.clone(),
                    a.role.clone(),
                    String::new(),
                ]
            })
            .collect();
        d.table(
            &[0.6, 4.0, 4.0, 2.4],
            &["No", "Nama", "Jabatan/unsur", "Tanda tangan"],
            &rows,
            9.0,
        );
    }
    d.gap(8.0);
    d.paragraph("Keputusan atas usulan sebagai berikut:", 10.0, false);
    d.gap(4.0);
    let rows: Vec<Vec<String>> = m
        .decisions
        .iter()
        .enumerate()
        .map(|(i, x)| {
            vec![
                (i + 1).to_string(),
                x.name.clone(),
                x.nik_masked.clone().unwrap_or_else(|| "—".into()),
                x.address.clone(),
                verivali_domain::cycle::kind_label(x.kind).into(),
                verdict(x.decision).into(),
                x.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    d.table(
        &[0.6, 2.6, 2.6, 3.0, 2.0, 2.1, 2.1],
        &[
            "No",
            "Nama",
            "NIK",
            "Alamat",
            "Jenis",
            "Keputusan",
            "Catatan",
        ],
        &rows,
        8.0,
    );
    d.gap(6.0);
    d.paragraph(
        &format!(
            "Jumlah usulan diputuskan: {}; layak: {layak}; tidak layak: {}. Usulan yang layak \
             diverifikasi di lapangan oleh petugas sebelum disetujui dinas sosial.",
            m.decisions.len(),
            m.decisions.len() - layak
        ),
        10.0,
        false,
    );
    d.gap(4.0);
    d.paragraph(
        "Demikian berita acara ini dibuat dengan sebenarnya untuk dipergunakan sebagaimana \
         mestinya. NIK ditampilkan tersamar sesuai UU Administrasi Kependudukan dan UU Pelindungan \
         Data Pribadi.",
        10.0,
        false,
    );
    d.gap(10.0);
    let place = desa.split(" (").next().unwrap_or(desa);
    d.paragraph(&format!("{place}, {}", tanggal(m.date)), 10.0, false);
    if m.sptjm {
        d.signatures(&[("Kepala Desa,", m.chair.as_str())], 10.0);
    } else {
        d.signatures(
            &[
                ("Pimpinan Musyawarah,", m.chair.as_str()),
                ("Kepala Desa,", "(....................................)"),
                (
                    "Wakil Masyarakat,",
                    "(....................................)",
                ),
            ],
            10.0,
        );
    }
    d.finish()
}

/// A desa's visits counted by outcome and by review state (wire names).
type Counts = (
    std::collections::BTreeMap<String, i64>,
    std::collections::BTreeMap<String, i64>,
);

/// The summary of a period for one kabupaten/kota (`kab`): per desa, the visits finished in the
/// period by outcome and by review state, and the proposals; signature lines for the kepala
/// dinas. `names` are region names by code; `tally` is `(desa, outcome, state, count)`.
pub fn summary(
    period: &verivali_domain::cycle::Period,
    kab: &str,
    names: &std::collections::HashMap<String, String>,
    tally: &[(String, String, String, i64)],
    proposals: &[verivali_protocol::cycle::ProposalView],
) -> Vec<u8> {
    use std::collections::BTreeMap;
    use verivali_domain::vocabulary::{outcome_text, state_text};
    use verivali_domain::{Lang, Outcome, VisitState};
    let named = |code: &str| {
        names
            .get(code)
            .map_or_else(|| code.to_string(), |n| format!("{n} ({code})"))
    };
    let mut d = Doc::new();
    d.centred("REKAPITULASI PEMUTAKHIRAN DTSEN", 14.0, true);
    d.centred(&format!("Periode {}", period.name), 12.0, true);
    d.centred(
        &titled("Kabupaten/Kota", &["kabupaten", "kota"], &named(kab)),
        10.0,
        false,
    );
    d.centred(
        &format!(
            "Dibuka {} · batas {} · ditutup {}",
            period.opens, period.cutoff, period.closes
        ),
        9.0,
        false,
    );
    d.gap(8.0);
    // Desa in code order, each with its counts.
    let mut desa: BTreeMap<String, Counts> = BTreeMap::new();
    for (k, outcome, state, n) in tally {
        let e = desa.entry(k.clone()).or_default();
        *e.0.entry(outcome.clone()).or_default() += n;
        *e.1.entry(state.clone()).or_default() += n;
    }
    let mut usulan: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for p in proposals {
        let e = usulan.entry(p.kode_desa.clone()).or_default();
        e[0] += 1;
        match p.decision {
            Some(Verdict::Layak) => e[1] += 1,
            Some(Verdict::TidakLayak) => e[2] += 1,
            None => e[3] += 1,
        }
        desa.entry(p.kode_desa.clone()).or_default();
    }
    let total = |f: &dyn Fn(&Counts) -> i64| desa.values().map(f).sum::<i64>().to_string();
    // Visits by outcome.
    d.paragraph(
        "A. Kunjungan verifikasi selesai dalam periode, menurut hasil",
        11.0,
        true,
    );
    let outcomes: Vec<Outcome> = Outcome::ALL.to_vec();
    let mut head: Vec<&str> = vec!["Desa"];
    head.extend(outcomes.iter().map(|o| outcome_text(*o, Lang::Id)));
    head.push("Jumlah");
    let mut rows: Vec<Vec<String>> = desa
        .iter()
        .map(|(k, (by_outcome, _))| {
            let mut row = vec![named(k)];
            row.extend(
                outcomes
                    .iter()
                    .map(|o| by_outcome.get(o.as_str()).copied().unwrap_or(0).to_string()),
            );
            row.push(by_outcome.values().sum::<i64>().to_string());
            row
        })
        .collect();
    let mut sum = vec!["Jumlah".to_string()];
    sum.extend(
        outcomes
            .iter()
            .map(|o| total(&|e| e.0.get(o.as_str()).copied().unwrap_or(0))),
    );
    sum.push(total(&|e| e.0.values().sum()));
    rows.push(sum);
    let mut shares = vec![3.0];
    shares.extend(std::iter::repeat_n(1.2, outcomes.len() + 1));
    d.table(&shares, &head, &rows, 8.0);
    // Visits by review state: where each stands.
    d.gap(6.0);
    d.paragraph("B. Kunjungan menurut status pemeriksaan", 11.0, true);
    let states = [
        VisitState::Verified,
        VisitState::Approved,
        VisitState::Returned,
        VisitState::Submitted,
        VisitState::Rejected,
    ];
    let mut head: Vec<&str> = vec!["Desa"];
    head.extend(states.iter().map(|s| match s {
        VisitState::Approved => "Disetujui, menunggu verifikasi",
        VisitState::Submitted => "Menunggu pemeriksaan",
        VisitState::Rejected => "Dikembalikan ke petugas",
        other => state_text(*other, Lang::Id),
    }));
    let mut rows: Vec<Vec<String>> = desa
        .iter()
        .map(|(k, (_, by_state))| {
            let mut row = vec![named(k)];
            row.extend(
                states
                    .iter()
                    .map(|s| by_state.get(s.as_str()).copied().unwrap_or(0).to_string()),
            );
            row
        })
        .collect();
    let mut sum = vec!["Jumlah".to_string()];
    sum.extend(
        states
            .iter()
            .map(|s| total(&|e| e.1.get(s.as_str()).copied().unwrap_or(0))),
    );
    rows.push(sum);
    d.table(&[3.0, 1.6, 1.6, 1.6, 1.6, 1.6], &head, &rows, 8.0);
    // Proposals.
    d.gap(6.0);
    d.paragraph("C. Usulan dan sanggah warga", 11.0, true);
    let mut rows: Vec<Vec<String>> = desa
        .keys()
        .map(|k| {
            let u = usulan.get(k).copied().unwrap_or_default();
            vec![
                named(k),
                u[0].to_string(),
                u[1].to_string(),
                u[2].to_string(),
                u[3].to_string(),
            ]
        })
        .collect();
    let all: [i64; 4] = usulan.values().fold([0; 4], |a, u| {
        [a[0] + u[0], a[1] + u[1], a[2] + u[2], a[3] + u[3]]
    });
    rows.push(vec![
        "Jumlah".into(),
        all[0].to_string(),
        all[1].to_string(),
        all[2].to_string(),
        all[3].to_string(),
    ]);
    d.table(
        &[3.0, 1.5, 1.5, 1.5, 1.5],
        &["Desa", "Masuk", "Layak", "Tidak layak", "Belum diputuskan"],
        &rows,
        8.0,
    );
    d.gap(6.0);
    d.paragraph(
        "Hanya kunjungan yang diverifikasi dinas yang mengubah data dasar dan dikirim ke \
         Kementerian Sosial. Dokumen ini tidak memuat NIK.",
        9.0,
        false,
    );
    d.gap(10.0);
    d.signatures(
        &[
            ("Mengetahui,", "(....................................)"),
            (
                "Kepala Dinas Sosial,",
                "(....................................)",
            ),
        ],
        10.0,
    );
    d.paragraph("NIP. ....................................", 9.0, false);
    d.finish()
}
