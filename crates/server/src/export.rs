//! Exports of reviewed visits (DESIGN.md §5–6) as CSV or XLSX, for the API
//! (`GET /api/v1/export/visits.csv|.xlsx`) and the CLI (`export visits`). The columns come from
//! [`verivali_domain::export`]. The walk reads pages of 2,000 visits in id order on one read
//! snapshot in a second thread while this one formats, so memory stays bounded whatever the
//! size; CSV streams as it is written, XLSX is built in constant-memory mode in a temporary file
//! (at most 1,048,575 rows, the sheet's limit) and then streamed.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Response, header};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use verivali_domain::export::{ExportContext, ExportLayout, ExportRecord};
use verivali_domain::{Areas, Lang, RegionCode, Role, VisitState};

use crate::app::{App, Caller};
use crate::error::{ApiError, Refusal};

use crate::repo::{self, ExportRow, Scope};

/// Visits per page of the walk.
const PAGE: usize = 2_000;
/// Data rows an XLSX sheet can hold (one row is the header).
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated, UTF-8, header row.
    Csv,
    /// Excel workbook, one sheet.
    Xlsx,
}

impl ExportFormat {
    /// From `csv` / `xlsx`.
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s {
            "csv" => Some(ExportFormat::Csv),
            "xlsx" => Some(ExportFormat::Xlsx),
            _ => None,
        }
    }

    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }

    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Visits in this state (approved unless asked otherwise).
    pub state: VisitState,
    /// Whose areas (the caller's, or everything for the CLI), already narrowed by `area`.
    pub scope: Scope,
}

/// Export failures.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// Writing the output failed (disk full, client gone).
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
    /// The spreadsheet library failed.
    #[error("xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// More rows than one sheet holds.
    #[error("more than {XLSX_MAX_ROWS} rows do not fit one XLSX sheet; export CSV instead")]
    TooManyRows,
    /// A stored record could not be read.
    #[error("visit {0}: stored record unreadable: {1}")]
    Record(String, String),
}

impl ExportError {
    /// The answer for the API.
    pub fn api(&self, lang: Lang) -> ApiError {
        match self {
            ExportError::TooManyRows => ApiError::new(
                Refusal::Unprocessable,
                "export.too_many_rows",
                "Too many rows",
                lang,
                "Terlalu banyak baris untuk satu lembar XLSX; ekspor CSV, atau pilih wilayah yang lebih kecil",
                "Too many rows for one XLSX sheet; export CSV, or choose a smaller area",
            ),
            e => ApiError::internal(e),
        }
    }
}

/// Every province: the scope of the CLI, which runs with the machine's authority.
pub fn everything() -> Scope {
    let codes = verivali_domain::region::PROVINCE_CODES
        .iter()
        .filter_map(|c| RegionCode::parse(c).ok());
    Scope {
        user_id: uuid::Uuid::nil(),
        role: Role::Admin,
        areas: Areas::new(codes),
    }
}

/// Keeps an approved visit's export cells in compact form (DESIGN.md §7: the export reads them
/// instead of decoding a million records). Called in the approval's transaction; a record whose
/// cells cannot be kept compactly is simply decoded at export time.
pub(crate) fn keep_export_cells(
    tx: &mut dyn crate::db::Sql,
    record: &verivali_domain::VisitRecord,
    flag_codes: &str,
) -> crate::db::DbResult<()> {
    let Some(q) = repo::active_questionnaire(tx)? else {
        return Ok(());
    };
    let layout = ExportLayout::new(&q);
    let json =
        serde_json::to_string(record).map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?;
    let lite =
        ExportRecord::parse(&json).map_err(|e| crate::db::DbError::Corrupt(e.to_string()))?;
    if let Some(cells) = layout.compact(&lite) {
        repo::save_export_cells(
            tx,
            &record.visit_id.to_string(),
            i64::from(record.revision),
            &layout.key(),
            &cells,
            flag_codes,
        )?;
    }
    Ok(())
}

impl App {
    /// Walks the visits of an export, calling `row` for each (header first); returns the count.
    pub fn export_walk(
        &self,
        req: &ExportRequest,
        row: &mut dyn FnMut(&[&str]) -> Result<(), ExportError>,
    ) -> Result<u64, ExportError> {
        let layout = {
            let mut tx = self.db.read()?;
            let q = repo::active_questionnaire(tx.as_mut())?
                .ok_or_else(|| crate::db::DbError::Corrupt("no questionnaire".into()))?;
            ExportLayout::new(&q)
        };
        let key = layout.key();
        let header = layout.header();
        row(&header.iter().map(String::as_str).collect::<Vec<_>>())?;
        let (send, recv) = std::sync::mpsc::sync_channel::<Result<Vec<ExportRow>, ExportError>>(2);
        std::thread::scope(|s| {
            // The reader: one snapshot, page after page, until the writer hangs up or all is read.
            s.spawn(move || {
                let mut tx = match self.db.read() {
                    Ok(tx) => tx,
                    Err(e) => {
                        let _ = send.send(Err(e.into()));
                        return;
                    }
                };
                let mut after = String::new();
                loop {
                    let page =
                        repo::export_page(tx.as_mut(), &req.scope, req.state, &key, &after, PAGE);
                    let (last, full) = match &page {
                        Ok(p) => (p.last().map(|r| r.id.clone()), p.len() == PAGE),
                        Err(_) => (None, false),
                    };
                    if send.send(page.map_err(ExportError::from)).is_err() {
                        return;
                    }
                    match (full, last) {
                        (true, Some(l)) => after = l,
                        _ => return,
                    }
                }
            });
            let mut n = 0u64;
            for page in recv {
                for r in page? {
                    let (reviewer, approved_at) = match r.approval.as_deref() {
                        Some(a) => match a.split_once('|') {
                            Some((who, at)) => (Some(who), Some(at)),
                            None => (Some(a), None),
                        },
                        None => (None, None),
                    };
                    // Most visits are clean: skip decoding their empty list.
                    let flags = match r.flag_codes {
                        Some(f) => f,
                        None if r.flags.len() <= 2 => String::new(),
                        None => crate::quality::codes(&r.flags).join(" "),
                    };
                    let ctx = ExportContext {
                        id_dtsen: r.id_dtsen.as_deref(),
                        kode_desa: &r.kode_desa,
                        enumerator: &r.enumerator,
                        reviewer,
                        approved_at,
                        flags: &flags,
                    };
                    // Compact cells where approval wrote them; else the record, decoded.
                    let decoded;
                    let cells: Vec<&str> = match (&r.cells, &r.record) {
                        (Some(c), _) => layout.split_compact(c).ok_or_else(|| {
                            ExportError::Record(r.id.clone(), "compact cells".into())
                        })?,
                        (None, Some(json)) => {
                            let rec = ExportRecord::parse(json)
                                .map_err(|e| ExportError::Record(r.id.clone(), e.to_string()))?;
                            decoded = layout.record_cells(&rec);
                            decoded.iter().map(String::as_str).collect()
                        }
                        (None, None) => {
                            return Err(ExportError::Record(r.id.clone(), "no record".into()));
                        }
                    };
                    row(&layout.assemble(&cells, &ctx))?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Writes the compact export cells of approved and verified visits that lack them under the
    /// active layout (visits approved before they existed, or before a new questionnaire was
    /// published), `PAGE` visits per transaction; returns how many. `export prepare` on the
    /// command line; exports are correct without it, only slower for those visits.
    pub fn prepare_export_cells(&self) -> Result<u64, ExportError> {
        let layout = {
            let mut tx = self.db.read()?;
            match repo::active_questionnaire(tx.as_mut())? {
                Some(q) => ExportLayout::new(&q),
                None => return Ok(0),
            }
        };
        let key = layout.key();
        let mut after = String::new();
        let mut n = 0u64;
        loop {
            let page = {
                let mut tx = self.db.read()?;
                repo::export_cells_missing(tx.as_mut(), &key, &after, PAGE)?
            };
            let Some(last) = page.last().map(|(id, ..)| id.clone()) else {
                return Ok(n);
            };
            let mut cells = Vec::with_capacity(page.len());
            for (id, revision, json, flags) in &page {
                let rec = ExportRecord::parse(json)
                    .map_err(|e| ExportError::Record(id.clone(), e.to_string()))?;
                if let Some(c) = layout.compact(&rec) {
                    let codes = crate::quality::codes(flags).join(" ");
                    cells.push((id.as_str(), *revision, c, codes));
                }
            }
            // A record that changed since it was read keeps its own revision's cells only.
            self.db.write_job(&mut |tx: &mut dyn crate::db::Sql| {
                for (id, revision, c, codes) in &cells {
                    repo::save_export_cells(tx, id, *revision, &key, c, codes)?;
                }
                Ok(())
            })?;
            n += cells.len() as u64;
            after = last;
        }
    }

    /// Writes a CSV export to `out`; returns the number of visits.
    pub fn export_csv(&self, req: &ExportRequest, out: impl Write) -> Result<u64, ExportError> {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::with_capacity(256 * 1024, out));
        let n = self.export_walk(req, &mut |cells| {
            let io = |e: csv::Error| ExportError::Io(std::io::Error::other(e));
            // Field by field, so a neutralised cell costs an allocation only when it is risky.
            for c in cells {
                w.write_field(verivali_domain::export::csv_safe(c).as_bytes())
                    .map_err(io)?;
            }
            w.write_record(None::<&[u8]>).map_err(io)
        })?;
        w.flush()?;
        Ok(n)
    }

    /// Writes an XLSX export to `path` (constant memory; temporary files next to it).
    pub fn export_xlsx(&self, req: &ExportRequest, path: &Path) -> Result<u64, ExportError> {
        let mut book = rust_xlsxwriter::Workbook::new();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            book.set_tempdir(dir)?;
        }
        let sheet = book.add_worksheet_with_constant_memory()?;
        sheet.set_name("kunjungan")?;
        let mut r: u32 = 0;
        let n = self.export_walk(req, &mut |cells| {
            if u64::from(r) > XLSX_MAX_ROWS {
                return Err(ExportError::TooManyRows);
            }
            for (c, v) in cells.iter().enumerate() {
                if !v.is_empty() {
                    sheet.write_string(r, c as u16, *v)?;
                }
            }
            r += 1;
            Ok(())
        })?;
        book.save(path)?;
        Ok(n)
    }

    /// Writes an export to a file: to a temporary name first, renamed when complete, so a
    /// failed export never leaves a file that looks whole.
    pub fn export_to_file(
        &self,
        req: &ExportRequest,
        format: ExportFormat,
        path: &Path,
    ) -> Result<u64, ExportError> {
        let tmp = path.with_extension(format!("{}.partial", format.ext()));
        let n = match format {
            ExportFormat::Csv => {
                let f = std::fs::File::create(&tmp)?;
                let n = self.export_csv(req, &f)?;
                f.sync_all()?;
                n
            }
            ExportFormat::Xlsx => self.export_xlsx(req, &tmp)?,
        };
        std::fs::rename(&tmp, path)?;
        Ok(n)
    }

    /// The CLI's `export visits`: everything (or one area) with the machine's authority; audited.
    pub fn export_visits_cli(
        &self,
        state: &str,
        area: Option<&str>,
        format: &str,
        output: &Path,
    ) -> anyhow::Result<u64> {
        let state =
            VisitState::parse(state).ok_or_else(|| anyhow::anyhow!("unknown --state {state}"))?;
        let format = ExportFormat::parse(format)
            .ok_or_else(|| anyhow::anyhow!("--format must be csv or xlsx"))?;
        let mut scope = everything();
        if let Some(a) = area {
            let code = RegionCode::parse(a).map_err(|e| anyhow::anyhow!("--area {a}: {e}"))?;
            scope = scope.narrow(&code);
        }
        let n = self.export_to_file(&ExportRequest { state, scope }, format, output)?;
        let now = self.now();
        self.db.write_job(&mut |tx: &mut dyn crate::db::Sql| {
            repo::audit(
                tx,
                &repo::Audit {
                    action: "export.visits",
                    detail: Some(format!(
                        "cli: {n} visits; format={} state={} area={} file={}",
                        format.ext(),
                        state.as_str(),
                        area.unwrap_or("*"),
                        output.display()
                    )),
                    ..Default::default()
                },
                now,
            )
        })?;
        Ok(n)
    }

    /// Checks an API export request: reviewers only, inside their areas; audits it.
    pub fn export_request(
        &self,
        caller: &Caller,
        state: Option<&str>,
        area: Option<&str>,
        format: ExportFormat,
    ) -> Result<ExportRequest, ApiError> {
        Self::reviewer(caller)?;
        let state_name = state.unwrap_or("approved");
        let state = VisitState::parse(state_name)
            .ok_or_else(|| crate::review::bad_filter(caller.lang, "state", state_name))?;
        let scope = Self::review_scope(caller, area)?;
        self.audit_read(
            caller,
            "export.visits",
            None,
            format!(
                "format={} state={} area={}",
                format.ext(),
                state.as_str(),
                area.unwrap_or("*")
            ),
        )?;
        Ok(ExportRequest { state, scope })
    }
}

/// `GET /api/v1/export/visits.csv|visits.xlsx?state=approved&area=CODE`, streamed: the rows are
/// written on a blocking thread into a channel of 64 KiB chunks, so memory stays flat however
/// many visits there are. An error after the first byte ends the body with an error, so the
/// download fails visibly instead of looking complete.
pub async fn download(
    app: Arc<App>,
    caller: Caller,
    file: &str,
    q: crate::http::AreaParams,
) -> Result<Response<Body>, ApiError> {
    let format = match file {
        "visits.csv" => ExportFormat::Csv,
        "visits.xlsx" => ExportFormat::Xlsx,
        _ => return Err(ApiError::not_found(caller.lang)),
    };
    let app2 = app.clone();
    let req = crate::http::blocking(move || {
        app2.export_request(&caller, q.state.as_deref(), q.area.as_deref(), format)
    })
    .await?;
    let stamp = app.now().format("%Y%m%d-%H%M");
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx.clone());
        let done = match format {
            ExportFormat::Csv => app.export_csv(&req, &mut out).map(|_| ()),
            ExportFormat::Xlsx => xlsx_into(&app, &req, &mut out),
        };
        if let Err(e) = done {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    // poll_fn keeps answering `None` once the channel is done (compression polls again).
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let name = format!(
        "attachment; filename=\"kunjungan-{stamp}.{}\"",
        format.ext()
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// The workbook is built in a temporary file (the XLSX writer needs to seek), then copied out.
fn xlsx_into(app: &App, req: &ExportRequest, out: &mut ChannelWriter) -> Result<(), ExportError> {
    let dir = tempfile::tempdir_in(&app.attachments_dir)?;
    let path = dir.path().join("export.xlsx");
    app.export_xlsx(req, &path)?;
    let mut f = std::fs::File::open(&path)?;
    std::io::copy(&mut f, out)?;
    out.flush()?;
    Ok(())
}

/// A blocking writer that hands 64 KiB chunks to the response body.
struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for chunk in buf.chunks(64 * 1024) {
            self.0
                .blocking_send(Ok(Bytes::copy_from_slice(chunk)))
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
