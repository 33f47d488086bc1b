//! Region names (DESIGN.md §10): an admin imports the Kemendagri `kode,nama` file, every signed-in
//! user reads the names of their areas (and of the regions above them), so pages and the field
//! app say "Desa Sukamaju (3308012001)" instead of a bare code. The rules of a row are
//! [`verivali_domain::region::region_name`].

use verivali_domain::region::region_name;
use verivali_domain::{Coded, Role};
use verivali_protocol::admin::{LineProblem, RegionImport, RegionList, RegionName};

use crate::app::{App, Caller};
use crate::db::Sql;
use crate::error::ApiError;
use crate::repo::{self, Written};

/// The region names of the demo (synthetic; a kabupaten's operator imports the Kemendagri file).
pub const DEMO_REGIONS: &str = include_str!("../demo/wilayah-contoh.csv");

impl App {
    /// `POST /api/v1/admin/regions`: a CSV `kode,nama` (header optional; BOM, CRLF and quoted
    /// cells are fine). One transaction; importing the same file again changes nothing.
    pub fn import_regions(
        &self,
        caller: &Caller,
        csv_bytes: &[u8],
    ) -> Result<RegionImport, ApiError> {
        let lang = caller.lang;
        if caller.user.role != Role::Admin {
            return Err(ApiError::forbidden(lang));
        }
        let text = std::str::from_utf8(csv_bytes)
            .map_err(|_| ApiError::bad_request(lang, "the file is not UTF-8 text"))?;
        let text = text.trim_start_matches('\u{feff}');
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        let mut answer = RegionImport {
            imported: 0,
            unchanged: 0,
            outside: 0,
            rejected: vec![],
        };
        for (i, rec) in reader.records().enumerate() {
            // As a spreadsheet numbers rows (a line break in a quoted cell starts none).
            let line = i as u64 + 1;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    answer.rejected.push(LineProblem {
                        line,
                        code: "import.csv".into(),
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            let (code, name) = (rec.get(0).unwrap_or(""), rec.get(1).unwrap_or(""));
            if i == 0 && code.trim().eq_ignore_ascii_case("kode") {
                continue;
            }
            match region_name(code, name) {
                Ok((c, _)) if !caller.user.areas.names(&c) => answer.outside += 1,
                Ok(row) => rows.push(row),
                Err(e) => answer.rejected.push(LineProblem {
                    line,
                    code: e.code().into(),
                    message: e.message(lang),
                }),
            }
        }
        let now = self.now();
        let (imported, unchanged) = self.run_write(|tx: &mut dyn Sql| {
            let (mut new, mut same) = (0, 0);
            for (code, name) in &rows {
                match repo::put_region(tx, code, name, now)? {
                    Written::Unchanged => same += 1,
                    Written::New | Written::Changed => new += 1,
                }
            }
            let audit = repo::Audit {
                detail: Some(format!("{new} names written, {same} unchanged")),
                ..caller.audit("regions.import")
            };
            repo::audit(tx, &audit, now)?;
            Ok(Ok((new, same)))
        })?;
        answer.imported = imported;
        answer.unchanged = unchanged;
        Ok(answer)
    }

    /// `GET /api/v1/regions`: the names a user's pages show.
    pub fn regions(&self, caller: &Caller) -> Result<RegionList, ApiError> {
        let mut tx = self.db.read()?;
        let regions = repo::regions_scoped(tx.as_mut(), &caller.user.scope())?
            .into_iter()
            .map(|(kode, nama)| RegionName { kode, nama })
            .collect();
        Ok(RegionList { regions })
    }
}
