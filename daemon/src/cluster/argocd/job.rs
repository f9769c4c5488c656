//! Runs: the newest Kubernetes Job of a package is its Last Run.

use std::time::SystemTime;

use k8s_openapi::api::batch::v1::Job;

use crate::promotion::ports::{LastRun, RunResult};

fn started(job: &Job) -> Option<SystemTime> {
    job.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(job.metadata.creation_timestamp.as_ref())
        .map(|t| SystemTime::from(t.0))
}

/// The job as a run.
pub fn run(job: &Job) -> LastRun {
    let status = job.status.as_ref();
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == kind && c.status == "True"))
    };
    let failed = condition("Failed");
    let complete = condition("Complete");
    let result = if failed.is_some() {
        RunResult::Failure
    } else if complete.is_some() || status.and_then(|s| s.succeeded).unwrap_or(0) > 0 {
        RunResult::Success
    } else {
        RunResult::Running
    };
    let finished_at = status
        .and_then(|s| s.completion_time.as_ref())
        .or_else(|| failed.and_then(|c| c.last_transition_time.as_ref()))
        .map(|t| SystemTime::from(t.0));
    LastRun {
        name: job.metadata.name.clone().unwrap_or_default(),
        started_at: started(job).unwrap_or(SystemTime::UNIX_EPOCH),
        finished_at: if result == RunResult::Running {
            None
        } else {
            finished_at
        },
        result,
    }
}

/// The newest of `jobs` (by start, then name).
pub fn newest<'a>(jobs: impl Iterator<Item = &'a Job>) -> Option<&'a Job> {
    jobs.max_by(|a, b| (started(a), &a.metadata.name).cmp(&(started(b), &b.metadata.name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, start: &str, status: serde_json::Value) -> Job {
        let mut status = status;
        status["startTime"] = serde_json::json!(start);
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": name },
            "status": status,
        }))
        .expect("a Job")
    }

    #[test]
    fn a_job_is_running_until_it_completes_or_fails() {
        let running = job(
            "a-1",
            "2026-11-26T10:00:00Z",
            serde_json::json!({ "active": 1 }),
        );
        assert_eq!(
            (run(&running).result, run(&running).finished_at),
            (RunResult::Running, None)
        );
        let done = job(
            "a-1",
            "2026-11-26T10:00:00Z",
            serde_json::json!({ "succeeded": 1, "completionTime": "2026-11-26T10:05:00Z" }),
        );
        assert_eq!(run(&done).result, RunResult::Success);
        assert!(run(&done).finished_at.is_some());
        let failed = job(
            "a-1",
            "2026-11-26T10:00:00Z",
            serde_json::json!({ "failed": 3, "conditions": [{
                "type": "Failed", "status": "True", "lastTransitionTime": "2026-11-26T10:06:00Z"
            }]}),
        );
        assert_eq!(run(&failed).result, RunResult::Failure);
        assert!(run(&failed).finished_at.is_some());
    }

    #[test]
    fn the_newest_job_is_the_one_started_last() {
        let jobs = [
            job("a-2", "2026-11-26T11:00:00Z", serde_json::json!({})),
            job("a-1", "2026-11-26T10:00:00Z", serde_json::json!({})),
        ];
        assert_eq!(
            newest(jobs.iter()).and_then(|j| j.metadata.name.as_deref()),
            Some("a-2")
        );
    }
}
