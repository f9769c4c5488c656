//! The Logs stream: the sync log of a package in an environment (`sync: true`), or its run
//! logs (a cluster's pod logs) — which the embedded target does not have, so it says so in
//! one line and shows the sync log. `follow` keeps streaming new lines until the client
//! goes away. With `verify: true`, the output of the newest verification run.

use std::{sync::Arc, time::Duration};

use datakit::proto;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

use super::{convert, errors::answer, watch::Subscription};
use crate::promotion::ports::{
    ClusterStatus, RunLogLine, RunLogOptions, RunLogStream, SyncLogLine, VerificationRunner,
};

/// How often a followed log is re-read.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);

/// What a Logs stream needs.
#[derive(Clone)]
pub struct LogSources {
    pub cluster: Arc<dyn ClusterStatus>,
    pub verifier: Arc<dyn VerificationRunner>,
    pub shutdown: CancellationToken,
}

type Sender = mpsc::Sender<Result<proto::LogsResponse, Status>>;

fn line(environment: &str, package: &str, log: &SyncLogLine) -> proto::LogsResponse {
    proto::LogsResponse {
        time: Some(convert::timestamp(log.at)),
        source: proto::LogSource::Sync as i32,
        origin: format!("sync/{environment}/{package}"),
        text: log.text.clone(),
    }
}

impl LogSources {
    /// Starts the stream for `request` (already validated), counted as `subscription` (if
    /// any) while it runs.
    pub fn start(
        self,
        request: proto::LogsRequest,
        subscription: Option<Subscription>,
    ) -> ReceiverStream<Result<proto::LogsResponse, Status>> {
        let (sender, receiver) = mpsc::channel(256);
        tokio::spawn(async move {
            if let Err(status) = self.run(&request, &sender).await {
                let _ = sender.send(Err(status)).await;
            }
            drop(subscription);
        });
        ReceiverStream::new(receiver)
    }

    async fn send(&self, sender: &Sender, response: proto::LogsResponse) -> Result<(), Status> {
        // A client that went away simply ends the stream.
        sender
            .send(Ok(response))
            .await
            .map_err(|_| answer(Code::Cancelled, "client went away"))
    }

    async fn run(&self, request: &proto::LogsRequest, sender: &Sender) -> Result<(), Status> {
        let (environment, package) = (request.environment.as_str(), request.package.as_str());
        let since = request
            .since
            .and_then(|t| std::time::SystemTime::try_from(t).ok());
        if request.verify {
            return self.stream_verification(request, since, sender).await;
        }
        if !request.sync {
            let options = RunLogOptions {
                follow: request.follow,
                tail: request.tail,
                since,
            };
            let runs = self
                .cluster
                .run_logs(environment, package, options)
                .await
                .map_err(|e| answer(Code::Unavailable, &e.to_string()))?;
            if let Some(runs) = runs {
                return self.stream_run(runs, sender).await;
            }
            let notice = proto::LogsResponse {
                time: Some(convert::timestamp(crate::promotion::now())),
                source: proto::LogSource::Notice as i32,
                origin: "dkd".into(),
                text: format!(
                    "no runtime is attached to {environment} (embedded target), or {package} has no run yet: showing the sync log instead"
                ),
            };
            self.send(sender, notice).await?;
        }
        let read = || async {
            self.cluster
                .sync_log(environment, package)
                .await
                .map_err(|e| answer(Code::Unavailable, &e.to_string()))
        };
        let lines = read().await?;
        let wanted: Vec<&SyncLogLine> = lines
            .iter()
            .filter(|l| since.is_none_or(|s| l.at >= s))
            .collect();
        let tail = usize::try_from(request.tail).unwrap_or(usize::MAX);
        let skip = if request.tail == 0 {
            0
        } else {
            wanted.len().saturating_sub(tail)
        };
        for log in &wanted[skip..] {
            self.send(sender, line(environment, package, log)).await?;
        }
        if !request.follow {
            return Ok(());
        }
        let mut seen = lines.len();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                () = sender.closed() => return Ok(()),
                () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            }
            let lines = read().await?;
            for log in lines.iter().skip(seen) {
                self.send(sender, line(environment, package, log)).await?;
            }
            seen = lines.len();
        }
    }

    /// Sends the output of the newest verification run, and with `follow` its new lines
    /// until the run's output stops growing and the client goes away.
    async fn stream_verification(
        &self,
        request: &proto::LogsRequest,
        since: Option<std::time::SystemTime>,
        sender: &Sender,
    ) -> Result<(), Status> {
        let (environment, package) = (request.environment.as_str(), request.package.as_str());
        let read = || async { self.verifier.logs(environment, package).await };
        let Some((run, lines)) = read().await else {
            return Err(answer(
                Code::NotFound,
                &format!(
                    "no verification of {package} ran in {environment} since dkd started: run dk verify {package} --env {environment}"
                ),
            ));
        };
        let send_line = |log: &RunLogLine| proto::LogsResponse {
            time: Some(convert::timestamp(log.at)),
            source: proto::LogSource::Run as i32,
            origin: log.origin.clone(),
            text: log.text.clone(),
        };
        let wanted: Vec<&RunLogLine> = lines
            .iter()
            .filter(|l| since.is_none_or(|s| l.at >= s))
            .collect();
        let skip = if request.tail == 0 {
            0
        } else {
            wanted
                .len()
                .saturating_sub(usize::try_from(request.tail).unwrap_or(usize::MAX))
        };
        for log in &wanted[skip..] {
            self.send(sender, send_line(log)).await?;
        }
        if !request.follow {
            return Ok(());
        }
        let mut seen = lines.len();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                () = sender.closed() => return Ok(()),
                () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
            }
            let Some((now_run, lines)) = read().await else {
                return Ok(());
            };
            if now_run != run {
                return Ok(());
            }
            for log in lines.iter().skip(seen) {
                self.send(sender, send_line(log)).await?;
            }
            seen = lines.len();
        }
    }

    /// Forwards a run's log lines until they end, the client goes away or dkd stops.
    async fn stream_run(&self, mut runs: RunLogStream, sender: &Sender) -> Result<(), Status> {
        loop {
            let next = tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                () = sender.closed() => return Ok(()),
                next = runs.next() => next,
            };
            let Some(next) = next else { return Ok(()) };
            let log = next.map_err(|e| answer(Code::Unavailable, &e.to_string()))?;
            let response = proto::LogsResponse {
                time: Some(convert::timestamp(log.at)),
                source: proto::LogSource::Run as i32,
                origin: log.origin,
                text: log.text,
            };
            self.send(sender, response).await?;
        }
    }
}
