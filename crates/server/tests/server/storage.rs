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
