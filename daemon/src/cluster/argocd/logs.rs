//! Run logs: the pod logs of a Job (pods labelled `job-name=<job>`), with follow, tail and
//! since, requested with timestamps so every line keeps its time.

use std::time::SystemTime;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use crate::promotion::ports::{ClusterError, RunLogLine, RunLogOptions, RunLogStream};

fn unavailable(error: impl std::fmt::Display) -> ClusterError {
    ClusterError::Unavailable(format!("pod logs: {error}"))
}

/// Splits a `--timestamps` line into its time and text.
fn parse(origin: &str, line: &str) -> RunLogLine {
    let (at, text) = line
        .split_once(' ')
        .and_then(|(stamp, text)| {
            let at = stamp.parse::<k8s_openapi::jiff::Timestamp>().ok()?;
            Some((SystemTime::from(at), text))
        })
        .unwrap_or((SystemTime::now(), line));
    RunLogLine {
        at,
        origin: origin.to_owned(),
        text: text.to_owned(),
    }
}

/// The logs of every pod of `job` in `pods`' namespace, oldest pod first; followed pods
/// are interleaved as lines arrive.
pub async fn job_logs(
    pods: Api<Pod>,
    job: &str,
    options: RunLogOptions,
) -> Result<RunLogStream, ClusterError> {
    let mut list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .map_err(unavailable)?
        .items;
    list.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    let params = LogParams {
        follow: options.follow,
        tail_lines: (options.tail > 0).then_some(i64::from(options.tail)),
        since_time: options
            .since
            .and_then(|s| k8s_openapi::jiff::Timestamp::try_from(s).ok()),
        timestamps: true,
        ..LogParams::default()
    };
    let mut streams = Vec::new();
    for pod in list {
        let Some(name) = pod.metadata.name else {
            continue;
        };
        let reader = pods.log_stream(&name, &params).await.map_err(unavailable)?;
        let lines = reader
            .lines()
            .map_err(unavailable)
            .map_ok(move |line| parse(&name, &line));
        streams.push(lines.boxed());
    }
    Ok(if options.follow {
        stream::select_all(streams).boxed()
    } else {
        stream::iter(streams).flatten().boxed()
    })
}
