//! The documents of the update cycle, laid out with [`crate::pdf`]: the berita acara of a
//! musyawarah desa (or the SPTJM that stands in for one). In Bahasa Indonesia, as the desa signs
//! it; residents by name and address, their NIK masked (UU Adminduk art. 84, UU PDP).

use chrono::{Datelike, NaiveDate, Weekday};
use verivali_domain::cycle::{ProposalKind, Verdict};
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

fn kind(k: ProposalKind) -> &'static str {
    match k {
        ProposalKind::UsulanBaru => "Usulan keluarga baru",
        ProposalKind::UsulanPerubahan => "Usulan perubahan",
        ProposalKind::Sanggah => "Sanggah",
        ProposalKind::LaporanKematian => "Laporan kematian",
        ProposalKind::BukanKeluarga => "Bukan satu keluarga",
    }
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
                kind(x.kind).into(),
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
