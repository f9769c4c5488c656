//! `DataKitService`: each RPC delegates to the domain. RPCs whose capability has not
//! landed yet answer UNIMPLEMENTED saying so.

use std::{pin::Pin, sync::Arc};

use datakit::proto::{self, data_kit_service_server::DataKitService};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::convert;
use crate::promotion::EnvironmentCatalog;

type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The gRPC service over the domain.
#[derive(Debug, Clone)]
pub struct DataKitApi {
    catalog: Arc<EnvironmentCatalog>,
}

impl DataKitApi {
    pub fn new(catalog: Arc<EnvironmentCatalog>) -> Self {
        Self { catalog }
    }
}

fn not_yet(rpc: &str, capability: &str) -> Status {
    Status::unimplemented(format!(
        "{rpc} is not available in this dkd yet: {capability} has not landed; ListEnvironments works today"
    ))
}

#[tonic::async_trait]
impl DataKitService for DataKitApi {
    type WatchStream = EventStream<proto::WatchEvent>;
    type LogsStream = EventStream<proto::LogsResponse>;

    async fn promote(
        &self,
        _: Request<proto::PromoteRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        Err(not_yet("Promote", "the promotion engine"))
    }

    async fn rollback(
        &self,
        _: Request<proto::RollbackRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        Err(not_yet("Rollback", "the promotion engine"))
    }

    async fn get_promotion(
        &self,
        _: Request<proto::GetPromotionRequest>,
    ) -> Result<Response<proto::GetPromotionResponse>, Status> {
        Err(not_yet("GetPromotion", "the promotion engine"))
    }

    async fn list_promotions(
        &self,
        _: Request<proto::ListPromotionsRequest>,
    ) -> Result<Response<proto::ListPromotionsResponse>, Status> {
        Err(not_yet("ListPromotions", "the promotion engine"))
    }

    async fn approve(
        &self,
        _: Request<proto::ApproveRequest>,
    ) -> Result<Response<proto::ApproveResponse>, Status> {
        Err(not_yet("Approve", "the promotion engine"))
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
        Err(not_yet("Logs", "the sync log"))
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
