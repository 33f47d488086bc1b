//! Admin jobs shared by the CLI and the API: users and device revocation.

use uuid::Uuid;
use verivali_domain::{Areas, RegionCode, Role};

use crate::app::{App, Caller};
use crate::error::{ApiError, Refusal};
use crate::repo::{self, Audit, UserRow};

impl App {
    /// Creates a user (the CLI's `user add`).
    pub fn add_user(
        &self,
        username: &str,
        display_name: &str,
        role: Role,
        areas: &[String],
        password: &str,
    ) -> anyhow::Result<Uuid> {
        anyhow::ensure!(
            !username.trim().is_empty() && username.len() <= crate::auth::MAX_USERNAME,
            "username must be 1-64 characters"
        );
        anyhow::ensure!(
            password.chars().count() >= 10,
            "password must be at least 10 characters"
        );
        anyhow::ensure!(!areas.is_empty(), "at least one --area is required");
        let codes = areas
            .iter()
            .map(|a| RegionCode::parse(a).map_err(|e| anyhow::anyhow!("--area {a}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let user = UserRow {
            id: Uuid::now_v7(),
            username: username.trim().to_string(),
            display_name: display_name.to_string(),
            role,
            areas: Areas::new(codes),
            password_hash: crate::auth::hash_password(password)?,
            disabled: false,
        };
        let now = self.now();
        let mut tx = self.db.write()?;
        match repo::insert_user(tx.as_mut(), &user, now) {
            Err(crate::db::DbError::Duplicate) => anyhow::bail!("username {username:?} is taken"),
            r => r?,
        }
        repo::audit(
            tx.as_mut(),
            &Audit {
                action: "user.add",
                entity_kind: Some("user"),
                entity_id: Some(user.id.to_string()),
                detail: Some(format!("{} {}", user.username, role.as_str())),
                ..Default::default()
            },
            now,
        )?;
        tx.commit()?;
        Ok(user.id)
    }

    /// Revokes a device: its tokens stop working at once and it cannot sign in again.
    /// From the API only an admin may do it (`caller` is `None` for the CLI).
    pub fn revoke_device(&self, caller: Option<&Caller>, device: Uuid) -> Result<(), ApiError> {
        let lang = caller.map_or(verivali_domain::Lang::En, |c| c.lang);
        if caller.is_some_and(|c| c.user.role != Role::Admin) {
            return Err(ApiError::forbidden(lang));
        }
        let now = self.now();
        let mut tx = self.db.write()?;
        if !repo::revoke_device(tx.as_mut(), device, now)? {
            return Err(ApiError::new(
                Refusal::NotFound,
                "device.not_found",
                "No such device",
                lang,
                "Perangkat tidak ditemukan",
                "No such device",
            ));
        }
        repo::audit(
            tx.as_mut(),
            &Audit {
                user_id: caller.map(|c| c.user.id),
                username: caller.map(|c| c.user.username.as_str()),
                address: caller.map(|c| c.address.as_str()),
                action: "device.revoke",
                entity_kind: Some("device"),
                entity_id: Some(device.to_string()),
                ..Default::default()
            },
            now,
        )?;
        tx.commit()?;
        Ok(())
    }
}
