//! `DataKitService`: each RPC delegates to the domain. RPCs whose capability has not
//! landed yet answer UNIMPLEMENTED saying so.

use std::{pin::Pin, sync::Arc};

use datakit::proto::{self, data_kit_service_server::DataKitService};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{convert, errors::status, identity::caller};
use crate::promotion::{
    Engine, EnvironmentCatalog, PromoteOutcome, PromoteRequest, Promotion, PromotionKind,
};

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How many promotions ListPromotions returns when the request does not say.
const DEFAULT_PAGE_SIZE: usize = 100;

/// The gRPC service over the domain.
#[derive(Debug, Clone)]
pub struct DataKitApi {
    catalog: Arc<EnvironmentCatalog>,
    engine: Arc<Engine>,
}

impl DataKitApi {
    pub fn new(catalog: Arc<EnvironmentCatalog>, engine: Arc<Engine>) -> Self {
        Self { catalog, engine }
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

fn not_yet(rpc: &str, capability: &str) -> Status {
    Status::unimplemented(format!(
        "{rpc} is not available in this dkd yet: {capability} has not landed"
    ))
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
        let promoter = caller(&request);
        let body = request.into_inner();
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
            })
            .await
            .map_err(status)?;
        Ok(self.promote_response(outcome))
    }

    async fn rollback(
        &self,
        request: Request<proto::RollbackRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        let promoter = caller(&request);
        let body = request.into_inner();
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
        let body = request.into_inner();
        let promotion = if body.id.is_empty() {
            if body.package.is_empty() || body.version.is_empty() || body.environment.is_empty() {
                return Err(Status::invalid_argument(
                    "give either id, or package, version and environment",
                ));
            }
            self.engine
                .find(&body.package, &body.version, &body.environment)
        } else {
            self.engine.get(&body.id)
        }
        .map_err(status)?;
        Ok(Response::new(proto::GetPromotionResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    async fn list_promotions(
        &self,
        request: Request<proto::ListPromotionsRequest>,
    ) -> Result<Response<proto::ListPromotionsResponse>, Status> {
        let body = request.into_inner();
        let all = self
            .engine
            .list(non_empty(&body.package), non_empty(&body.environment))
            .map_err(status)?;
        let start: usize = if body.page_token.is_empty() {
            0
        } else {
            body.page_token
                .parse()
                .map_err(|_| Status::invalid_argument("page_token is not one this dkd issued"))?
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
        }))
    }

    async fn approve(
        &self,
        request: Request<proto::ApproveRequest>,
    ) -> Result<Response<proto::ApproveResponse>, Status> {
        let os_user = caller(&request);
        let body = request.into_inner();
        let user = non_empty(&body.as_user).map_or(os_user, str::to_owned);
        let promotion = self
            .engine
            .approve(&body.promotion_id, &user)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::ApproveResponse {
            promotion: Some(self.promotion(&promotion)),
        }))
    }

    async fn status(
        &self,
        _: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        Err(not_yet("Status", "the status cache"))
    }

    async fn watch(
        &self,
        _: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(not_yet("Watch", "the event stream"))
    }

    async fn logs(
        &self,
        _: Request<proto::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        Err(not_yet("Logs", "the sync log stream"))
    }

    async fn list_environments(
        &self,
        _: Request<proto::ListEnvironmentsRequest>,
    ) -> Result<Response<proto::ListEnvironmentsResponse>, Status> {
        let state = self.catalog.snapshot();
        let problems = state.problems.iter().map(convert::problem).collect();
        let Some(config) = state.current else {
            // No revision was ever accepted: nothing to list, but say why.
            return Ok(Response::new(proto::ListEnvironmentsResponse {
                problems,
                ..Default::default()
            }));
        };
        Ok(Response::new(proto::ListEnvironmentsResponse {
            environments: config
                .environments
                .environments()
                .iter()
                .map(|e| convert::environment(&config, e))
                .collect(),
            revision: config.revision.clone(),
            loaded_at: Some(convert::timestamp(config.loaded_at)),
            problems,
        }))
    }
}
