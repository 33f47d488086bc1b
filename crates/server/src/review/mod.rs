//! The reviewers' side of the server (supervisors and admins; enumerators get 403 on all of it):
//! [`reads`] are the queue, one visit, batches, progress and photos; [`decisions`] are approving,
//! rejecting and bulk-approving. Everything is limited to the caller's areas (narrowed further by
//! `area=`), and every read of personal data is audited.

use verivali_domain::{Lang, RegionCode, Role};

use crate::app::{App, Caller};
use crate::db::Sql;
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, Scope};

pub mod decisions;
pub mod reads;

pub(crate) fn bad_filter(lang: Lang, what: &str, value: &str) -> ApiError {
    ApiError::new(
        Refusal::BadRequest,
        "review.bad_filter",
        "Bad filter",
        lang,
        &format!("Saringan {what} tidak dikenal: {value}"),
        &format!("Unknown {what} filter: {value}"),
    )
}

impl App {
    /// 403 unless the caller reads the review (supervisor, admin, or the verifikator who
    /// confirms what supervisors approved; what each may decide is the state machine's).
    pub(crate) fn reviewer(caller: &Caller) -> Result<(), ApiError> {
        match caller.user.role {
            Role::Supervisor | Role::Admin | Role::Verifier => Ok(()),
            Role::Enumerator | Role::Operator => Err(ApiError::forbidden(caller.lang)),
        }
    }

    /// The caller's scope, narrowed by an `area=` filter.
    pub(crate) fn review_scope(caller: &Caller, area: Option<&str>) -> Result<Scope, ApiError> {
        let scope = caller.user.scope();
        match area.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(scope),
            Some(a) => {
                let code = RegionCode::parse(a).map_err(|_| bad_filter(caller.lang, "area", a))?;
                Ok(scope.narrow(&code))
            }
        }
    }

    /// Appends one audit entry for a read (its own small write job, committed with others).
    pub(crate) fn audit_read(
        &self,
        caller: &Caller,
        action: &str,
        entity: Option<(&str, String)>,
        detail: String,
    ) -> Result<(), ApiError> {
        let now = self.now();
        let (kind, id) = entity.map_or((None, None), |(k, i)| (Some(k), Some(i)));
        self.db.write_job(&mut |tx: &mut dyn Sql| {
            repo::audit(
                tx,
                &Audit {
                    entity_kind: kind,
                    entity_id: id.clone(),
                    detail: Some(detail.clone()),
                    ..caller.audit(action)
                },
                now,
            )
        })?;
        Ok(())
    }
}
