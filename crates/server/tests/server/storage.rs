//! Storage-level guarantees of `Database::write_job` on both backends: concurrent jobs are all
//! committed (SQLite commits them in groups), and a failing job leaves no trace while the jobs
//! sharing its group are kept.

use crate::common::*;
use verivali_server::db::{DbError, Sql, Value};

async fn concurrent_jobs_commit_and_failures_vanish(b: Backend) {
    let s = TestServer::start(b).await;
    let app = s.app.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            for t in 0..24 {
                let app = &app;
                scope.spawn(move || {
                    for i in 0..20 {
                        let fail = (t + i) % 5 == 0;
                        let r = app.db.write_job(&mut |tx: &mut dyn Sql| {
                            tx.execute(
                                "INSERT INTO audit (at, action, detail) VALUES ($1, $2, $3)",
                                &[
                                    Value::from("2026-11-22T00:00:00.000Z"),
                                    Value::from("test.job"),
                                    Value::from(format!("{t}-{i}-{fail}")),
                                ],
                            )?;
                            if fail { Err(DbError::Aborted) } else { Ok(()) }
                        });
                        assert_eq!(r.is_ok(), !fail);
                    }
                });
            }
        });
    })
    .await
    .unwrap();
    let kept = s
        .count("SELECT count(*) FROM audit WHERE action = 'test.job'")
        .await;
    let failed_kept = s
        .count("SELECT count(*) FROM audit WHERE action = 'test.job' AND detail LIKE '%-true'")
        .await;
    let expected = (0..24)
        .flat_map(|t| (0..20).map(move |i| (t + i) % 5 != 0))
        .filter(|ok| *ok)
        .count() as i64;
    assert_eq!((kept, failed_kept), (expected, 0));
    // Plain write transactions still work between groups.
    let app = s.app.clone();
    tokio::task::spawn_blocking(move || {
        let mut tx = app.db.write().unwrap();
        tx.execute(
            "INSERT INTO audit (at, action) VALUES ($1, $2)",
            &[
                Value::from("2026-11-22T00:00:00.000Z"),
                Value::from("test.plain"),
            ],
        )
        .unwrap();
        tx.commit().unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        s.count("SELECT count(*) FROM audit WHERE action = 'test.plain'")
            .await,
        1
    );
}
both_backends!(write_jobs, concurrent_jobs_commit_and_failures_vanish);

/// Schema step 14: PostgreSQL compresses large values with LZ4 (pglz cost an eighth of its CPU
/// during ingest), and such a value reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_compresses_large_values_with_lz4() {
    let s = TestServer::start(Backend::Postgres).await;
    // A PostgreSQL built without LZ4 keeps pglz (schema step 14 allows it): nothing to check.
    if s.count(
        "SELECT count(*) FROM pg_settings
          WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)",
    )
    .await
        == 0
    {
        eprintln!("this PostgreSQL has no LZ4: skipped");
        return;
    }
    assert_eq!(
        s.count(
            "SELECT count(*) FROM pg_attribute
              WHERE (attrelid, attname) IN (('visits'::regclass, 'record'), ('changes'::regclass, 'data'),
                                            ('visit_exports'::regclass, 'cells'), ('audit'::regclass, 'detail'))
                AND attcompression = 'l'"
        )
        .await,
        4
    );
    // 40 KB that compress well: stored compressed, with LZ4, and read back as written.
    let data: String = (0..2_000)
        .map(|i| format!("{{\"n\":{:014}}}", i % 37))
        .collect();
    let app = s.app.clone();
    let written = data.clone();
    tokio::task::spawn_blocking(move || {
        let mut tx = app.db.write().unwrap();
        tx.execute(
            "INSERT INTO changes (kind, entity_id, version, deleted, area, owner, data, at)
             VALUES ('test', 'lz4', 1, 0, '', NULL, $1, '2026-12-05T00:00:00.000Z')",
            &[Value::from(written)],
        )
        .unwrap();
        tx.commit().unwrap();
    })
    .await
    .unwrap();
    assert_eq!(
        s.count(
            "SELECT count(*) FROM changes WHERE entity_id = 'lz4'
               AND pg_column_compression(data) = 'lz4' AND octet_length(data) = 40000"
        )
        .await,
        1
    );
    let app = s.app.clone();
    let back = tokio::task::spawn_blocking(move || {
        let mut tx = app.db.read().unwrap();
        tx.query("SELECT data FROM changes WHERE entity_id = 'lz4'", &[])
            .unwrap()[0]
            .text(0)
    })
    .await
    .unwrap();
    assert_eq!(back, data);
}

/// Look-ups by a list of keys go to PostgreSQL as unnamed statements with declared types
/// (planned for each run; `db::postgres::is_key_lookup`): text and integer keys find their rows,
/// a NULL key falls back to the cached statement, and the answers match SQLite's.
async fn key_lookups_find_their_rows(b: Backend) {
    let s = TestServer::start(b).await;
    let app = s.app.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut tx = app.db.write().unwrap();
        for (i, action) in ["test.a", "test.b", "test.c"].into_iter().enumerate() {
            tx.execute(
                "INSERT INTO audit (at, action, detail) VALUES ($1, $2, $3)",
                &[
                    Value::from("2026-12-05T00:00:00.000Z"),
                    Value::from(action),
                    Value::from(format!("{i}")),
                ],
            )
            .unwrap();
        }
        let mut runs = Vec::new();
        // More runs than PostgreSQL's five before it would cache a generic plan.
        for _ in 0..7 {
            let by_text = tx
                .query(
                    "SELECT action FROM audit WHERE action IN ($1, $2) ORDER BY action",
                    &[Value::from("test.a"), Value::from("test.c")],
                )
                .unwrap();
            let seqs: Vec<i64> = tx
                .query(
                    "SELECT seq FROM audit WHERE action LIKE 'test.%' ORDER BY seq",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.i64(0))
                .collect();
            let by_number = tx
                .query(
                    "SELECT detail FROM audit WHERE seq IN ($1, $2) AND action LIKE $3 ORDER BY seq",
                    &[Value::I64(seqs[1]), Value::I64(seqs[2]), Value::from("test.%")],
                )
                .unwrap();
            let with_null = tx
                .query(
                    "SELECT action FROM audit WHERE action IN ($1, $2) ORDER BY action",
                    &[Value::from("test.b"), Value::Null],
                )
                .unwrap();
            runs.push((
                by_text.iter().map(|r| r.text(0)).collect::<Vec<_>>(),
                by_number.iter().map(|r| r.text(0)).collect::<Vec<_>>(),
                with_null.iter().map(|r| r.text(0)).collect::<Vec<_>>(),
            ));
        }
        runs
    })
    .await
    .unwrap();
    for run in found {
        assert_eq!(
            run,
            (
                vec!["test.a".to_string(), "test.c".to_string()],
                vec!["1".to_string(), "2".to_string()],
                vec!["test.b".to_string()],
            )
        );
    }
}
both_backends!(key_lookups, key_lookups_find_their_rows);

/// On PostgreSQL a key look-up runs with whole-table scans off and the statement after it with
/// them on again (`db::postgres::PgTx::plan_for`), in write and read transactions alike, and the
/// server's sessions never JIT-compile (a first pull's page took 0.3 s of compiling for 12 ms of
/// work once the tables had statistics).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_plans_key_lookups_by_their_index() {
    let s = TestServer::start(Backend::Postgres).await;
    let app = s.app.clone();
    let seen = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for write in [true, false] {
            let mut tx = if write {
                app.db.write().unwrap()
            } else {
                app.db.read().unwrap()
            };
            let setting = |tx: &mut Box<dyn verivali_server::db::Tx + '_>, sql: &str| {
                tx.query(sql, &[Value::from("enable_seqscan")]).unwrap()[0].text(0)
            };
            // Twice over: the setting follows the statements, not the first of them.
            for _ in 0..2 {
                seen.push(setting(
                    &mut tx,
                    "SELECT current_setting(name) FROM pg_settings WHERE name IN ($1)",
                ));
                seen.push(setting(
                    &mut tx,
                    "SELECT current_setting(name) FROM pg_settings WHERE name = $1",
                ));
            }
            seen.push(tx.query("SELECT current_setting('jit')", &[]).unwrap()[0].text(0));
        }
        seen
    })
    .await
    .unwrap();
    let per_tx = ["off", "on", "off", "on", "off"];
    assert_eq!(seen, [per_tx, per_tx].concat());
}

/// `repo::living_nik_holders`: a NIK is held where a member who lives there (`tinggal`,
/// `anggota_baru`) carries it, not where one died or moved out; a NIK asked for twice is
/// answered once; the same on both backends.
async fn nik_holders_are_the_living_members(b: Backend) {
    let s = TestServer::start(b).await;
    let hh = s.import(DESA_A, 3, 1).await;
    let ids: Vec<String> = hh.iter().map(|(h, _)| h.id.to_string()).collect();
    let app = s.app.clone();
    let (holders, all) = tokio::task::spawn_blocking(move || {
        let mut tx = app.db.write().unwrap();
        let rows = [
            ("m1", &ids[0], "3308010101900001", "tinggal"),
            ("m2", &ids[1], "3308010101900001", "meninggal"),
            ("m3", &ids[2], "3308010101900001", "anggota_baru"),
            ("m4", &ids[0], "3308010101900002", "pindah"),
            ("m5", &ids[1], "3308010101900003", "tinggal"),
        ];
        for (id, household, nik, status) in rows {
            tx.execute(
                "INSERT INTO members (id, household_id, nik, name, sex, relationship, status)
                 VALUES ($1, $2, $3, 'SINTETIS', 'L', 2, $4)",
                &[
                    Value::from(id),
                    Value::from(household.as_str()),
                    Value::from(nik),
                    Value::from(status),
                ],
            )
            .unwrap();
        }
        let asked: Vec<String> = [
            "3308010101900001",
            "3308010101900002",
            "3308010101900001",
            "3308010101900009",
        ]
        .map(String::from)
        .to_vec();
        let mut holders: Vec<(String, String)> =
            verivali_server::repo::living_nik_holders(tx.as_mut(), &asked)
                .unwrap()
                .into_iter()
                .map(|(nik, h)| (nik, h.to_string()))
                .collect();
        holders.sort();
        let all = verivali_server::repo::living_nik_holders(
            tx.as_mut(),
            &["3308010101900003".to_string()],
        )
        .unwrap();
        (holders, all)
    })
    .await
    .unwrap();
    let mut expected = vec![
        ("3308010101900001".to_string(), hh[0].0.id.to_string()),
        ("3308010101900001".to_string(), hh[2].0.id.to_string()),
    ];
    expected.sort();
    assert_eq!(holders, expected);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1, hh[1].0.id);
}
both_backends!(nik_holders, nik_holders_are_the_living_members);

/// A visit is stored as the device sent it: the payload's text, byte for byte, a field this
/// server does not know included (a newer app's), and it still reads back as the record.
async fn the_record_is_stored_as_the_device_sent_it(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user(
        "petugas.rekam",
        verivali_domain::Role::Enumerator,
        &[DESA_A],
    )
    .await;
    let hh = s.import(DESA_A, 2, 7).await;
    let mut d = s.sign_in("petugas.rekam").await;
    let plain = visit(&hh[0].0, &hh[0].1, 1);
    let newer = visit(&hh[1].0, &hh[1].1, 2);
    let mut ops = vec![
        d.op(&verivali_protocol::OpBody::VisitRecord(Box::new(
            plain.clone(),
        ))),
        d.op(&verivali_protocol::OpBody::VisitRecord(Box::new(
            newer.clone(),
        ))),
    ];
    let text = ops[1]
        .payload
        .get()
        .replacen('{', r#"{"catatan_masa_depan":{"v":2},"#, 1);
    ops[1].payload = serde_json::value::RawValue::from_string(text).unwrap();
    let sent: Vec<String> = ops.iter().map(|o| o.payload.get().to_string()).collect();
    let r = d.push(&ops).await;
    assert!(
        r.results
            .iter()
            .all(|x| x.status == verivali_protocol::OpStatus::Applied),
        "{:?}",
        r.results
    );
    let app = s.app.clone();
    let ids = [plain.visit_id, newer.visit_id];
    let (stored, decoded) = tokio::task::spawn_blocking(move || {
        let mut tx = app.db.read().unwrap();
        let stored: Vec<String> = ids
            .iter()
            .map(|id| {
                tx.query_opt(
                    "SELECT record FROM visits WHERE id = $1",
                    &[Value::from(*id)],
                )
                .unwrap()
                .unwrap()
                .text(0)
            })
            .collect();
        let decoded = verivali_server::repo::visits_by_id(tx.as_mut(), &ids).unwrap();
        (stored, decoded)
    })
    .await
    .unwrap();
    assert_eq!(stored, sent);
    assert_eq!(stored[0], serde_json::to_string(&plain).unwrap());
    let mut records: Vec<_> = decoded.into_iter().map(|r| r.record).collect();
    records.sort_by_key(|r| r.visit_id);
    let mut expected = vec![plain, newer];
    expected.sort_by_key(|r| r.visit_id);
    assert_eq!(records, expected);
}
both_backends!(stored_as_sent, the_record_is_stored_as_the_device_sent_it);

/// A pushed record is packed on both backends (a BLOB on SQLite, a `bytea` on PostgreSQL, a
/// fraction of its text's size) and reads back as the text sent. A record written as text (by a
/// server before packing, or outside a push) still reads beside packed ones, and a frame that
/// does not unpack, or bytes that are not UTF-8, are a corrupt row, said as such.
async fn pushed_records_are_packed(b: Backend) {
    let s = TestServer::start(b).await;
    s.add_user(
        "petugas.rekam",
        verivali_domain::Role::Enumerator,
        &[DESA_A],
    )
    .await;
    let hh = s.import(DESA_A, 2, 7).await;
    let mut d = s.sign_in("petugas.rekam").await;
    let records = [visit(&hh[0].0, &hh[0].1, 1), visit(&hh[1].0, &hh[1].1, 2)];
    let ops: Vec<_> = records
        .iter()
        .map(|r| d.op(&verivali_protocol::OpBody::VisitRecord(Box::new(r.clone()))))
        .collect();
    let sent: Vec<String> = ops.iter().map(|o| o.payload.get().to_string()).collect();
    let r = d.push(&ops).await;
    assert!(
        r.results
            .iter()
            .all(|x| x.status == verivali_protocol::OpStatus::Applied),
        "{:?}",
        r.results
    );
    let app = s.app.clone();
    let ids = [records[0].visit_id, records[1].visit_id];
    tokio::task::spawn_blocking(move || {
        let mut tx = app.db.write().unwrap();
        let form = match b {
            Backend::Sqlite => "SELECT typeof(record), length(record) FROM visits WHERE id = $1",
            Backend::Postgres => {
                "SELECT pg_typeof(record)::text, octet_length(record) FROM visits WHERE id = $1"
            }
        };
        for (id, text) in ids.iter().zip(&sent) {
            let r = tx.query_opt(form, &[Value::from(*id)]).unwrap().unwrap();
            let (kind, bytes) = (r.text(0), r.i64(1) as usize);
            // A BLOB on SQLite (step 15), `bytea` on PostgreSQL (step 16): packed on both.
            let binary = match b {
                Backend::Sqlite => "blob",
                Backend::Postgres => "bytea",
            };
            assert_eq!(kind, binary);
            assert!(
                bytes * 3 < text.len(),
                "{bytes} bytes packed, {} as text",
                text.len()
            );
            let back = tx
                .query_opt(
                    "SELECT record FROM visits WHERE id = $1",
                    &[Value::from(*id)],
                )
                .unwrap()
                .unwrap()
                .text(0);
            assert_eq!(&back, text);
        }
        {
            // The first as text (as a server before packing wrote it, or a write outside a
            // push), beside the packed second.
            tx.execute(
                "UPDATE visits SET record = $1 WHERE id = $2",
                &[Value::Text(sent[0].clone()), ids[0].into()],
            )
            .unwrap();
            let mut read: Vec<_> = verivali_server::repo::visits_by_id(tx.as_mut(), &ids)
                .unwrap()
                .into_iter()
                .map(|v| v.record)
                .collect();
            read.sort_by_key(|r| r.visit_id);
            let mut expected = records.to_vec();
            expected.sort_by_key(|r| r.visit_id);
            assert_eq!(read, expected);
            // A frame cut short: the row is corrupt, not a visit without its record.
            tx.execute(
                "UPDATE visits SET record = $1 WHERE id = $2",
                &[
                    Value::Packed(vec![0x28, 0xb5, 0x2f, 0xfd, 0x20]),
                    ids[1].into(),
                ],
            )
            .unwrap();
            let err = verivali_server::repo::visits_by_id(tx.as_mut(), &ids).unwrap_err();
            assert!(matches!(err, DbError::Corrupt(_)), "{err:?}");
            // Bytes that are neither a frame nor UTF-8: corrupt as well, on both backends alike
            // (SQLite once read them lossily, PostgreSQL refused them).
            tx.execute(
                "UPDATE visits SET record = $1 WHERE id = $2",
                &[Value::Packed(vec![0xff, 0xfe, 0x7b]), ids[1].into()],
            )
            .unwrap();
            let err = tx
                .query(
                    "SELECT record FROM visits WHERE id = $1",
                    &[Value::from(ids[1])],
                )
                .unwrap_err();
            assert!(matches!(err, DbError::Corrupt(_)), "{err:?}");
            if b == Backend::Postgres {
                // A number given for the record is refused, never stored as its digits.
                tx.execute(
                    "UPDATE visits SET record = $1 WHERE id = $2",
                    &[Value::I64(7), ids[1].into()],
                )
                .unwrap_err();
            }
        }
    })
    .await
    .unwrap();
}
both_backends!(packed_records, pushed_records_are_packed);

/// Schema step 16 turns `visits.record` into `bytea` on PostgreSQL (pushes store records packed
/// from then on): a record a server before it stored as text reads back as the same text, and
/// a record that is neither a frame nor UTF-8 is a corrupt row, never a visit without a record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_from_before_step_16_keeps_its_text_records() {
    // Dropped when the test ends, passed or failed.
    let scratch = ScratchDb::create();
    let url = scratch.url.clone();
    tokio::task::spawn_blocking(move || {
        let text = r#"{"visit_id":"019af000-0000-7000-8000-000000000001","catatan":"sebelum langkah 16"}"#;
        {
            // The database as a server at step 15 left it, with one visit.
            let mut old = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            old.batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, at TEXT NOT NULL)",
            )
            .unwrap();
            let steps = verivali_server::db::schema::postgres_steps();
            assert!(steps.len() >= 16);
            for (i, step) in steps.iter().take(15).enumerate() {
                old.batch_execute(step).unwrap();
                old.execute(
                    "INSERT INTO schema_migrations (version, at) VALUES ($1, 'then')",
                    &[&(i as i64 + 1)],
                )
                .unwrap();
            }
            old.batch_execute(
                "INSERT INTO users (id, username, display_name, role, areas, password_hash, created_at)
                 VALUES ('u1', 'petugas', 'Petugas', 'enumerator', '[]', 'x', 'then')",
            )
            .unwrap();
            for (id, record) in [("v1", text), ("v2", "{}")] {
                old.execute(
                    "INSERT INTO visits (id, household_id, enumerator_id, device_id, kode_desa, revision,
                         state, outcome, baseline_version, record, created_at, updated_at)
                     VALUES ($1, 'h1', 'u1', 'd1', '3308012001', 1, 'submitted', 'ditemukan', 1, $2,
                         'then', 'then')",
                    &[&id, &record],
                )
                .unwrap();
            }
        }
        {
            let db = verivali_server::db::open(&url).unwrap();
            let mut tx = db.write().unwrap();
            let r = tx
                .query_opt(
                    "SELECT record, pg_typeof(record)::text FROM visits WHERE id = 'v1'",
                    &[],
                )
                .unwrap()
                .unwrap();
            assert_eq!((r.text(0).as_str(), r.text(1).as_str()), (text, "bytea"));
            tx.execute(
                "UPDATE visits SET record = '\\xfffe'::bytea WHERE id = 'v2'",
                &[],
            )
            .unwrap();
            let err = tx
                .query("SELECT record FROM visits ORDER BY id", &[])
                .unwrap_err();
            assert!(matches!(err, DbError::Corrupt(_)), "{err:?}");
        }
    })
    .await
    .unwrap();
    drop(scratch);
}

/// Schema step 17 makes PostgreSQL compare keys byte by byte (`COLLATE "C"`), as SQLite does:
/// every text column in an index or a foreign key of a database from before the step takes the
/// "C" collation, its rows and constraints intact, so an `ORDER BY` of keys reads in the same
/// order on both backends; the columns searched with `lower(…) LIKE` keep the database's own
/// (an operator's index on one included), so the search still folds a letter outside ASCII; a
/// table an operator's view depends on keeps its collation, and the server still starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_database_compares_its_keys_byte_by_byte() {
    // Dropped when the test ends, passed or failed.
    let scratch = ScratchDb::create();
    let url = scratch.url.clone();
    tokio::task::spawn_blocking(move || {
        let usernames = ["petugas.b", "Petugas.a", "petugas.é", "petugas_c", "PETUGAS.z"];
        {
            // The database as a server at step 16 left it.
            let mut old = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            old.batch_execute(
                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, at TEXT NOT NULL)",
            )
            .unwrap();
            let steps = verivali_server::db::schema::postgres_steps();
            assert!(steps.len() >= 17);
            for (i, step) in steps.iter().take(16).enumerate() {
                old.batch_execute(step).unwrap();
                old.execute(
                    "INSERT INTO schema_migrations (version, at) VALUES ($1, 'then')",
                    &[&(i as i64 + 1)],
                )
                .unwrap();
            }
            for (i, u) in usernames.iter().enumerate() {
                old.execute(
                    "INSERT INTO users (id, username, display_name, role, areas, password_hash, created_at)
                     VALUES ($1, $2, 'Petugas', 'enumerator', '[]', 'x', 'then')",
                    &[&format!("u{i}"), u],
                )
                .unwrap();
            }
            old.batch_execute(
                "INSERT INTO devices (id, user_id, name, app_version, first_seen, last_seen)
                     VALUES ('d1', 'u0', 'hp', '1', 'then', 'then');
                 INSERT INTO households (id, nama_krt, alamat, rt, rw, kode_desa, version,
                         created_at, updated_at)
                     VALUES ('h1', 'ÉLIA SUSANTI', 'Jl. Melati', '001', '002', '3308012001', 1,
                         'then', 'then');
                 -- What an operator may have added: an index for the name search, a report view.
                 CREATE INDEX households_name_search ON households (nama_krt);
                 CREATE VIEW region_names AS SELECT kode, nama FROM regions;",
            )
            .unwrap();
        }
        let db = verivali_server::db::open(&url).unwrap();
        let mut tx = db.write().unwrap();
        let not_c = tx
            .query(
                "SELECT t.relname || '.' || a.attname, coalesce(l.collname, '')
                 FROM pg_attribute a
                 JOIN pg_class t ON t.oid = a.attrelid
                 LEFT JOIN pg_collation l ON l.oid = a.attcollation
                 WHERE t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
                   AND t.relkind = 'r' AND a.attnum > 0 AND a.atttypid = 'text'::regtype
                   AND (EXISTS (SELECT 1 FROM pg_index i
                                WHERE i.indrelid = t.oid AND a.attnum = ANY (i.indkey))
                        OR EXISTS (SELECT 1 FROM pg_constraint k
                                   WHERE k.contype = 'f'
                                     AND ((k.conrelid = t.oid AND a.attnum = ANY (k.conkey))
                                       OR (k.confrelid = t.oid AND a.attnum = ANY (k.confkey)))))
                 ORDER BY 1",
                &[],
            )
            .unwrap();
        assert!(not_c.len() > 50, "{} key columns", not_c.len());
        let wrong: Vec<_> = not_c
            .iter()
            .filter(|r| r.text(1) != "C")
            .map(|r| r.text(0))
            .collect();
        // The operator's index leaves the name as it was; the view keeps its table's keys.
        assert_eq!(
            wrong,
            ["households.nama_krt", "regions.kode"],
            "not byte by byte"
        );
        let searched = tx
            .query(
                "SELECT a.attname, coalesce(l.collname, '') FROM pg_attribute a
                 JOIN pg_collation l ON l.oid = a.attcollation
                 WHERE a.attrelid = 'households'::regclass AND a.attname IN ('nama_krt', 'alamat')
                 ORDER BY 1",
                &[],
            )
            .unwrap();
        assert_eq!(searched.len(), 2);
        assert!(searched.iter().all(|r| r.text(1) == "default"));
        // Keys in byte order, as SQLite sorts them.
        let mut expected: Vec<&str> = usernames.to_vec();
        expected.sort_unstable();
        let read: Vec<String> = tx
            .query("SELECT username FROM users ORDER BY username", &[])
            .unwrap()
            .iter()
            .map(|r| r.text(0))
            .collect();
        assert_eq!(read, expected);
        // The search still folds É where the database's collation does (any UTF-8 locale; a
        // cluster made with plain `C` never did); the foreign keys still hold.
        let folds = tx.query("SELECT lower('É') = 'é'", &[]).unwrap()[0].i64(0) == 1;
        let found = tx
            .query(
                "SELECT id FROM households WHERE lower(nama_krt) LIKE $1",
                &["%élia%".into()],
            )
            .unwrap();
        assert_eq!(found.len(), usize::from(folds));
        let err = tx
            .execute(
                "INSERT INTO devices (id, user_id, name, app_version, first_seen, last_seen)
                 VALUES ('d2', 'nobody', 'hp', '1', 'now', 'now')",
                &[],
            )
            .unwrap_err();
        let DbError::Postgres(e) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            e.code(),
            Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION),
            "{e:?}"
        );
        drop(tx);
        drop(db);
    })
    .await
    .unwrap();
    drop(scratch);
}

/// Two transactions that lock overlapping sets of households never deadlock, even when two of
/// the households share a lock key (a lock is named by 32 bits; with a million households about
/// a hundred pairs do). Households `x < y < z` (as text), `x` and `z` sharing a key: a push of
/// `{x, y}` and one of `{y, z}` locked in id order would take the shared key and `y`'s in
/// opposite orders. Here `y`'s key is held by a third session while the push of `{y, z}` queues
/// first and that of `{x, y}` second; once it is let go, both must commit. Locked in id order
/// (the order before this test, with these ids' keys), the first holds `y`'s key and waits for
/// the shared one, the second holds the shared one and waits for `y`'s, and PostgreSQL fails one
/// with a deadlock. (With the keys before it, `hashtext`, these ids share none.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn household_locks_never_deadlock() {
    use verivali_server::repo::{household_lock_key, lock_households};
    let scratch = ScratchDb::create();
    let url = scratch.url.clone();
    tokio::task::spawn_blocking(move || {
        let x = uuid::Uuid::parse_str("3d5e0c8a-1b2c-4d3e-8f40-5a6b7c8d9e01").unwrap();
        // `z`: `x` with the same bit flipped in its first two 32-bit words (the key folds the
        // words together, so it is unchanged), and a larger first digit.
        let z =
            uuid::Uuid::from_u128(x.as_u128() ^ (0x8000_0000u128 << 96) ^ (0x8000_0000u128 << 64));
        assert_eq!(household_lock_key(x), household_lock_key(z));
        assert!(x.to_string() < z.to_string());
        // `y` between them as text, with a key of its own: whichever side of the shared key it
        // falls on, id order and key order disagree for one of the two sets.
        let shared = household_lock_key(x);
        let y = (0u128..)
            .map(|i| uuid::Uuid::from_u128(x.as_u128() + (1u128 << 100) + i))
            .find(|y| household_lock_key(*y) != shared)
            .unwrap();
        assert!(x.to_string() < y.to_string() && y.to_string() < z.to_string());

        let db = verivali_server::db::open(&url).unwrap();
        let mut holder = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut watcher = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let waiting = |c: &mut postgres::Client| -> i64 {
            c.query_one(
                // This test's database only: other tests run theirs beside it.
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .unwrap()
            .get(0)
        };
        let wait_for = |c: &mut postgres::Client, n: i64| {
            for _ in 0..500 {
                if waiting(c) >= n {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("fewer than {n} sessions waited for a household lock");
        };
        holder.batch_execute("BEGIN").unwrap();
        holder
            .execute(
                "SELECT pg_advisory_xact_lock(7452020, $1)",
                &[&household_lock_key(y)],
            )
            .unwrap();
        std::thread::scope(|s| {
            let push = |set: [uuid::Uuid; 2]| {
                let db = &db;
                // `{e:?}`: PostgreSQL's own message ("deadlock detected") in a failure.
                move || -> Result<(), String> {
                    let mut tx = db.write().map_err(|e| format!("{e:?}"))?;
                    // A failed wait below must fail the test, not leave it waiting for ever.
                    tx.execute("SET LOCAL lock_timeout = '30s'", &[])
                        .map_err(|e| format!("{e:?}"))?;
                    lock_households(&mut *tx, &set).map_err(|e| format!("{e:?}"))?;
                    tx.commit().map_err(|e| format!("{e:?}"))
                }
            };
            let queued_first = s.spawn(push([y, z]));
            wait_for(&mut watcher, 1);
            let queued_second = s.spawn(push([x, y]));
            wait_for(&mut watcher, 2);
            holder.batch_execute("COMMIT").unwrap();
            assert_eq!(queued_first.join().unwrap(), Ok(()));
            assert_eq!(queued_second.join().unwrap(), Ok(()));
        });
    })
    .await
    .unwrap();
    drop(scratch);
}

/// A page of a PostgreSQL server's change feed reads the changes it returns and no more, however
/// long the rest of the feed is: the page follows `changes_order` and stops at its limit
/// (`repo::changes::pull`). Planned for a cursor's own value, as PostgreSQL plans a statement's
/// first runs, the page fetched every change after the cursor, filtered and sorted them, so a
/// fresh device's first pull read the rest of the feed once per page. Counted from the
/// transaction's own statistics (`pg_stat_xact_user_tables`): rows, not time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_feed_page_reads_no_further_than_its_limit() {
    let s = TestServer::start(Backend::Postgres).await;
    s.import(DESA_A, 600, 7).await;
    s.import(DESA_B, 600, 8).await;
    s.add_user("fresh", verivali_domain::Role::Enumerator, &[DESA_A])
        .await;
    let app = s.app.clone();
    tokio::task::spawn_blocking(move || {
        let scope = {
            let mut tx = app.db.read().unwrap();
            verivali_server::repo::user_by_username(tx.as_mut(), "fresh")
                .unwrap()
                .unwrap()
                .scope()
        };
        let device = uuid::Uuid::from_u128(0x5eed);
        let limit = 50;
        let (mut cursor, mut pages, mut received) = (String::new(), 0, 0);
        // Changes read so far by this connection: PostgreSQL 15 keeps a backend's counts pending
        // across transactions until it reports them, so a page's reads are a difference.
        let fetched = |tx: &mut dyn Sql| {
            tx.query(
                "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                 FROM pg_stat_xact_user_tables WHERE relname = 'changes'",
                &[],
            )
            .unwrap()
            .first()
            .map_or(0, |r| r.i64(0))
        };
        loop {
            let mut tx = app.db.read().unwrap();
            let before = fetched(tx.as_mut());
            let (rows, next, more) =
                verivali_server::repo::pull(tx.as_mut(), &scope, device, &cursor, limit, "")
                    .unwrap();
            let read = fetched(tx.as_mut()) - before;
            // Counted at all (statistics on, no parallel workers reading for it).
            assert!(read >= rows.len() as i64, "page {pages} read {read}");
            // The page's rows and the one after it, which says there is more. The other desa's
            // changes all follow this one's (imported after them): only the last page, which
            // passes over them to find the feed's end, reads what it does not return.
            if more {
                assert!(
                    read <= limit as i64 + 1,
                    "page {pages} read {read} changes to return {}",
                    rows.len()
                );
            }
            received += rows.len();
            pages += 1;
            cursor = next;
            if !more {
                break;
            }
        }
        assert!(
            pages > 5,
            "{pages} pages: more than PostgreSQL's custom plans"
        );
        assert!(received > 2_000, "{received}");
    })
    .await
    .unwrap();
}

/// A push's households are found by their keys alone on PostgreSQL. Its planner read the caller's
/// whole area too: without statistics (a fresh import) the area's index and then every row of it,
/// filtered by the keys; with them, where the area is a small share of the table, every entry of
/// the area's index, intersected with the keys. Before, the desa caller here read the desa's 300
/// entries a push either way, growing with the area. The area is now checked on the rows the
/// keys find (`Scope::area_filter_sql`), and still keeps the others out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_key_look_up_reads_only_its_keys_whatever_the_area() {
    use verivali_domain::Role;
    let s = TestServer::start(Backend::Postgres).await;
    // Statistics come when the test says: autovacuum could analyze the import at any moment.
    {
        let app = s.app.clone();
        tokio::task::spawn_blocking(move || {
            let mut tx = app.db.write().unwrap();
            tx.execute(
                "ALTER TABLE households SET (autovacuum_enabled = false)",
                &[],
            )
            .unwrap();
            tx.commit().unwrap();
        })
        .await
        .unwrap();
    }
    let a = s.import(DESA_A, 300, 31).await;
    let b = s.import(DESA_B, 1_500, 32).await;
    s.add_user("desa", Role::Enumerator, &[DESA_A]).await;
    s.add_user("kabupaten", Role::Supervisor, &["3308"]).await;
    let asked: Vec<uuid::Uuid> = a
        .iter()
        .step_by(9)
        .chain(b.iter().step_by(301))
        .map(|(h, _)| h.id)
        .collect();
    let (in_a, in_b) = (a.iter().step_by(9).count(), b.iter().step_by(301).count());
    assert!(in_a > 30 && in_b >= 4, "{in_a} {in_b}");
    let app = s.app.clone();
    tokio::task::spawn_blocking(move || {
        // Entries of the area's index and household rows read so far by this transaction.
        let read = |tx: &mut dyn Sql| {
            let n = |sql: &str, tx: &mut dyn Sql| {
                tx.query(sql, &[]).unwrap().first().map_or(0, |r| r.i64(0))
            };
            (
                n(
                    "SELECT pg_stat_get_xact_tuples_returned('households_desa'::regclass)",
                    tx,
                ),
                n(
                    "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
                     FROM pg_stat_xact_user_tables WHERE relname = 'households'",
                    tx,
                ),
            )
        };
        for analyzed in [false, true] {
            if !analyzed {
                // No statistics yet, as just after an import.
                let mut tx = app.db.read().unwrap();
                let stats = tx
                    .query(
                        "SELECT count(*) FROM pg_stats WHERE tablename = 'households'",
                        &[],
                    )
                    .unwrap()[0]
                    .i64(0);
                assert_eq!(stats, 0, "households analyzed already");
            } else {
                let mut tx = app.db.write().unwrap();
                tx.execute("ANALYZE households", &[]).unwrap();
                tx.commit().unwrap();
            }
            for (user, expect) in [("desa", in_a), ("kabupaten", in_a + in_b)] {
                let mut tx = app.db.read().unwrap();
                let scope = verivali_server::repo::user_by_username(tx.as_mut(), user)
                    .unwrap()
                    .unwrap()
                    .scope();
                let before = read(tx.as_mut());
                let areas =
                    verivali_server::repo::household_areas_scoped(tx.as_mut(), &scope, &asked)
                        .unwrap();
                let after = read(tx.as_mut());
                assert_eq!(areas.len(), expect, "{user}, analyzed {analyzed}");
                assert!(
                    areas.values().all(|d| user == "kabupaten" || d == DESA_A),
                    "{user}: {areas:?}"
                );
                assert_eq!(
                    after.0 - before.0,
                    0,
                    "{user}, analyzed {analyzed}: entries of the area's index read"
                );
                // Counted at all, and no more than the keys asked for.
                let rows = after.1 - before.1;
                assert!(
                    rows >= expect as i64 && rows <= asked.len() as i64,
                    "{user}, analyzed {analyzed}: {rows} households read for {} keys",
                    asked.len()
                );
                let found =
                    verivali_server::repo::households_scoped(tx.as_mut(), &scope, &asked).unwrap();
                assert_eq!(found.len(), expect, "{user}, analyzed {analyzed}");
                assert_eq!(
                    read(tx.as_mut()).0 - after.0,
                    0,
                    "{user}: households_scoped"
                );
            }
        }
    })
    .await
    .unwrap();
}

/// A push PostgreSQL aborts to break a deadlock answers 503 `server.busy`, with `Retry-After`,
/// and leaves no trace: sent again, its ops apply once. A stand-in session locks the device's
/// row, which the push waits for holding its household's lock, and then asks for that lock
/// (`lose_a_deadlock`). A push is not run again in the server (its decoded records went into
/// the first try): its device sends it again, as it does after any 5xx. Before, it answered 500
/// `server.internal`, logged as the server's own failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_loses_a_deadlock_is_busy_and_applies_once_sent_again() {
    use verivali_domain::Role;
    use verivali_protocol::{OpBody, OpStatus};
    let s = TestServer::start_postgres_with(DEADLOCK_CHECK_LATER).await;
    s.add_user("petugas", Role::Enumerator, &[DESA_A]).await;
    let hh = s.import(DESA_A, 1, 1).await;
    let mut d = s.sign_in("petugas").await;
    let v = visit(&hh[0].0, &hh[0].1, 1);
    let ops = vec![d.op(&OpBody::VisitRecord(Box::new(v)))];
    let (device, sent) = (d.clone(), ops.clone());
    let (status, retry, body) = lose_a_deadlock(
        &s,
        "SELECT id FROM devices WHERE id = $1 FOR UPDATE",
        d.id.to_string(),
        hh[0].0.id,
        async move {
            let r = device.push_raw(&sent).await;
            let retry = r.headers().get("retry-after").cloned();
            (
                r.status(),
                retry,
                r.json::<serde_json::Value>().await.unwrap(),
            )
        },
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "server.busy", "{body}");
    assert_eq!(retry.unwrap(), "1");
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 0);
    assert_eq!(s.count("SELECT count(*) FROM applied_ops").await, 0);
    let r = d.push(&ops).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(s.count("SELECT count(*) FROM visits").await, 1);
    assert_eq!(s.app.metrics.writes_retried.get(), 0);
}
