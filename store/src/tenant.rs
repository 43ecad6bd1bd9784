//! Tenant ids: every read and write carries one, and each tenant has its own directories.

use std::fmt;

use crate::error::{Error, Result};

/// A validated tenant id. Only characters that are safe as a directory name are allowed,
/// so a tenant can never reach another tenant's files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

pub const DEFAULT_TENANT: &str = "default";
const MAX_LEN: usize = 150;

impl TenantId {
    pub fn new(id: &str) -> Result<Self> {
        if id.is_empty() || id.len() > MAX_LEN {
            return Err(Error::BadInput(format!(
                "tenant id {id:?} is invalid: it must be 1 to {MAX_LEN} characters"
            )));
        }
        if id == "." || id == ".." {
            return Err(Error::BadInput(format!("tenant id {id:?} is invalid")));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Error::BadInput(format!(
                "tenant id {id:?} is invalid: use only letters, digits, '-', '_' and '.'"
            )));
        }
        Ok(TenantId(id.to_string()))
    }

    /// The tenant of a request: `default` unless multi-tenancy is on, then the
    /// `X-Scope-OrgID` header's value, which must be present.
    pub fn from_request(multi_tenant: bool, org_id_header: Option<&str>) -> Result<Self> {
        if !multi_tenant {
            return Ok(Self::default_tenant());
        }
        match org_id_header.map(str::trim) {
            None | Some("") => Err(Error::BadInput(
                "no tenant: multi-tenancy is on, so every request needs an X-Scope-OrgID header"
                    .into(),
            )),
            Some(id) => TenantId::new(id),
        }
    }

    pub fn default_tenant() -> Self {
        TenantId(DEFAULT_TENANT.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_tricks() {
        for bad in ["", "..", ".", "a/b", "a\\b", "x y"] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
        assert!(TenantId::new("team-a_1.prod").is_ok());
    }
}
