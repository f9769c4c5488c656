//! Authorization of the RPCs by the served revision's `config/rbac.yaml`: a check that
//! answers PERMISSION_DENIED with the denial's one line, and a read filter for lists and
//! streams. Like kubectl, a list or a Watch without filters shows what the caller may read
//! instead of failing; a caller who may read nothing at all is refused.

use std::sync::Arc;

use datakit::manifest::Action;
use tonic::{Code, Status};

use super::errors::answer;
use crate::{
    auth::{Principal, allow},
    promotion::EnvironmentCatalog,
};

/// Decides with the policy in force at the time of each question.
#[derive(Debug, Clone)]
pub struct Access {
    catalog: Arc<EnvironmentCatalog>,
}

impl Access {
    pub fn new(catalog: Arc<EnvironmentCatalog>) -> Self {
        Self { catalog }
    }

    fn decide(
        &self,
        principal: &Principal,
        action: Action,
        environment: Option<&str>,
        package: Option<&str>,
    ) -> Result<(), crate::auth::Denial> {
        if principal.is_local() {
            return Ok(());
        }
        let config = self.catalog.snapshot().current;
        let policy = config.as_ref().and_then(|config| config.rbac.as_ref());
        allow(policy, principal, action, environment, package)
    }

    /// Ok if `principal` may take `action` (in `environment`, on `package`: `None` for
    /// "some"); PERMISSION_DENIED naming who, what and the role that would allow it.
    pub fn check(
        &self,
        principal: &Principal,
        action: Action,
        environment: Option<&str>,
        package: Option<&str>,
    ) -> Result<(), Status> {
        self.decide(principal, action, environment, package)
            .map_err(|denial| {
                tracing::info!(principal = %principal.name, %action, ?environment, ?package, "denied");
                answer(Code::PermissionDenied, &denial.to_string())
            })
    }

    /// Whether `principal` may take `action` in `environment` on `package`, without
    /// logging a denial (for filters such as "what could I approve").
    pub fn allows(
        &self,
        principal: &Principal,
        action: Action,
        environment: &str,
        package: &str,
    ) -> bool {
        self.decide(principal, action, Some(environment), Some(package))
            .is_ok()
    }

    /// The read filter of `principal`'s lists and streams.
    pub fn reader(&self, principal: Principal) -> Reader {
        Reader {
            access: self.clone(),
            principal,
        }
    }
}

/// What one caller may read, asked per row or event.
#[derive(Debug, Clone)]
pub struct Reader {
    access: Access,
    principal: Principal,
}

impl Reader {
    /// Whether the caller may read `package` in `environment`.
    pub fn may_read(&self, environment: &str, package: &str) -> bool {
        self.access
            .decide(
                &self.principal,
                Action::Read,
                Some(environment),
                Some(package),
            )
            .is_ok()
    }

    /// Whether the caller may read some package in `environment` (and so the environment).
    pub fn may_read_environment(&self, environment: &str) -> bool {
        self.access
            .decide(&self.principal, Action::Read, Some(environment), None)
            .is_ok()
    }
}
