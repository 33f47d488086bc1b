//! Append-only migrations, run at open. Never edit a released step: add a new one.
//! `PRAGMA user_version` holds the number of steps applied.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// The steps; index + 1 is the schema version a step produces.
pub const MIGRATIONS: &[&str] = &[
    // 1: first release.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE households (
        id TEXT PRIMARY KEY,
        id_dtsen TEXT,
        no_kk TEXT,
        nama_krt TEXT NOT NULL,
        alamat TEXT NOT NULL,
        rt TEXT NOT NULL,
        rw TEXT NOT NULL,
        kode_desa TEXT NOT NULL,
        desil INTEGER,
        version INTEGER NOT NULL,
        proposed INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'not_visited'
    );
    CREATE INDEX households_area ON households (kode_desa, rw, rt);
    CREATE TABLE members (
        id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES households (id),
        nik TEXT,
        name TEXT NOT NULL,
        sex TEXT NOT NULL,
        birth_place TEXT,
        birth_date TEXT,
        relationship INTEGER NOT NULL,
        status TEXT NOT NULL
    );
    CREATE INDEX members_household ON members (household_id);
    CREATE TABLE visits (
        id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES households (id),
        revision INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        state TEXT NOT NULL,
        finished INTEGER NOT NULL,
        record TEXT NOT NULL,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX visits_household ON visits (household_id, updated_at);
    CREATE TABLE reviews (
        id TEXT PRIMARY KEY,
        visit_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT,
        reviewer TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX reviews_visit ON reviews (visit_id, at);
    CREATE TABLE photos (
        sha256 TEXT PRIMARY KEY,
        mime TEXT NOT NULL,
        bytes BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        op_id TEXT NOT NULL UNIQUE,
        hlc TEXT NOT NULL,
        schema INTEGER NOT NULL,
        type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE clock (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        device TEXT NOT NULL,
        wall_ms INTEGER NOT NULL,
        counter INTEGER NOT NULL,
        offset_ms INTEGER
    );
    "#,
    // 2: text search over the baseline (name, NIK, No. KK, address) and the "needs attention"
    // list of ops the server rejected. Backfills the search text of existing households.
    r#"
    ALTER TABLE households ADD COLUMN search TEXT NOT NULL DEFAULT '';
    UPDATE households SET search = lower(
        nama_krt || ' ' || alamat || ' ' || coalesce(no_kk, '') || ' ' || coalesce(id_dtsen, '') || ' ' ||
        coalesce((SELECT group_concat(m.name || ' ' || coalesce(m.nik, ''), ' ')
                  FROM members m WHERE m.household_id = households.id), ''));
    CREATE TABLE attention (
        op_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        field TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX attention_entity ON attention (entity_id);
    "#,
    // 3: which photos the server holds, so sync uploads each one once.
    r#"
    ALTER TABLE photos ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: the enumerator's assignment of a household (DESIGN.md §9); no source means shared.
    r#"
    ALTER TABLE households ADD COLUMN assignment_source TEXT;
    ALTER TABLE households ADD COLUMN due_date TEXT;
    ALTER TABLE households ADD COLUMN assignment_note TEXT;
    "#,
    // 5: a household the server took away (reassigned, or out of the user's areas) that stays
    // while the device holds a draft or unsent visit of it (DESIGN.md §9).
    r#"
    ALTER TABLE households ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;
    "#,
    // 6: what the server acknowledged, for the send screen: when it received each visit's last
    // record and its submission (server time), and the last syncs with what went each way.
    r#"
    ALTER TABLE visits ADD COLUMN received_at TEXT;
    ALTER TABLE visits ADD COLUMN submitted_at TEXT;
    CREATE TABLE sync_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        ops_up INTEGER NOT NULL,
        photos_up INTEGER NOT NULL,
        pulled INTEGER NOT NULL,
        code TEXT,
        message TEXT
    );
    "#,
    // 7: members by NIK, so a NIK typed into a visit is checked against the other households on
    // the device as it is typed (DESIGN.md §11: a NIK held elsewhere).
    r#"
    CREATE INDEX members_nik ON members (nik);
    "#,
    // 8: when the server received each visit and its submission, in a table of their own: as
    // columns of `visits` (after the ~2 KB record) every acknowledgement rewrote each visit's
    // whole row, decrypting and encrypting it again — the largest part of a big sync's local
    // work (issue 18).
    r#"
    CREATE TABLE visit_sent (
        visit_id TEXT PRIMARY KEY,
        received_at TEXT,
        submitted_at TEXT
    ) WITHOUT ROWID;
    INSERT INTO visit_sent (visit_id, received_at, submitted_at)
        SELECT id, received_at, submitted_at FROM visits
        WHERE received_at IS NOT NULL OR submitted_at IS NOT NULL;
    ALTER TABLE visits DROP COLUMN received_at;
    ALTER TABLE visits DROP COLUMN submitted_at;
    "#,
    // 9: nothing to change in the tables: from here a `visit.record` op's payload in the outbox
    // may be zstd-compressed JSON (a BLOB; `outbox::COMPRESSED`), which a build before this step
    // cannot read. The version bump makes such a build refuse the store ("update the app")
    // instead of failing on the first sync.
    r#"
    SELECT 1;
    "#,
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Applies the missing steps up to `target`, each in its own transaction with its version bump.
pub(crate) fn migrate(conn: &mut Connection, target: i64) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest() {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: latest(),
        });
    }
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
