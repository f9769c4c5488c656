//! `WhoAmI`: the caller as authenticated, and what the policy in force lets them do in each
//! environment of the promotion path.

use datakit::{manifest::Action, proto};

use crate::{
    auth::{Principal, allow, grants},
    promotion::LoadedConfig,
};

/// The answer for `caller` under `config` (none served yet: no environments, no policy).
pub fn answer(caller: &Principal, config: Option<&LoadedConfig>) -> proto::WhoAmIResponse {
    let policy = config.and_then(|config| config.rbac.as_ref());
    let environments = config
        .map(|config| config.environments.names())
        .unwrap_or_default()
        .into_iter()
        .map(|environment| proto::EnvironmentAccess {
            environment: environment.to_owned(),
            grants: grants(policy, caller, environment)
                .into_iter()
                .map(|(action, packages)| proto::ActionGrant {
                    action: action.to_string(),
                    packages,
                })
                .collect(),
        })
        .collect();
    proto::WhoAmIResponse {
        name: caller.name.clone(),
        groups: caller.groups.clone(),
        authenticated_by: caller.method.key().to_owned(),
        admin: allow(policy, caller, Action::Admin, None, None).is_ok(),
        environments,
        revision: config
            .map(|config| config.revision.clone())
            .unwrap_or_default(),
        has_policy: policy.is_some(),
    }
}
