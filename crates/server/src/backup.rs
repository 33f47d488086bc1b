//! Backup, restore and the move to PostgreSQL (DESIGN.md §13).
//!
//! - **`backup --output FILE`** takes a consistent snapshot of an SQLite server while it serves:
//!   `VACUUM INTO` copies the database inside one read transaction (WAL lets the server write on
//!   meanwhile), then the complete photos are added. Photos are content-addressed and never change
//!   once whole, so every photo the snapshot can refer to was already there; one that arrives
//!   during the copy is a harmless extra. The file is a tar: `server.db` and `attachments/SHA`.
//!   A PostgreSQL server is backed up with PostgreSQL's own tools (`pg_dump`).
//! - **`restore --input FILE`** unpacks a backup into an empty data folder and database path.
//! - **`migrate --to postgres://…`** copies an SQLite server's whole state into an empty
//!   PostgreSQL database (migrated to the same schema first), table by table in one transaction.
//!   The change feed keeps its sequence numbers and gets the transaction id
//!   [`MIGRATED_XID`], so a device that pulled from SQLite (cursor `N`) continues on PostgreSQL
//!   exactly after change `N` (see [`crate::repo::pull`]). Photos stay in the data folder.

use anyhow::{Context, bail, ensure};
use std::path::Path;

use crate::db::{Database, Dialect, Sql, Value};

/// The transaction id migrated changes carry on PostgreSQL: below any real one (ids 0–2 are
/// reserved by PostgreSQL), so every change written after the move sorts after them.
pub const MIGRATED_XID: i64 = 1;

/// Tables in an order that satisfies their foreign keys.
pub const TABLES: [&str; 24] = [
    "users",
    "devices",
    "tokens",
    "households",
    "household_versions",
    "members",
    "visits",
    "batches",
    "reviews",
    "applied_ops",
    "attachments",
    "questionnaires",
    "changes",
    "audit",
    "assignments",
    "assignment_events",
    "regions",
    "questionnaire_drafts",
    "visit_photos",
    "settings",
    "periods",
    "musdes",
    "proposals",
    // The approved visits' compact export cells (schema step 12): without them a migrated
    // server's export decodes every approved record again, the slow path DESIGN.md §7 budgets
    // against, until each visit is approved again or `export prepare` is run.
    "visit_exports",
];

/// The column a table is copied in order of, page by page: SQLite's `rowid`, or the primary key
/// of a `WITHOUT ROWID` table (which has no rowid).
fn page_key(table: &str) -> &'static str {
    match table {
        "visit_exports" => "visit_id",
        _ => "rowid",
    }
}

/// What a backup or migration copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Rows per table, in [`TABLES`] order.
    pub rows: Vec<(&'static str, u64)>,
    pub photos: u64,
    /// Rows (table, SQLite rowid, or the primary key of a table without one) whose NUL
    /// characters became U+FFFD on the way to PostgreSQL.
    pub scrubbed: Vec<(String, String)>,
}

fn sqlite_path(url: &str) -> anyhow::Result<&Path> {
    url.strip_prefix("sqlite://")
        .map(Path::new)
        .context("backup and restore are for SQLite servers; back up PostgreSQL with pg_dump")
}

/// Writes a backup of the SQLite server at `db_url` with the photos under `data_dir` to `output`
/// (written under a temporary name and renamed when complete).
pub fn backup(db_url: &str, data_dir: &Path, output: &Path) -> anyhow::Result<Copied> {
    let db = sqlite_path(db_url)?;
    ensure!(db.exists(), "{}: no database there", db.display());
    let work = tempfile::tempdir_in(
        output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    let snapshot = work.path().join("server.db");
    {
        let conn = rusqlite::Connection::open_with_flags(
            db,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute("VACUUM INTO ?1", [snapshot.to_string_lossy().as_ref()])
            .context("snapshot of the database")?;
    }
    let mut copied = Copied::default();
    {
        let conn = rusqlite::Connection::open(&snapshot)?;
        for t in TABLES {
            let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
            copied.rows.push((t, n as u64));
        }
    }
    let partial = output.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    tar.append_path_with_name(&snapshot, "server.db")?;
    let photos = data_dir.join("attachments");
    if photos.is_dir() {
        for entry in std::fs::read_dir(&photos)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let name = entry.file_name();
                tar.append_path_with_name(entry.path(), Path::new("attachments").join(&name))?;
                copied.photos += 1;
            }
        }
    }
    let mut inner = tar.into_inner()?;
    std::io::Write::flush(&mut inner)?;
    inner
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .sync_all()?;
    std::fs::rename(&partial, output)?;
    Ok(copied)
}

/// Unpacks a backup into the (new) SQLite database path of `db_url` and `data_dir`. Refuses to
/// overwrite an existing database.
pub fn restore(input: &Path, db_url: &str, data_dir: &Path) -> anyhow::Result<u64> {
    let db = sqlite_path(db_url)?;
    ensure!(
        !db.exists(),
        "{} exists: restore into a new database path (move the old one away first)",
        db.display()
    );
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let photos = data_dir.join("attachments");
    std::fs::create_dir_all(photos.join("partial"))?;
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut n_photos = 0;
    let mut had_db = false;
    for entry in archive.entries()? {
        let mut entry = entry?;
        // Regular files only: a link in a crafted archive could point anywhere.
        ensure!(
            entry.header().entry_type().is_file(),
            "unexpected {:?} entry in the backup",
            entry.header().entry_type()
        );
        let path = entry.path()?.into_owned();
        let name = path.to_string_lossy().to_string();
        if name == "server.db" {
            entry.unpack(db)?;
            had_db = true;
        } else if let Some(sha) = name.strip_prefix("attachments/") {
            // Only plain hex names: a crafted archive cannot write outside the folder.
            ensure!(
                !sha.is_empty() && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "unexpected file {name:?} in the backup"
            );
            entry.unpack(photos.join(sha))?;
            n_photos += 1;
        } else {
            bail!("unexpected file {name:?} in the backup");
        }
    }
    ensure!(had_db, "{}: no server.db in it", input.display());
    // Opening migrates a backup from an older version and proves the file is a database.
    crate::db::open(db_url).context("the restored database does not open")?;
    Ok(n_photos)
}

/// Copies every row of the SQLite server `from` into the empty PostgreSQL database `to`.
pub fn migrate(from: &dyn Database, to: &dyn Database) -> anyhow::Result<Copied> {
    ensure!(
        from.dialect() == Dialect::Sqlite && to.dialect() == Dialect::Postgres,
        "migrate copies an SQLite server into PostgreSQL"
    );
    let mut src = from.read()?;
    let mut dst = to.write()?;
    for t in TABLES {
        let n = dst.query_opt(&format!("SELECT count(*) FROM {t}"), &[])?;
        ensure!(
            n.map_or(0, |r| r.i64(0)) == 0,
            "the target database is not empty (table {t} has rows): migrate into a new database"
        );
    }
    let mut copied = Copied::default();
    for t in TABLES {
        let n = copy_table(src.as_mut(), dst.as_mut(), t, &mut copied.scrubbed)?;
        copied.rows.push((t, n));
    }
    // Sequences go on after the copied numbers.
    for t in ["changes", "audit"] {
        dst.query(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{t}', 'seq'), greatest((SELECT max(seq) FROM {t}), 1))"
            ),
            &[],
        )?;
    }
    dst.commit()?;
    Ok(copied)
}

/// Rows per INSERT: a few hundred, and never more than PostgreSQL's 65,535 parameters.
fn rows_per_insert(columns: usize) -> usize {
    (60_000 / columns.max(1)).clamp(1, 500)
}

fn copy_table(
    src: &mut dyn Sql,
    dst: &mut dyn Sql,
    table: &str,
    scrubbed: &mut Vec<(String, String)>,
) -> anyhow::Result<u64> {
    let columns: Vec<String> = src
        .query(
            &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            &[],
        )?
        .iter()
        .map(|r| r.text(0))
        .collect();
    ensure!(
        !columns.is_empty(),
        "table {table} is missing in the source"
    );
    let key = page_key(table);
    let select = format!(
        "SELECT {key}, {} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT 5000",
        columns.join(", ")
    );
    let mut target_cols = columns.clone();
    if table == "changes" {
        target_cols.push("xid".into());
    }
    // Visit records go in packed, as a push stores them (schema step 16): a moved server's
    // records take a sixth of the space and read the same.
    let record_col = (table == "visits")
        .then(|| columns.iter().position(|c| c == "record"))
        .flatten();
    let per = rows_per_insert(target_cols.len());
    // Below every key: rowids are integers, the text keys are ids (any text sorts after '').
    let mut last = if key == "rowid" {
        Value::I64(i64::MIN)
    } else {
        Value::Text(String::new())
    };
    let mut total = 0u64;
    loop {
        let page = src.query(&select, &[last])?;
        let Some(end) = page.last() else { break };
        last = end.0[0].clone();
        for chunk in page.chunks(per) {
            let mut params = Vec::with_capacity(chunk.len() * target_cols.len());
            let mut tuples = Vec::with_capacity(chunk.len());
            for row in chunk {
                let start = params.len();
                for (i, v) in row.0.iter().skip(1).enumerate() {
                    params.push(match v {
                        // PostgreSQL cannot store NUL, which servers before the text rule
                        // accepted; it becomes U+FFFD and the row is reported.
                        Value::Text(t) if t.contains('\0') => {
                            scrubbed.push((table.to_string(), row.text(0)));
                            Value::Text(t.replace('\0', "\u{FFFD}"))
                        }
                        Value::Text(t) if Some(i) == record_col => verivali_domain::packed::pack(t)
                            .map_or_else(|_| v.clone(), Value::Packed),
                        other => other.clone(),
                    });
                }
                if table == "changes" {
                    params.push(Value::Text(MIGRATED_XID.to_string()));
                }
                let marks: Vec<String> = (start + 1..=params.len())
                    .zip(target_cols.iter())
                    .map(|(i, c)| {
                        if c == "xid" {
                            format!("${i}::text::xid8")
                        } else {
                            format!("${i}")
                        }
                    })
                    .collect();
                tuples.push(format!("({})", marks.join(", ")));
            }
            dst.execute(
                &format!(
                    "INSERT INTO {table} ({}) VALUES {}",
                    target_cols.join(", "),
                    tuples.join(", ")
                ),
                &params,
            )?;
            total += chunk.len() as u64;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_backup_with_a_link_in_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jahat.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&file).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, "attachments/ab", "/etc/passwd")
            .unwrap();
        tar.finish().unwrap();
        drop(tar);
        let db = format!("sqlite://{}", dir.path().join("new.db").display());
        let e = super::restore(&file, &db, &dir.path().join("data")).unwrap_err();
        assert!(e.to_string().contains("unexpected"), "{e}");
        assert!(!dir.path().join("data/attachments/ab").exists());
    }

    #[test]
    fn inserts_stay_under_the_parameter_limit() {
        for cols in [1, 9, 14, 200] {
            assert!(super::rows_per_insert(cols) * cols <= 65_535);
            assert!(super::rows_per_insert(cols) >= 1);
        }
    }
}
