//! Region names on both backends (DESIGN.md §10): an admin imports a Kemendagri `kode,nama` file
//! (BOM, CRLF, quotes; rows outside their areas are left, bad rows reported by line), every user
//! reads the names of their areas and of the regions above them, and the demo names its desa.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::Value;
use verivali_domain::Role;

async fn import(d: &Device, csv: &str) -> reqwest::Response {
    d.client
        .post(format!("{}/api/v1/admin/regions", d.url))
        .bearer_auth(&d.token)
        .body(csv.to_string())
        .send()
        .await
        .unwrap()
}

async fn names(d: &Device) -> Vec<(String, String)> {
    let v: Value = d.get("/api/v1/regions").await.json().await.unwrap();
    v["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kode"].as_str().unwrap().to_string(),
                r["nama"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

both_backends!(names, region_names_are_imported_and_read_by_area);
async fn region_names_are_imported_and_read_by_area(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user("admin", Role::Admin, &["3308"]).await;
    s.add_user("pengawas", Role::Supervisor, &["330801"]).await;
    s.add_user("ani", Role::Enumerator, &[DESA_A]).await;
    let admin = s.sign_in("admin").await;
    let sup = s.sign_in("pengawas").await;
    let ani = s.sign_in("ani").await;
    let file = "\u{feff}kode,nama\r\n33,Provinsi Contoh\r\n3308,Kabupaten Contoh\r\n\
                330801,\"Kecamatan Contoh, Utara\"\r\n3308012001,Desa Sukamaju\r\n\
                3308012002,Desa Mekarsari\r\n330802,Kecamatan Lain\r\n3309,Kabupaten Tetangga\r\n\
                33x,Salah\r\n3308012003,\r\n";
    let r = import(&admin, file).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["imported"].as_u64(), v["outside"].as_u64()),
        (Some(6), Some(1)),
        "{v}"
    );
    let rejected: Vec<(u64, &str)> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [(9, "region.bad_code"), (10, "region.bad_name")]);
    // Again: nothing changes.
    let v: Value = import(&admin, file).await.json().await.unwrap();
    assert_eq!(
        (v["imported"].as_u64(), v["unchanged"].as_u64()),
        (Some(0), Some(6))
    );

    // Each user reads their areas, the regions inside them and those above.
    let codes = |l: Vec<(String, String)>| l.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        codes(names(&ani).await),
        ["33", "3308", "330801", "3308012001"]
    );
    assert_eq!(
        codes(names(&sup).await),
        ["33", "3308", "330801", "3308012001", "3308012002"]
    );
    assert_eq!(names(&ani).await[2].1, "Kecamatan Contoh, Utara");
    assert_eq!(
        codes(names(&admin).await).len(),
        6,
        "all but the neighbour kabupaten"
    );
    let (st, _) = problem(import(&sup, file).await).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_demo_names_its_desa_and_the_cli_imports_names() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let data = dir.path().to_str().unwrap();
    let file = dir.path().join("wilayah.csv");
    std::fs::write(&file, "3308,Kabupaten Contoh\n3308x,Salah\n").unwrap();
    let (ok, out, err) = crate::import::run(
        &[
            "--database",
            &db,
            "--data-dir",
            data,
            "region",
            "import",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert!(!ok, "a bad row exits 2");
    assert!(out.contains("1 names written"), "{out}");
    assert!(
        err.contains("line 2") && err.contains("region.bad_code"),
        "{err}"
    );
    let app = verivali_server::app::App::new(
        verivali_server::db::open(&db).unwrap(),
        std::sync::Arc::new(verivali_domain::clock::SystemClock),
        dir.path().to_path_buf(),
    )
    .unwrap();
    app.seed_demo(5).unwrap();
    let mut tx = app.db.read().unwrap();
    let names = verivali_server::repo::regions_scoped(
        tx.as_mut(),
        &verivali_server::repo::Scope {
            user_id: uuid::Uuid::nil(),
            role: Role::Enumerator,
            areas: verivali_domain::Areas::new([verivali_domain::RegionCode::parse(
                verivali_server::demo::DEMO_DESA,
            )
            .unwrap()]),
        },
    )
    .unwrap();
    assert!(
        names
            .iter()
            .any(|(k, n)| k == verivali_server::demo::DEMO_DESA && n.starts_with("Desa ")),
        "{names:?}"
    );
}
