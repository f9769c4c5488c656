//! `DataKitService`: each RPC delegates to the domain.

use std::{pin::Pin, sync::Arc};

use datakit::proto::{self, data_kit_service_server::DataKitService};
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};

use datakit::manifest::Action;

use super::{
    access::Access,
    audit::Recorder,
    audit_events, cached_row, convert,
    encoded::Encoded,
    errors::{answer, status},
    identity::{self, principal},
    input,
    lapse::{Bounded, Credentials},
    logs::LogSources,
    status_cache::StatusCache,
    tokens, version,
    watch::{OpenStreams, Subscription, WatchSources},
    whoami,
};
use crate::{
    audit::AuditLog,
    auth::{Principal, TokenStore},
    promotion::{
        Decision, Engine, EnvironmentCatalog, PromoteOutcome, PromoteRequest, Promotion,
        PromotionError, PromotionKind, StatusBoard, StoreChangeRequest, ports::Registry,
    },
};

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Watch's events, each encoded once for every stream (see `encoded_routes`).
pub type EncodedStream = EventStream<Encoded>;

/// How many promotions ListPromotions returns when the request does not say.
const DEFAULT_PAGE_SIZE: usize = 100;

/// The gRPC service over the domain.
#[derive(Clone)]
pub struct DataKitApi {
    pub(super) catalog: Arc<EnvironmentCatalog>,
    pub(super) engine: Arc<Engine>,
    pub(super) board: Arc<StatusBoard>,
    pub(super) status_cache: Arc<StatusCache>,
    registry: Arc<dyn Registry>,
    tokens: Arc<TokenStore>,
    asserted_approvers: bool,
    audit: Arc<AuditLog>,
    watch: WatchSources,
    logs: LogSources,
    access: Access,
    backends: version::Backends,
    notifications: crate::notify::Notifications,
    dashboard: super::dashboard::Dashboard,
}

impl std::fmt::Debug for DataKitApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKitApi").finish_non_exhaustive()
    }
}

/// Everything the API serves from.
pub struct ApiSources {
    pub catalog: Arc<EnvironmentCatalog>,
    pub engine: Arc<Engine>,
    pub board: Arc<StatusBoard>,
    pub events: Arc<crate::promotion::EventLog>,
    pub cluster: Arc<dyn crate::promotion::ports::ClusterStatus>,
    pub registry: Arc<dyn Registry>,
    /// The service tokens the network listener accepts.
    pub tokens: Arc<TokenStore>,
    /// `forge.asserted_approvers`: the socket's owner may approve as a name they type.
    pub asserted_approvers: bool,
    /// Where every mutating and every refused call is recorded.
    pub audit: Arc<AuditLog>,
    pub heartbeat: std::time::Duration,
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The forge, cluster and registry, as GetVersion reports them.
    pub backends: version::Backends,
    /// The outgoing webhooks and their progress.
    pub notifications: crate::notify::Notifications,
}

impl DataKitApi {
    /// Service tokens live in each dkd's own `DK_HOME/tokens.json`: replicas do not share
    /// them, so a replica neither issues nor revokes any.
    fn tokens_are_kept_here(&self) -> Result<(), Status> {
        if self.engine.leadership().is_replicated() {
            return Err(answer(
                Code::FailedPrecondition,
                "this dkd runs as one of several replicas (ha: in dkd.yaml), which do not share service tokens: authenticate with OIDC (auth.oidc; in Kubernetes, projected service-account tokens) or client certificates",
            ));
        }
        Ok(())
    }

    pub fn new(sources: ApiSources) -> Self {
        let status_cache = StatusCache::start(sources.events.clone());
        let stop = sources.shutdown.clone();
        let watch = WatchSources {
            catalog: sources.catalog.clone(),
            events: sources.events,
            board: sources.board.clone(),
            engine: sources.engine.clone(),
            heartbeat: sources.heartbeat,
            shutdown: sources.shutdown.clone(),
            conversions: Arc::default(),
        };
        let dashboard = super::dashboard::Dashboard::new(sources.shutdown.clone());
        let logs = LogSources {
            verifier: sources.engine.verifier(),
            cluster: sources.cluster,
            shutdown: sources.shutdown,
        };
        let api = Self {
            access: Access::new(sources.catalog.clone()),
            catalog: sources.catalog,
            engine: sources.engine,
            board: sources.board,
            status_cache,
            registry: sources.registry,
            tokens: sources.tokens,
            asserted_approvers: sources.asserted_approvers,
            audit: sources.audit,
            watch,
            logs,
            backends: sources.backends,
            notifications: sources.notifications,
            dashboard,
        };
        api.keep_status_cache_warm(stop);
        api
    }

    /// Records calls in this API's audit log.
    pub(super) fn recorder(&self) -> Recorder {
        Recorder::new(self.audit.clone())
    }

    pub(super) fn config(&self) -> Result<Arc<crate::promotion::LoadedConfig>, Status> {
        self.catalog.snapshot().current.ok_or_else(|| {
            answer(
                Code::Unavailable,
                "no valid configuration on the deployment repository's base branch yet",
            )
        })
    }

    /// Validates the names of a call about `package` in `environment`, then checks that
    /// `caller` may take `action` there.
    fn checked_place(
        &self,
        caller: &Principal,
        action: Action,
        package: &str,
        environment: &str,
    ) -> Result<(), Status> {
        input::name("package", package)?;
        input::name("environment", environment)?;
        self.access
            .check(caller, action, Some(environment), Some(package))
    }

    /// The same for a read that may name no package or no environment (all of them).
    fn checked_read(
        &self,
        caller: &Principal,
        package: &str,
        environment: &str,
    ) -> Result<(), Status> {
        input::optional_name("package", package)?;
        input::optional_name("environment", environment)?;
        self.access.check(
            caller,
            Action::Read,
            non_empty(environment),
            non_empty(package),
        )
    }

    /// The caller of `request`, if RBAC lets them administer this dkd (tokens, audit log).
    fn admin<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        let caller = principal(request)?;
        self.access.check(&caller, Action::Admin, None, None)?;
        Ok(caller)
    }

    /// Whether dkd knows `package` at all: deployed in an environment or ever promoted.
    fn package_known(
        &self,
        config: &crate::promotion::LoadedConfig,
        package: &str,
    ) -> Result<bool, PromotionError> {
        Ok(self
            .board
            .knows_package(package, config.environments.names())?
            || !self.engine.list(Some(package), None)?.is_empty())
    }

    /// Whether any version of `package` is published in dkd's registry.
    async fn published(&self, package: &str) -> Result<bool, Status> {
        self.registry.has_package(package).await.map_err(|error| {
            answer(
                Code::Unavailable,
                &format!("cannot tell whether {package} is published: {error}"),
            )
        })
    }

    /// `Status`, encoded: a package's precomputed rows are copied into the answer as the
    /// bytes they were encoded to once.
    pub(super) async fn status_encoded(
        &self,
        request: Request<proto::StatusRequest>,
    ) -> Result<Response<Encoded>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        self.checked_read(&caller, &body.package, &body.environment)?;
        let reader = self.access.reader(caller);
        let config = self.config()?;
        // A package not deployed yet is still known once promoted or published: its table
        // shows where it is not running yet (and `dk status --watch` waits for it).
        let environment_exists = non_empty(&body.environment)
            .is_none_or(|environment| config.environments.get(environment).is_some());
        let now = self.engine.now();
        if let Some(package) = non_empty(&body.package)
            && environment_exists
        {
            // Precomputed rows are of a known package: its entry goes with any event about
            // it. Otherwise the package must be known somewhere before rows are made.
            let rows = match self.status_cache.rows(&config.content, package) {
                Some(rows) => rows,
                None => {
                    if !self.package_known(&config, package).map_err(status)?
                        && !self.published(package).await?
                    {
                        return Err(answer(
                            Code::NotFound,
                            &format!(
                                "package {package:?} is not deployed anywhere, was never promoted and is not published in {}: check the name, or dk publish it",
                                self.registry.describe()
                            ),
                        ));
                    }
                    self.package_rows(&config, package)?
                }
            };
            return Ok(Response::new(cached_row::answer_encoded(
                &rows,
                non_empty(&body.environment),
                &reader,
                package,
                now,
                &config.revision,
            )));
        }
        // A whole environment's rows need the whole board.
        self.board.loaded().await;
        let rows = self
            .board
            .table(
                &config,
                non_empty(&body.package),
                non_empty(&body.environment),
                |_| Ok(true),
            )
            .map_err(status)?;
        let mut packages = Vec::with_capacity(rows.len());
        for row in rows
            .iter()
            .filter(|row| reader.may_read(&row.environment, &row.package))
        {
            let (status, promotable) = self.row_parts(&config, row, &[])?;
            packages.push(cached_row::rendered(status, promotable, now));
        }
        Ok(Response::new(Encoded::of(&proto::StatusResponse {
            packages,
            revision: config.revision.clone(),
        })))
    }

    /// `Watch`: the caller's events as a stream of encodings shared by every stream.
    pub(super) async fn watch_encoded(
        &self,
        request: Request<proto::WatchRequest>,
    ) -> Result<Response<EncodedStream>, Status> {
        let caller = principal(&request)?;
        let subscription = stream_slot(&request, &caller)?;
        let body = request.into_inner();
        self.checked_read(&caller, &body.package, &body.environment)?;
        let credentials = Credentials::of(&caller, &self.tokens);
        let reader = self.access.reader(caller);
        let events = self.watch.clone().start(body, reader, subscription);
        Ok(Response::new(bounded(events, credentials)))
    }

    fn promotion(&self, promotion: &Promotion) -> proto::Promotion {
        convert::promotion(promotion, self.engine.explain(promotion))
    }

    fn promote_response(&self, outcome: PromoteOutcome) -> Response<proto::PromoteResponse> {
        Response::new(proto::PromoteResponse {
            promotion: outcome.promotion.as_ref().map(|p| self.promotion(p)),
            no_op: outcome.no_op,
            diff: outcome.diff,
            policy: outcome.policy,
            summary: outcome.summary,
        })
    }
}

/// `stream`, ended once `credentials` (if they can) lapse.
fn bounded<T: Send + 'static>(
    stream: impl Stream<Item = Result<T, Status>> + Send + Unpin + 'static,
    credentials: Option<Credentials>,
) -> EventStream<T> {
    match credentials {
        Some(credentials) => Box::pin(Bounded::new(stream, credentials)),
        None => Box::pin(stream),
    }
}

/// A place for one more Watch or Logs stream of `caller`: on the network listener streams
/// are counted per principal (RESOURCE_EXHAUSTED over the cap); the socket has no cap.
fn stream_slot<T>(
    request: &Request<T>,
    caller: &Principal,
) -> Result<Option<Subscription>, Status> {
    request
        .extensions()
        .get::<Arc<OpenStreams>>()
        .map(|open| open.join(&caller.name))
        .transpose()
}

fn hold_response(outcome: &crate::promotion::HoldOutcome) -> proto::HoldResponse {
    proto::HoldResponse {
        hold: Some(convert::hold(&outcome.hold)),
        commit: outcome.commit.clone(),
        message: outcome.message.clone(),
    }
}

fn non_empty(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty())
}

#[tonic::async_trait]
impl DataKitService for DataKitApi {
    type WatchStream = EventStream<proto::WatchEvent>;
    type LogsStream = EventStream<proto::LogsResponse>;

    async fn promote(
        &self,
        request: Request<proto::PromoteRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        let action = if body.rollback {
            Action::Rollback
        } else {
            Action::Promote
        };
        self.checked_place(&caller, action, &body.package, &body.environment)?;
        let promoter = caller.name;
        let outcome = self
            .engine
            .promote(PromoteRequest {
                package: body.package,
                version: body.version,
                environment: body.environment,
                kind: if body.rollback {
                    PromotionKind::Rollback
                } else {
                    PromotionKind::Promotion
                },
                dry_run: body.dry_run,
                force: body.force,
                promoter,
                reason: None,
            })
            .await
            .map_err(status)?;
        Ok(self.promote_response(outcome))
    }

    async fn rollback(
        &self,
        request: Request<proto::RollbackRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        self.checked_place(&caller, Action::Rollback, &body.package, &body.environment)?;
        let promoter = caller.name;
        let outcome = self
            .engine
            .rollback(
                &body.package,
                &body.environment,
                non_empty(&body.to_version),
                body.dry_run,
                &promoter,
            )
            .await
            .map_err(status)?;
        Ok(self.promote_response(outcome))
    }

    async fn get_promotion(
        &self,
        request: Request<proto::GetPromotionRequest>,
    ) -> Result<Response<proto::GetPromotionResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        let promotion = if body.id.is_empty() {
            if body.package.is_empty() || body.version.is_empty() || body.environment.is_empty() {
                return Err(answer(
                    Code::InvalidArgument,
                    "give either id, or package, version and environment",
                ));
            }
            // Checked before looking: NOT_FOUND must not tell what exists where the caller
            // may not read.
            self.checked_place(&caller, Action::Read, &body.package, &body.environment)?;
            self.engine
                .find(&body.package, &body.version, &body.environment)
        } else {
            input::promotion_id(&body.id)?;
            self.engine.get(&body.id)
        }
        .map_err(status)?;
        self.access.check(
            &caller,
            Action::Read,
            Some(&promotion.environment),
            Some(&promotion.package),
        )?;
        Ok(Response::new(proto::GetPromotionResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    async fn list_promotions(
        &self,
        request: Request<proto::ListPromotionsRequest>,
    ) -> Result<Response<proto::ListPromotionsResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        input::optional_name("package", &body.package)?;
        input::optional_name("environment", &body.environment)?;
        let (package, environment) = (non_empty(&body.package), non_empty(&body.environment));
        self.access
            .check(&caller, Action::Read, environment, package)?;
        let approver = identity::approver(&caller, None, false)?;
        let reader = self.access.reader(caller.clone());
        let mut all = self.engine.list(package, environment).map_err(status)?;
        all.retain(|p| reader.may_read(&p.environment, &p.package));
        if !body.states.is_empty() {
            all.retain(|p| {
                body.states
                    .contains(&(convert::promotion_state(p.state) as i32))
            });
        }
        if body.mine {
            all.retain(|p| p.promoter == caller.name);
        }
        if body.to_approve {
            all.retain(|p| {
                self.access
                    .allows(&caller, Action::Approve, &p.environment, &p.package)
                    && self.engine.could_approve(p, &approver)
            });
        }
        let start: usize = if body.page_token.is_empty() {
            0
        } else {
            body.page_token.parse().map_err(|_| {
                answer(
                    Code::InvalidArgument,
                    "page_token is not one this dkd issued",
                )
            })?
        };
        let size = usize::try_from(body.page_size)
            .ok()
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_PAGE_SIZE);
        let end = start.saturating_add(size).min(all.len());
        let page = all.get(start..end).unwrap_or_default();
        Ok(Response::new(proto::ListPromotionsResponse {
            promotions: page.iter().map(|p| self.promotion(p)).collect(),
            next_page_token: if end < all.len() {
                end.to_string()
            } else {
                String::new()
            },
            notices: self.engine.notices(),
        }))
    }

    async fn approve(
        &self,
        request: Request<proto::ApproveRequest>,
    ) -> Result<Response<proto::ApproveResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        input::promotion_id(&body.promotion_id)?;
        input::optional_user(&body.as_user)?;
        // Approving needs `approve` in the promotion's environment, on its package.
        if !caller.is_local() {
            let promotion = self.engine.get(&body.promotion_id).map_err(status)?;
            self.access.check(
                &caller,
                Action::Approve,
                Some(&promotion.environment),
                Some(&promotion.package),
            )?;
        }
        let approver =
            identity::approver(&caller, non_empty(&body.as_user), self.asserted_approvers)?;
        let promotion = self
            .engine
            .approve(&body.promotion_id, &approver)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::ApproveResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    async fn reject(
        &self,
        request: Request<proto::RejectRequest>,
    ) -> Result<Response<proto::RejectResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        input::promotion_id(&body.promotion_id)?;
        let reason = input::reason(&body.reason, true)?;
        // Rejecting needs `approve` in the promotion's environment, on its package.
        let promotion = self.engine.get(&body.promotion_id).map_err(status)?;
        self.access.check(
            &caller,
            Action::Approve,
            Some(&promotion.environment),
            Some(&promotion.package),
        )?;
        let promotion = self
            .engine
            .decide(
                &body.promotion_id,
                Decision::Reject,
                &caller.name,
                reason.as_deref(),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(proto::RejectResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    async fn cancel(
        &self,
        request: Request<proto::CancelRequest>,
    ) -> Result<Response<proto::CancelResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        input::promotion_id(&body.promotion_id)?;
        let reason = input::reason(&body.reason, false)?;
        let promotion = self.engine.get(&body.promotion_id).map_err(status)?;
        // Its promoter withdraws it; anyone else must administer this dkd.
        if promotion.promoter != caller.name
            && !self.access.allows(
                &caller,
                Action::Admin,
                &promotion.environment,
                &promotion.package,
            )
        {
            return Err(answer(
                Code::PermissionDenied,
                &format!(
                    "only {} (who promoted {}) or an admin of this dkd may cancel it; you are {}",
                    promotion.promoter, promotion.id, caller.name
                ),
            ));
        }
        let promotion = self
            .engine
            .decide(
                &body.promotion_id,
                Decision::Cancel,
                &caller.name,
                reason.as_deref(),
            )
            .await
            .map_err(status)?;
        Ok(Response::new(proto::CancelResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    /// dkd's servers answer `Status` with `status_encoded` (`EncodedRoutesLayer`); this
    /// is the same answer as a message.
    async fn status(
        &self,
        request: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let encoded = self.status_encoded(request).await?.into_inner();
        encoded
            .decode()
            .map(Response::new)
            .map_err(|error| Status::internal(format!("a Status answer does not decode: {error}")))
    }

    /// Never reached on dkd's servers: `EncodedRoutesLayer` answers `Watch` before the
    /// router (`watch_encoded`), sending each event's one encoding to every stream.
    async fn watch(
        &self,
        _request: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::internal(
            "this server serves Watch without EncodedRoutesLayer (a dkd bug)",
        ))
    }

    async fn logs(
        &self,
        request: Request<proto::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let caller = principal(&request)?;
        let subscription = stream_slot(&request, &caller)?;
        let body = request.into_inner();
        self.checked_place(&caller, Action::Read, &body.package, &body.environment)?;
        let config = self.config()?;
        if config.environments.get(&body.environment).is_none() {
            return Err(answer(
                Code::NotFound,
                &format!(
                    "environment {:?} not found; known environments: {}",
                    body.environment,
                    config.environments.names().join(", ")
                ),
            ));
        }
        if !self.package_known(&config, &body.package).map_err(status)? {
            return Err(answer(
                Code::NotFound,
                &format!(
                    "package {:?} is not deployed anywhere and was never promoted",
                    body.package
                ),
            ));
        }
        let lines = self.logs.clone().start(body, subscription);
        Ok(Response::new(bounded(
            lines,
            Credentials::of(&caller, &self.tokens),
        )))
    }

    async fn list_environments(
        &self,
        request: Request<proto::ListEnvironmentsRequest>,
    ) -> Result<Response<proto::ListEnvironmentsResponse>, Status> {
        let caller = principal(&request)?;
        self.access.check(&caller, Action::Read, None, None)?;
        let reader = self.access.reader(caller);
        let state = self.catalog.snapshot();
        let problems = state.problems.iter().map(convert::problem).collect();
        let Some(config) = state.current else {
            // No revision was ever accepted: nothing to list, but say why.
            return Ok(Response::new(proto::ListEnvironmentsResponse {
                problems,
                notices: self.engine.notices(),
                ..Default::default()
            }));
        };
        Ok(Response::new(proto::ListEnvironmentsResponse {
            environments: config
                .environments
                .environments()
                .iter()
                .filter(|e| reader.may_read_environment(&e.name))
                .map(|e| convert::environment(&config, e))
                .collect(),
            revision: config.revision.clone(),
            loaded_at: Some(convert::timestamp(config.loaded_at)),
            problems,
            notices: self.engine.notices(),
        }))
    }

    async fn create_token(
        &self,
        request: Request<proto::CreateTokenRequest>,
    ) -> Result<Response<proto::CreateTokenResponse>, Status> {
        let caller = self.admin(&request)?;
        self.tokens_are_kept_here()?;
        tokens::create(&self.tokens, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_tokens(
        &self,
        request: Request<proto::ListTokensRequest>,
    ) -> Result<Response<proto::ListTokensResponse>, Status> {
        self.admin(&request)?;
        tokens::list(&self.tokens).map(Response::new)
    }

    async fn revoke_token(
        &self,
        request: Request<proto::RevokeTokenRequest>,
    ) -> Result<Response<proto::RevokeTokenResponse>, Status> {
        let caller = self.admin(&request)?;
        self.tokens_are_kept_here()?;
        tokens::revoke(&self.tokens, &caller, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn who_am_i(
        &self,
        request: Request<proto::WhoAmIRequest>,
    ) -> Result<Response<proto::WhoAmIResponse>, Status> {
        let caller = principal(&request)?;
        let config = self.catalog.snapshot().current;
        Ok(Response::new(whoami::answer(&caller, config.as_deref())))
    }

    async fn get_version(
        &self,
        request: Request<proto::GetVersionRequest>,
    ) -> Result<Response<proto::VersionResponse>, Status> {
        principal(&request)?;
        Ok(Response::new(version::answer(&self.backends)))
    }

    async fn add_store(
        &self,
        request: Request<proto::AddStoreRequest>,
    ) -> Result<Response<proto::AddStoreResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        input::name("environment", &body.environment)?;
        input::name("store", &body.name)?;
        self.access
            .check(&caller, Action::Configure, Some(&body.environment), None)?;
        let outcome = self
            .engine
            .add_store(StoreChangeRequest {
                environment: body.environment,
                name: body.name,
                manifest: body.manifest,
                replace: body.replace,
                author: caller.name,
            })
            .await
            .map_err(status)?;
        let (change_id, change_url) = outcome
            .promotion
            .change
            .as_ref()
            .map(|c| (c.id.clone(), c.url.clone()))
            .unwrap_or_default();
        Ok(Response::new(proto::AddStoreResponse {
            merged: outcome.merged,
            change_id,
            change_url,
            file: outcome.file,
            policy: outcome.policy,
            message: outcome.message,
            promotion: Some(self.promotion(&outcome.promotion)),
        }))
    }

    async fn set_hold(
        &self,
        request: Request<proto::SetHoldRequest>,
    ) -> Result<Response<proto::HoldResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        self.checked_place(&caller, Action::Rollback, &body.package, &body.environment)?;
        let outcome = self
            .engine
            .set_hold(&body.package, &body.environment, &body.reason, &caller.name)
            .await
            .map_err(status)?;
        Ok(Response::new(hold_response(&outcome)))
    }

    async fn release_hold(
        &self,
        request: Request<proto::ReleaseHoldRequest>,
    ) -> Result<Response<proto::HoldResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        self.checked_place(&caller, Action::Approve, &body.package, &body.environment)?;
        let outcome = self
            .engine
            .release_hold(
                &body.package,
                &body.environment,
                non_empty(&body.reason),
                &caller.name,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(hold_response(&outcome)))
    }

    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        self.checked_place(&caller, Action::Promote, &body.package, &body.environment)?;
        let promotion = self
            .engine
            .reverify(&body.package, &body.environment)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::VerifyResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    async fn list_holds(
        &self,
        request: Request<proto::ListHoldsRequest>,
    ) -> Result<Response<proto::ListHoldsResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.into_inner();
        input::optional_name("package", &body.package)?;
        input::optional_name("environment", &body.environment)?;
        let reader = self.access.reader(caller);
        let holds = self
            .engine
            .holds(
                non_empty(&body.package),
                non_empty(&body.environment),
                body.include_released,
            )
            .map_err(status)?;
        Ok(Response::new(proto::ListHoldsResponse {
            holds: holds
                .iter()
                .filter(|hold| reader.may_read(&hold.environment, &hold.package))
                .map(convert::hold)
                .collect(),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<proto::ListAuditEventsRequest>,
    ) -> Result<Response<proto::ListAuditEventsResponse>, Status> {
        self.admin(&request)?;
        audit_events::list(&self.audit, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_notification_status(
        &self,
        request: Request<proto::GetNotificationStatusRequest>,
    ) -> Result<Response<proto::GetNotificationStatusResponse>, Status> {
        self.admin(&request)?;
        Ok(Response::new(super::notifications::status(
            &self.notifications,
        )))
    }

    async fn open_dashboard(
        &self,
        request: Request<proto::OpenDashboardRequest>,
    ) -> Result<Response<proto::OpenDashboardResponse>, Status> {
        let caller = principal(&request)?;
        if !caller.is_local() {
            return Err(answer(
                Code::FailedPrecondition,
                "dk ui opens the dashboard of the dkd on your own machine (its local socket); a shared dkd serves it at its own address: open https://HOST:PORT/ in a browser and sign in with your token",
            ));
        }
        let link = self
            .dashboard
            .open(self, caller)
            .await
            .map_err(|error| answer(Code::Unavailable, &error.to_string()))?;
        Ok(Response::new(proto::OpenDashboardResponse {
            url: link.url,
            expires_at: Some(prost_types::Timestamp::from(link.expires_at)),
        }))
    }
}
