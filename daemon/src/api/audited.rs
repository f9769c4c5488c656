//! `AuditedApi`: `DataKitService` with every call recorded in the audit log as `audit`
//! describes — each method names what the call is about and hands it to the API. It wraps
//! the whole API, so whatever a handler answers (its checks included) is what is recorded.

use datakit::proto::{self, data_kit_service_server::DataKitService};
use tonic::{Request, Response, Status};

use super::{
    DataKitApi,
    audit::{Caller, Recorder, Target, given},
    encoded::Encoded,
    service::EncodedStream,
};

/// The API, audited.
#[derive(Debug, Clone)]
pub struct AuditedApi {
    api: DataKitApi,
    audit: Recorder,
}

impl AuditedApi {
    pub fn new(api: DataKitApi, audit: Recorder) -> Self {
        Self { api, audit }
    }

    /// `Status` with precomputed rows copied in as bytes, as `EncodedRoutesLayer` serves it.
    /// Returns the audit's future itself: an async wrapper around it would be a bigger
    /// future still, boxed on every call.
    pub fn status_encoded(
        &self,
        request: Request<proto::StatusRequest>,
    ) -> impl Future<Output = Result<Response<Encoded>, Status>> + '_ {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        self.audit.read("Status", caller, target, || {
            self.api.status_encoded(request)
        })
    }

    /// `Watch` with events encoded once for every stream, as `EncodedRoutesLayer` serves it.
    pub async fn watch_encoded(
        &self,
        request: Request<proto::WatchRequest>,
    ) -> Result<Response<EncodedStream>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.watch_encoded(request);
        self.audit.read("Watch", caller, target, call).await
    }
}

/// The promotion an answer names completes what the call was about.
fn about(promotion: Option<&proto::Promotion>, target: &mut Target) {
    let Some(promotion) = promotion else { return };
    target.promotion_id = given(&promotion.id);
    target.package = target.package.take().or_else(|| given(&promotion.package));
    target.environment = target
        .environment
        .take()
        .or_else(|| given(&promotion.environment));
    target.version = target.version.take().or_else(|| given(&promotion.version));
}

fn promoted(response: &proto::PromoteResponse, target: &mut Target) {
    about(response.promotion.as_ref(), target);
}

fn nothing<T>(_: &T, _: &mut Target) {}

fn place(package: &str, environment: &str) -> Target {
    Target {
        package: given(package),
        environment: given(environment),
        ..Target::default()
    }
}

#[tonic::async_trait]
impl DataKitService for AuditedApi {
    type WatchStream = <DataKitApi as DataKitService>::WatchStream;
    type LogsStream = <DataKitApi as DataKitService>::LogsStream;

    async fn promote(
        &self,
        request: Request<proto::PromoteRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        let body = request.get_ref();
        let target = Target {
            version: given(&body.version),
            dry_run: body.dry_run,
            ..place(&body.package, &body.environment)
        };
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.promote(request).await };
        let method = "Promote";
        self.audit
            .change(method, caller, target, call, promoted)
            .await
    }

    async fn rollback(
        &self,
        request: Request<proto::RollbackRequest>,
    ) -> Result<Response<proto::PromoteResponse>, Status> {
        let body = request.get_ref();
        let target = Target {
            version: given(&body.to_version),
            dry_run: body.dry_run,
            ..place(&body.package, &body.environment)
        };
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.rollback(request).await };
        let method = "Rollback";
        self.audit
            .change(method, caller, target, call, promoted)
            .await
    }

    async fn get_promotion(
        &self,
        request: Request<proto::GetPromotionRequest>,
    ) -> Result<Response<proto::GetPromotionResponse>, Status> {
        let body = request.get_ref();
        let target = Target {
            version: given(&body.version),
            promotion_id: given(&body.id),
            ..place(&body.package, &body.environment)
        };
        let caller = Caller::of(&request);
        let call = || self.api.get_promotion(request);
        self.audit.read("GetPromotion", caller, target, call).await
    }

    async fn list_promotions(
        &self,
        request: Request<proto::ListPromotionsRequest>,
    ) -> Result<Response<proto::ListPromotionsResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.list_promotions(request);
        self.audit
            .read("ListPromotions", caller, target, call)
            .await
    }

    async fn approve(
        &self,
        request: Request<proto::ApproveRequest>,
    ) -> Result<Response<proto::ApproveResponse>, Status> {
        let body = request.get_ref();
        let target = Target {
            promotion_id: given(&body.promotion_id),
            as_user: given(&body.as_user),
            ..Target::default()
        };
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.approve(request).await };
        let approved = |response: &proto::ApproveResponse, target: &mut Target| {
            about(response.promotion.as_ref(), target);
        };
        self.audit
            .change("Approve", caller, target, call, approved)
            .await
    }

    async fn reject(
        &self,
        request: Request<proto::RejectRequest>,
    ) -> Result<Response<proto::RejectResponse>, Status> {
        let target = decided(&request.get_ref().promotion_id);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.reject(request).await };
        let rejected = |response: &proto::RejectResponse, target: &mut Target| {
            about(response.promotion.as_ref(), target);
        };
        self.audit
            .change("Reject", caller, target, call, rejected)
            .await
    }

    async fn cancel(
        &self,
        request: Request<proto::CancelRequest>,
    ) -> Result<Response<proto::CancelResponse>, Status> {
        let target = decided(&request.get_ref().promotion_id);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.cancel(request).await };
        let cancelled = |response: &proto::CancelResponse, target: &mut Target| {
            about(response.promotion.as_ref(), target);
        };
        self.audit
            .change("Cancel", caller, target, call, cancelled)
            .await
    }

    async fn status(
        &self,
        request: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.status(request);
        self.audit.read("Status", caller, target, call).await
    }

    /// Served by `EncodedRoutesLayer` (`watch_encoded`) instead.
    async fn watch(
        &self,
        request: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.watch(request);
        self.audit.read("Watch", caller, target, call).await
    }

    async fn logs(
        &self,
        request: Request<proto::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.logs(request);
        self.audit.read("Logs", caller, target, call).await
    }

    async fn list_environments(
        &self,
        request: Request<proto::ListEnvironmentsRequest>,
    ) -> Result<Response<proto::ListEnvironmentsResponse>, Status> {
        let caller = Caller::of(&request);
        let call = || self.api.list_environments(request);
        let method = "ListEnvironments";
        self.audit
            .read(method, caller, Target::default(), call)
            .await
    }

    async fn create_token(
        &self,
        request: Request<proto::CreateTokenRequest>,
    ) -> Result<Response<proto::CreateTokenResponse>, Status> {
        let target = token(&request.get_ref().name);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.create_token(request).await };
        self.audit
            .change("CreateToken", caller, target, call, nothing)
            .await
    }

    async fn who_am_i(
        &self,
        request: Request<proto::WhoAmIRequest>,
    ) -> Result<Response<proto::WhoAmIResponse>, Status> {
        let caller = Caller::of(&request);
        let call = || self.api.who_am_i(request);
        self.audit
            .read("WhoAmI", caller, Target::default(), call)
            .await
    }

    async fn add_store(
        &self,
        request: Request<proto::AddStoreRequest>,
    ) -> Result<Response<proto::AddStoreResponse>, Status> {
        let target = Target {
            environment: given(&request.get_ref().environment),
            ..Target::default()
        };
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.add_store(request).await };
        self.audit
            .change("AddStore", caller, target, call, nothing)
            .await
    }

    async fn set_hold(
        &self,
        request: Request<proto::SetHoldRequest>,
    ) -> Result<Response<proto::HoldResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.set_hold(request).await };
        self.audit
            .change("SetHold", caller, target, call, nothing)
            .await
    }

    async fn release_hold(
        &self,
        request: Request<proto::ReleaseHoldRequest>,
    ) -> Result<Response<proto::HoldResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.release_hold(request).await };
        self.audit
            .change("ReleaseHold", caller, target, call, nothing)
            .await
    }

    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.verify(request).await };
        self.audit
            .change("Verify", caller, target, call, nothing)
            .await
    }

    async fn open_dashboard(
        &self,
        request: Request<proto::OpenDashboardRequest>,
    ) -> Result<Response<proto::OpenDashboardResponse>, Status> {
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.open_dashboard(request).await };
        self.audit
            .change("OpenDashboard", caller, Target::default(), call, nothing)
            .await
    }

    async fn list_holds(
        &self,
        request: Request<proto::ListHoldsRequest>,
    ) -> Result<Response<proto::ListHoldsResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.list_holds(request);
        self.audit.read("ListHolds", caller, target, call).await
    }

    async fn get_version(
        &self,
        request: Request<proto::GetVersionRequest>,
    ) -> Result<Response<proto::VersionResponse>, Status> {
        let caller = Caller::of(&request);
        let call = || self.api.get_version(request);
        self.audit
            .read("GetVersion", caller, Target::default(), call)
            .await
    }

    async fn list_tokens(
        &self,
        request: Request<proto::ListTokensRequest>,
    ) -> Result<Response<proto::ListTokensResponse>, Status> {
        let caller = Caller::of(&request);
        let call = || self.api.list_tokens(request);
        self.audit
            .read("ListTokens", caller, Target::default(), call)
            .await
    }

    async fn revoke_token(
        &self,
        request: Request<proto::RevokeTokenRequest>,
    ) -> Result<Response<proto::RevokeTokenResponse>, Status> {
        let target = token(&request.get_ref().name);
        let caller = Caller::of(&request);
        let api = self.api.clone();
        let call = async move { api.revoke_token(request).await };
        self.audit
            .change("RevokeToken", caller, target, call, nothing)
            .await
    }

    async fn list_audit_events(
        &self,
        request: Request<proto::ListAuditEventsRequest>,
    ) -> Result<Response<proto::ListAuditEventsResponse>, Status> {
        let target = place(&request.get_ref().package, &request.get_ref().environment);
        let caller = Caller::of(&request);
        let call = || self.api.list_audit_events(request);
        let method = "ListAuditEvents";
        self.audit.read(method, caller, target, call).await
    }

    async fn get_notification_status(
        &self,
        request: Request<proto::GetNotificationStatusRequest>,
    ) -> Result<Response<proto::GetNotificationStatusResponse>, Status> {
        let caller = Caller::of(&request);
        let call = || self.api.get_notification_status(request);
        let method = "GetNotificationStatus";
        self.audit
            .read(method, caller, Target::default(), call)
            .await
    }
}

/// A Reject or Cancel is about one promotion.
fn decided(promotion_id: &str) -> Target {
    Target {
        promotion_id: given(promotion_id),
        ..Target::default()
    }
}

fn token(name: &str) -> Target {
    Target {
        token: given(name),
        ..Target::default()
    }
}
