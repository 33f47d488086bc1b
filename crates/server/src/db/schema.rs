//! Server migrations, append-only, one list per backend. Both produce the same tables with the
//! same column names and portable types; only the change feed differs: PostgreSQL records each
//! change's transaction id so that pulls never pass a change whose transaction is still open
//! (see [`crate::repo::pull`]).

use crate::db::{DbError, DbResult};

/// Tables common to both backends (types both accept).
const COMMON_V1: &str = r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    areas TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    app_version TEXT NOT NULL,
    acked_seq BIGINT NOT NULL DEFAULT 0,
    revoked_at TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX tokens_device ON tokens (device_id);
CREATE TABLE households (
    id TEXT PRIMARY KEY,
    id_dtsen TEXT UNIQUE,
    no_kk TEXT,
    nama_krt TEXT NOT NULL,
    alamat TEXT NOT NULL,
    rt TEXT NOT NULL,
    rw TEXT NOT NULL,
    kode_desa TEXT NOT NULL,
    desil BIGINT,
    version BIGINT NOT NULL,
    proposed_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX households_desa ON households (kode_desa);
CREATE TABLE household_versions (
    household_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    data TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (household_id, version)
);
CREATE TABLE members (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL REFERENCES households (id),
    nik TEXT,
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_place TEXT,
    birth_date TEXT,
    relationship BIGINT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX members_household ON members (household_id);
CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    enumerator_id TEXT NOT NULL REFERENCES users (id),
    device_id TEXT NOT NULL,
    kode_desa TEXT NOT NULL,
    revision BIGINT NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT NOT NULL,
    baseline_version BIGINT NOT NULL,
    record TEXT NOT NULL,
    batch_id TEXT,
    submitted_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX visits_household ON visits (household_id);
CREATE INDEX visits_area_state ON visits (kode_desa, state);
CREATE INDEX visits_enumerator ON visits (enumerator_id);
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    enumerator_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    visit_count BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    visit_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    reviewer_id TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX reviews_visit ON reviews (visit_id);
CREATE TABLE applied_ops (
    op_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    hlc TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE attachments (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE questionnaires (
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    json TEXT NOT NULL,
    active BIGINT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
"#;

const SQLITE_V1: &str = r#"
CREATE TABLE changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    area TEXT NOT NULL,
    owner TEXT,
    data TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user_id TEXT,
    username TEXT,
    device_id TEXT,
    address TEXT,
    action TEXT NOT NULL,
    entity_kind TEXT,
    entity_id TEXT,
    detail TEXT
);
"#;

const POSTGRES_V1: &str = r#"
CREATE TABLE changes (
    seq BIGSERIAL PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    area TEXT NOT NULL,
    owner TEXT,
    data TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX changes_order ON changes (xid, seq);
CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    user_id TEXT,
    username TEXT,
    device_id TEXT,
    address TEXT,
    action TEXT NOT NULL,
    entity_kind TEXT,
    entity_id TEXT,
    detail TEXT
);
-- The audit log is append-only: no role may change or remove its rows.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"#;

const SQLITE_V1_TRIGGERS: &str = r#"
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"#;

/// Step 2, both backends: indexes for the review queue (batches, oldest first per state) and for
/// the export's walk over approved visits in id order.
const COMMON_V2: &str = r#"
CREATE INDEX visits_batch ON visits (batch_id);
CREATE INDEX visits_state_id ON visits (state, id);
CREATE INDEX reviews_visit_at ON reviews (visit_id, at);
CREATE INDEX audit_action ON audit (action, seq);
"#;

/// Review decisions are immutable events: no role may change or remove one (a later decision,
/// such as an admin's reopen, is a new row).
const SQLITE_V2_TRIGGERS: &str = r#"
CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews BEGIN SELECT RAISE(ABORT, 'review decisions are immutable'); END;
CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews BEGIN SELECT RAISE(ABORT, 'review decisions are immutable'); END;
"#;
const POSTGRES_V2_TRIGGERS: &str = r#"
CREATE FUNCTION reviews_immutable() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'review decisions are immutable'; END $$;
CREATE TRIGGER reviews_no_change BEFORE UPDATE OR DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_immutable();
"#;

/// Step 3, both backends: the device whose push wrote a change. Pull leaves a device's own
/// pushes out of its feed (it holds what it sent); later changes to the same visit (a review)
/// are written without an origin and reach it.
const COMMON_V3: &str = "ALTER TABLE changes ADD COLUMN origin_device TEXT;";

/// Step 4, both backends: assignments (DESIGN.md §9). One row per assigned household (a household
/// with none is shared by its area's enumerators), and every change of it kept as an event
/// (`enumerator_id` NULL when the household was shared again); and when each device last began
/// pulling from the start (`feed_start`), before which withdrawals do not concern it.
const COMMON_V4: &str = r#"
CREATE TABLE assignments (
    household_id TEXT PRIMARY KEY REFERENCES households (id),
    enumerator_id TEXT NOT NULL REFERENCES users (id),
    due_date TEXT,
    source TEXT NOT NULL,
    note TEXT,
    assigned_by TEXT NOT NULL,
    assigned_at TEXT NOT NULL,
    received_at TEXT
);
CREATE INDEX assignments_enumerator ON assignments (enumerator_id);
CREATE TABLE assignment_events (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    enumerator_id TEXT,
    due_date TEXT,
    source TEXT,
    note TEXT,
    by_user TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX assignment_events_household ON assignment_events (household_id, at);
ALTER TABLE devices ADD COLUMN feed_start TEXT;
"#;

/// Step 5, both backends: the changes addressed to one enumerator, by entity, so a pull can skip
/// a broadcast that a later addressed change of the same entity repeats.
const COMMON_V5: &str =
    "CREATE INDEX changes_addressed ON changes (entity_id, owner) WHERE owner IS NOT NULL;";

/// Step 6, both backends: a password an admin reset is one-time; the next sign-in sets a new one.
const COMMON_V6: &str =
    "ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;";

/// Step 7, both backends: a device's last push, and a wipe an admin ordered with its revocation
/// (requested, then confirmed by the device once it had sent what it held).
const COMMON_V7: &str = r#"
ALTER TABLE devices ADD COLUMN last_push TEXT;
ALTER TABLE devices ADD COLUMN wipe_requested_at TEXT;
ALTER TABLE devices ADD COLUMN wiped_at TEXT;
"#;

/// Step 8, both backends: Kemendagri region names, so pages say "Desa Sukamaju (3308012001)".
const COMMON_V8: &str = r#"
CREATE TABLE regions (
    kode TEXT PRIMARY KEY,
    nama TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"#;

/// Step 9, both backends: questionnaire versions uploaded and checked by an admin, kept until
/// (and after) one is published.
const COMMON_V9: &str = r#"
CREATE TABLE questionnaire_drafts (
    id TEXT PRIMARY KEY,
    questionnaire_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    json TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    published_at TEXT
);
"#;

/// Step 10, both backends: quality control (DESIGN.md §11). A visit keeps its flags and risk score
/// (computed at ingest, ordered by in the review queue), its finish time, duration and fix (the
/// evidence other visits are checked against, without parsing records); photos by hash and
/// members by NIK are indexed so a reused photo or a NIK held elsewhere is one look-up; settings
/// hold the admin's thresholds. The checks read a household's visits and an enumerator's finish
/// times from covering indexes: on SQLite the new columns sit after the ~3 KB record, and reading
/// them from the row would walk its overflow pages for every neighbour of every visit ingested.
/// Those indexes begin with the columns of `visits_enumerator` and `visits_household`, which
/// they replace (one index fewer to write per visit).
const COMMON_V10: &str = r#"
ALTER TABLE visits ADD COLUMN finished_at TEXT;
ALTER TABLE visits ADD COLUMN duration_s BIGINT;
ALTER TABLE visits ADD COLUMN gps TEXT;
ALTER TABLE visits ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE visits ADD COLUMN risk BIGINT NOT NULL DEFAULT 0;
DROP INDEX visits_enumerator;
CREATE INDEX visits_enumerator_finished ON visits (enumerator_id, finished_at, id, state);
DROP INDEX visits_household;
CREATE INDEX visits_household_quality ON visits (household_id, id, enumerator_id, state, finished_at);
CREATE INDEX visits_state_risk ON visits (state, risk, id);
CREATE INDEX members_nik ON members (nik);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL
);
"#;

/// Step 10's photo index (a table with a rowid, as `verivali-server migrate` pages every table by
/// it) and the backfill of visits stored before it (their flags wait for their next change).
const SQLITE_V10_BACKFILL: &str = r#"
CREATE TABLE visit_photos (
    sha256 TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (sha256, visit_id)
);
UPDATE visits SET finished_at = json_extract(record, '$.finished_at'), gps = json_extract(record, '$.gps');
INSERT OR IGNORE INTO visit_photos (sha256, visit_id, finished_at)
    SELECT p.value, v.id, v.finished_at FROM visits v, json_each(v.record, '$.photos') p;
"#;
const POSTGRES_V10_BACKFILL: &str = r#"
CREATE TABLE visit_photos (
    sha256 TEXT NOT NULL,
    visit_id TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (sha256, visit_id)
);
UPDATE visits SET finished_at = record::jsonb->>'finished_at', gps = (record::jsonb->'gps')::text
    WHERE record::jsonb ? 'gps' OR record::jsonb ? 'finished_at';
UPDATE visits SET gps = NULL WHERE gps = 'null';
INSERT INTO visit_photos (sha256, visit_id, finished_at)
    SELECT DISTINCT jsonb_array_elements_text(record::jsonb->'photos'), id, finished_at FROM visits
    ON CONFLICT DO NOTHING;
"#;

/// Step 11, both backends: the update cycle (DESIGN.md §12). Periods; proposals with the
/// session that decided them and the household their verification goes to; musdes sessions with
/// their attendees (JSON) and the signed scan of the berita acara (kept with the photos, by hash).
/// A proposal's period and path are derived when read (from when it was entered, and from the
/// assignment and visits of its household), so a period created later still holds it. A visit
/// notes when its findings went into the baseline (at approval before verifikators existed, or
/// where none covers the desa; else at verification), so nothing is applied twice.
const COMMON_V11: &str = r#"
CREATE TABLE periods (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    opens TEXT NOT NULL,
    cutoff TEXT NOT NULL,
    closes TEXT NOT NULL,
    state TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    opened_at TEXT,
    closed_at TEXT
);
CREATE TABLE musdes (
    id TEXT PRIMARY KEY,
    kode_desa TEXT NOT NULL,
    date TEXT NOT NULL,
    sptjm BIGINT NOT NULL,
    place TEXT NOT NULL,
    chair TEXT NOT NULL,
    attendees TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    scan_sha256 TEXT,
    scan_type TEXT,
    scan_bytes BIGINT,
    scan_at TEXT
);
CREATE UNIQUE INDEX periods_one_open ON periods (state) WHERE state = 'open';
CREATE INDEX musdes_desa ON musdes (kode_desa, date);
CREATE TABLE proposals (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    household_id TEXT REFERENCES households (id),
    nik TEXT,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    kode_desa TEXT NOT NULL,
    reporter TEXT,
    reason TEXT NOT NULL,
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    musdes_id TEXT REFERENCES musdes (id),
    decision TEXT,
    note TEXT,
    decided_at TEXT,
    target_household_id TEXT
);
CREATE INDEX proposals_desa ON proposals (kode_desa, entered_at);
CREATE INDEX proposals_musdes ON proposals (musdes_id);
ALTER TABLE visits ADD COLUMN baseline_applied BIGINT NOT NULL DEFAULT 0;
UPDATE visits SET baseline_applied = 1 WHERE state = 'approved';
"#;

/// Step 12, both backends: the export's cells in compact form (DESIGN.md §7, the 1,000,000-visit
/// export), written when a visit is approved, so an export reads them instead of decoding every
/// record. Valid only for the revision and the questionnaire layout they were written for (a
/// re-sent record has a higher revision; another questionnaire another layout key): the export
/// joins on both and decodes the record where they do not match. A table of its own, not a
/// column of `visits`: on SQLite a column after the ~3 KB record sits in its overflow pages.
/// `flags` holds the quality flag codes the visit carried when approved (space-separated), for
/// the same reason (an approved visit's flags change only with its state, which writes the
/// cells again at the next approval); `approval` the reviewer and time of that approval
/// (`username|at`), which a per-row look-up in `reviews` gave before. On SQLite the table is
/// `WITHOUT ROWID` (one b-tree look-up per visit, not two). The index of visits by state carries what the export
/// reads of a visit (area, revision, household, enumerator), so the walk never reads the ~4 KB
/// visit rows themselves (SQLite seeks a row only for a record it has to decode): scanning
/// them was the export's floor, about 4 GB of pages for a million visits.
const COMMON_V12: &str = r#"
CREATE TABLE visit_exports (
    visit_id TEXT PRIMARY KEY,
    revision BIGINT NOT NULL,
    layout TEXT NOT NULL,
    cells TEXT NOT NULL,
    flags TEXT NOT NULL,
    approval TEXT NOT NULL
){WITHOUT_ROWID};
DROP INDEX visits_state_id;
CREATE INDEX visits_state_id ON visits (state, id, kode_desa, revision, household_id, enumerator_id);
"#;

/// Step 13, both backends: fewer index entries per pushed visit (DESIGN.md §7, the push
/// budget; each entry is a b-tree insert inside the push's write transaction and bytes in its
/// commit). `visits_batch` only needs the visits that are in a batch (a pushed visit is not
/// yet); `changes_addressed` only the household and member changes the pull's look-up asks for
/// (`repo::changes::pull`), not one entry per visit change. `members_nik` carries the status and
/// household the quality check of a push reads for every NIK it carries (`living_nik_holders`),
/// so those look-ups read no member row.
const COMMON_V13: &str = r#"
DROP INDEX members_nik;
CREATE INDEX members_nik ON members (nik, status, household_id);
DROP INDEX visits_batch;
CREATE INDEX visits_batch ON visits (batch_id) WHERE batch_id IS NOT NULL;
DROP INDEX changes_addressed;
CREATE INDEX changes_addressed ON changes (entity_id, owner)
    WHERE owner IS NOT NULL AND kind IN ('household', 'member');
"#;

/// Step 14, PostgreSQL: LZ4 instead of pglz for the values PostgreSQL compresses (those over
/// ~2 KB: a visit's record, a household change's data, a visit's export cells, the audit entry of
/// a push naming each visit it recorded). pglz was an eighth of PostgreSQL's CPU during ingest
/// with 200 devices (`perf record -a`, DESIGN.md §7's ingest budget); LZ4 compresses several
/// times faster for a little less saving. Values stored before keep their compression and read
/// as they are. A PostgreSQL built without LZ4 (`feature_not_supported`) or one before 14
/// (`syntax_error` from the deferred `EXECUTE`) keeps pglz and the step still counts as done: it
/// is an optimisation, never a reason not to start (after an upgrade to a PostgreSQL with LZ4,
/// the four `ALTER TABLE`s can be run by hand).
const POSTGRES_V14: &str = r#"
DO $$
BEGIN
    EXECUTE 'ALTER TABLE visits ALTER COLUMN record SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE changes ALTER COLUMN data SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE visit_exports ALTER COLUMN cells SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE audit ALTER COLUMN detail SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    NULL;
END
$$;
"#;

/// Step 14, SQLite: nothing (SQLite compresses no value itself); kept so both backends count the
/// same steps.
const SQLITE_V14: &str = "-- PostgreSQL only (value compression)\n";

/// Step 15, SQLite: no statement, a mark. From here `visits.record` may hold a record a push packed
/// (`verivali_domain::packed`: a zstd frame as a BLOB, ~0.35 KB where the text is ~2 KB), which
/// the SQLite backend unpacks on every read; a server before this step would read the frame as
/// text and fail on it, and now refuses the database instead ("schema 15 is newer"), after a
/// rollback or a restore onto an older install alike. The row sizes the comments of steps 10 and
/// 12 reason with (~3–4 KB) are those of text records; packed rows are a fifth of that, and the
/// covering indexes and the export's table stay right for both. A later step must not apply SQL's
/// JSON functions to `record` on SQLite: they cannot read a packed one.
const SQLITE_V15: &str = "-- visits.record may be packed from here (verivali_domain::packed)\n";

/// Step 15, PostgreSQL: nothing (records stayed text there until step 16).
const POSTGRES_V15: &str = "-- SQLite only (packed records)\n";

/// Step 16, PostgreSQL: `visits.record` becomes `bytea`, so a push can store its records packed
/// there too (`verivali_domain::packed`, a zstd frame with the visit dictionary, ~0.35 KB where
/// the text is ~2 KB), as SQLite has since step 15. Records stored before keep their text, as its
/// UTF-8 bytes; the backend reads a value that starts with zstd's magic number as a frame and any
/// other as text (JSON text never starts with that byte). The column keeps LZ4 for the text
/// records written outside a push; a packed frame does not compress further and stays inline.
/// The `ALTER … TYPE` rewrites the table once. After this step SQL on PostgreSQL must not read
/// `record` as JSON either (`record::jsonb`): only the server's reads unpack it.
const POSTGRES_V16: &str = r#"
DO $$
BEGIN
    -- One statement: the type change resets the column's compression, and the rewrite it makes
    -- then compresses the records already stored with LZ4, not the server's default.
    EXECUTE 'ALTER TABLE visits ALTER COLUMN record TYPE BYTEA USING convert_to(record, ''UTF8''),
             ALTER COLUMN record SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    ALTER TABLE visits ALTER COLUMN record TYPE BYTEA USING convert_to(record, 'UTF8');
END
$$;
"#;

/// Step 16, SQLite: nothing (records a push writes are packed there since step 15).
const SQLITE_V16: &str = "-- PostgreSQL only (visits.record as bytea)\n";

/// Step 17, PostgreSQL: the keys compare byte by byte (`COLLATE "C"`), as SQLite's do. Every
/// text column of the server's tables that is in an index or a foreign key (ids, area codes,
/// states, times as RFC 3339 text, hashes, NIKs, usernames) takes the "C" collation; the rest keep
/// the database's own. Under any other collation, libc's included (`C.UTF-8`, `en_US.UTF-8`),
/// each comparison in a b-tree insert, a look-up by a list of ids, or a sort of them goes through
/// `strcoll` on copies of both strings; a push of 100 visits makes thousands (seven indexes of
/// `visits`, the change feed, the claimed ops, the photos, the foreign keys' checks). 200-device
/// ingest on an `en_US.UTF-8` database rose by 1.25x (docs/benchmarks.md, fourteenth pass). Byte
/// order is also SQLite's: an `ORDER BY id` and a key cursor (`id > $1`) agree between the two
/// backends whatever the database was created with.
///
/// - Only the server's own tables, by name: another application's tables in the same schema are
///   not touched. A household's name and address, searched by `lower(…) LIKE`, keep the
///   database's collation even if an operator indexed them, so `lower` still folds their
///   non-ASCII letters.
/// - One `ALTER TABLE` per table, all its columns at once, so each index is rebuilt once.
///   Changing only a collation rewrites no table. Its statistics are gone with the old type,
///   so a table that had them is analysed again.
/// - A table an operator's view or rule depends on cannot change (`feature_not_supported`): it
///   keeps its collation, with a warning in PostgreSQL's log, and the server still starts
///   (correct, only slower; drop the view and run the `ALTER` by hand to finish).
/// - A column compared with one of the database's collation compares as "C" (PostgreSQL lets a
///   non-default collation win over the default one, never an error), so no query changes.
///
/// A later step that indexes a text column declares it `COLLATE "C"`:
/// `storage::a_postgres_database_compares_its_keys_byte_by_byte` fails on any that is not.
const POSTGRES_V17: &str = r#"
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname AS tbl, c.reltuples > 0 AS had_rows,
               string_agg(format('ALTER COLUMN %I TYPE text COLLATE "C"', a.attname), ', '
                          ORDER BY a.attnum) AS alters
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
          AND c.relkind = 'r'
          AND c.relname IN ('applied_ops', 'assignment_events', 'assignments', 'attachments',
              'audit', 'batches', 'changes', 'devices', 'household_versions', 'households',
              'members', 'musdes', 'periods', 'proposals', 'questionnaire_drafts',
              'questionnaires', 'regions', 'reviews', 'settings', 'tokens', 'users',
              'visit_exports', 'visit_photos', 'visits')
          AND NOT (c.relname = 'households' AND a.attname IN ('nama_krt', 'alamat'))
          AND a.attnum > 0 AND NOT a.attisdropped
          AND a.atttypid = 'text'::regtype
          AND a.attcollation <> '"C"'::regcollation
          AND (EXISTS (SELECT 1 FROM pg_index i
                       WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey))
               OR EXISTS (SELECT 1 FROM pg_constraint k
                          WHERE k.contype = 'f'
                            AND ((k.conrelid = c.oid AND a.attnum = ANY (k.conkey))
                              OR (k.confrelid = c.oid AND a.attnum = ANY (k.confkey)))))
        GROUP BY c.relname, c.reltuples
        ORDER BY c.relname
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I %s', t.tbl, t.alters);
            IF t.had_rows THEN
                EXECUTE format('ANALYZE %I', t.tbl);
            END IF;
        EXCEPTION WHEN feature_not_supported THEN
            RAISE WARNING 'verivali schema step 17: table % keeps its collation: %', t.tbl, SQLERRM;
        END;
    END LOOP;
END
$$;
"#;

/// Step 17, SQLite: nothing (SQLite compares text byte by byte unless told otherwise).
const SQLITE_V17: &str = "-- PostgreSQL only (keys compared byte by byte)\n";

/// Step 18, both backends: the review queue's order (highest risk first, then oldest) is the
/// order of `visits_state_risk` within a state, so a page of the queue is a range of the index
/// that stops at the page's size (`repo::review::by_risk`). With the risk ascending, neither
/// backend could read `risk DESC, id` from it, and every page of the supervisor's queue (two
/// states) read and sorted every visit of both. The index is built again in the upgrade's
/// transaction: on PostgreSQL writes to `visits` wait for it (seconds for a million visits).
const COMMON_V18: &str = r#"
DROP INDEX IF EXISTS visits_state_risk;
CREATE INDEX visits_state_risk ON visits (state, risk DESC, id);
"#;

pub fn sqlite_steps() -> Vec<String> {
    vec![
        format!("{COMMON_V1}{SQLITE_V1}{SQLITE_V1_TRIGGERS}"),
        format!("{COMMON_V2}{SQLITE_V2_TRIGGERS}"),
        COMMON_V3.to_string(),
        COMMON_V4.to_string(),
        COMMON_V5.to_string(),
        COMMON_V6.to_string(),
        COMMON_V7.to_string(),
        COMMON_V8.to_string(),
        COMMON_V9.to_string(),
        format!("{COMMON_V10}{SQLITE_V10_BACKFILL}"),
        COMMON_V11.to_string(),
        COMMON_V12.replace("{WITHOUT_ROWID}", " WITHOUT ROWID"),
        COMMON_V13.to_string(),
        SQLITE_V14.to_string(),
        SQLITE_V15.to_string(),
        SQLITE_V16.to_string(),
        SQLITE_V17.to_string(),
        COMMON_V18.to_string(),
    ]
}

/// PostgreSQL steps.
pub fn postgres_steps() -> Vec<String> {
    vec![
        format!("{COMMON_V1}{POSTGRES_V1}"),
        format!("{COMMON_V2}{POSTGRES_V2_TRIGGERS}"),
        COMMON_V3.to_string(),
        COMMON_V4.to_string(),
        COMMON_V5.to_string(),
        COMMON_V6.to_string(),
        COMMON_V7.to_string(),
        COMMON_V8.to_string(),
        COMMON_V9.to_string(),
        format!("{COMMON_V10}{POSTGRES_V10_BACKFILL}"),
        COMMON_V11.to_string(),
        COMMON_V12.replace("{WITHOUT_ROWID}", ""),
        COMMON_V13.to_string(),
        POSTGRES_V14.to_string(),
        POSTGRES_V15.to_string(),
        POSTGRES_V16.to_string(),
        POSTGRES_V17.to_string(),
        COMMON_V18.to_string(),
    ]
}

/// Migrates an SQLite database (`PRAGMA user_version` counts the applied steps).
pub fn migrate_sqlite(conn: &mut rusqlite::Connection) -> DbResult<()> {
    let steps = sqlite_steps();
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > steps.len() as i64 {
        return Err(DbError::Corrupt(format!(
            "database schema {current} is newer than this server"
        )));
    }
    for (i, step) in steps.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

/// Migrates a PostgreSQL database (table `schema_migrations` counts the applied steps; an
/// advisory lock keeps two starting servers from migrating at once).
pub fn migrate_postgres(client: &mut postgres::Client) -> DbResult<()> {
    let steps = postgres_steps();
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7452019);
         CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, at TEXT NOT NULL);",
    )?;
    let current: i64 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )?
        .get(0);
    if current > steps.len() as i64 {
        return Err(DbError::Corrupt(format!(
            "database schema {current} is newer than this server"
        )));
    }
    for (i, step) in steps.iter().enumerate().skip(current as usize) {
        tx.batch_execute(step)?;
        let v = (i + 1) as i64;
        tx.execute(
            "INSERT INTO schema_migrations (version, at) VALUES ($1, $2)",
            &[&v, &chrono::Utc::now().to_rfc3339()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A schema version means the same step on both backends (a step one of them does not need
    /// is an empty one there).
    #[test]
    fn both_backends_count_the_same_steps() {
        assert_eq!(super::sqlite_steps().len(), super::postgres_steps().len());
    }

    /// What makes a step such as 15 (packed records) protect an older server: a database at a
    /// step this build does not know is refused, untouched, rather than read.
    #[test]
    fn a_database_of_a_newer_server_is_refused_untouched() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::migrate_sqlite(&mut conn).unwrap();
        let newer = super::sqlite_steps().len() as i64 + 1;
        conn.pragma_update(None, "user_version", newer).unwrap();
        let err = super::migrate_sqlite(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer than this server"), "{err}");
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, newer);
    }
}
