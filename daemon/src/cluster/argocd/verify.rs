//! Verification runs on Argo CD: a Kubernetes Job made from the `job:` template of the
//! verification definition, named after the run and created in the environment's
//! namespace, labelled with the package, the environment and the run (so the Jobs watch
//! sees it and `dk logs --verify` reads its pods). Kubernetes does the timing:
//! `backoffLimit` is the retries, `activeDeadlineSeconds` the timeout times the attempts.

use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::api::{Api, PostParams};
use tokio_stream::StreamExt;

use super::{ArgoCdCluster, LABEL_ENVIRONMENT, LABEL_PACKAGE, cache::Cache, job, logs};
use crate::promotion::ports::{
    RunLogLine, RunLogOptions, RunResult, VerificationOutcome, VerificationRequest,
    VerificationRunner,
};

/// Label naming the verification run, on verification Jobs (absent on other Jobs).
pub const LABEL_VERIFICATION: &str = "datakit.infoblox.dev/verification";

/// The most log lines `dk logs --verify` gets from a verification Job.
const MAX_LINES: usize = 10_000;

/// Whether `job` is a verification run (never a package's Last Run).
pub fn is_verification(job: &Job) -> bool {
    job.metadata
        .labels
        .as_ref()
        .is_some_and(|labels| labels.contains_key(LABEL_VERIFICATION))
}

/// The Job `request` creates in `namespace` from its definition's `job:` template.
fn job_of(request: &VerificationRequest, namespace: &str) -> Result<Job, String> {
    let Some(template) = request.definition.job.clone() else {
        return Err(
            "the verification definition has no job: template, which Argo CD needs (command: runs only on the embedded target)"
                .into(),
        );
    };
    let mut object = template;
    object["apiVersion"] = "batch/v1".into();
    object["kind"] = "Job".into();
    object["metadata"]["name"] = request.run.clone().into();
    object["metadata"]["namespace"] = namespace.into();
    let labels = &mut object["metadata"]["labels"];
    labels[LABEL_PACKAGE] = request.package.clone().into();
    labels[LABEL_ENVIRONMENT] = request.environment.clone().into();
    labels[LABEL_VERIFICATION] = request.run.clone().into();
    let attempts = u64::from(request.retries) + 1;
    object["spec"]["backoffLimit"] = request.retries.into();
    object["spec"]["activeDeadlineSeconds"] = (request.timeout.as_secs().max(1) * attempts).into();
    serde_json::from_value(object)
        .map_err(|error| format!("the job: template is not a Job: {error}"))
}

fn verification_job(cache: &Cache, environment: &str, run: &str) -> Option<Job> {
    cache.jobs.get(environment)?.get(run).cloned()
}

fn newest_verification(cache: &Cache, environment: &str, package: &str) -> Option<String> {
    let jobs = cache.jobs.get(environment)?;
    job::newest(jobs.values().filter(|j| {
        is_verification(j)
            && j.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_PACKAGE))
                .is_some_and(|p| p == package)
    }))
    .and_then(|j| j.metadata.name.clone())
}

#[async_trait::async_trait]
impl VerificationRunner for ArgoCdCluster {
    async fn poll(&self, request: &VerificationRequest) -> VerificationOutcome {
        let Some(binding) = self.inner.environments().remove(&request.environment) else {
            return VerificationOutcome::Failed(format!(
                "{} has no cluster binding in dkd.yaml",
                request.environment
            ));
        };
        let known = match self.cache() {
            Ok(cache) => verification_job(&cache, &request.environment, &request.run),
            Err(_) => return VerificationOutcome::Running,
        };
        if let Some(found) = known {
            let see = format!(
                "see dk logs {} --env {} --verify",
                request.package, request.environment
            );
            return match job::run(&found).result {
                RunResult::Running => VerificationOutcome::Running,
                RunResult::Success => VerificationOutcome::Passed(format!(
                    "verification run {} passed (Job {} in {})",
                    request.run, request.run, binding.namespace
                )),
                RunResult::Failure => VerificationOutcome::Failed(format!(
                    "verification run {} failed: Job {} in {} failed; {see}",
                    request.run, request.run, binding.namespace
                )),
            };
        }
        let created = match job_of(request, &binding.namespace) {
            Ok(created) => created,
            Err(why) => {
                return VerificationOutcome::Failed(format!(
                    "verification run {} cannot start: {why}",
                    request.run
                ));
            }
        };
        let Ok(Some(client)) = self.client(&binding.cluster) else {
            return VerificationOutcome::Running;
        };
        let jobs: Api<Job> = Api::namespaced(client, &binding.namespace);
        match jobs.create(&PostParams::default(), &created).await {
            Ok(_) => {}
            // Created before (e.g. before a restart): the watch reports it.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(error) => {
                tracing::warn!(%error, run = %request.run, "cannot create the verification Job; retrying");
            }
        }
        VerificationOutcome::Running
    }

    async fn logs(&self, environment: &str, package: &str) -> Option<(String, Vec<RunLogLine>)> {
        let binding = self.inner.environments().remove(environment)?;
        let client = self.client(&binding.cluster).ok()??;
        let run = newest_verification(&*self.cache().ok()?, environment, package)?;
        let pods: Api<Pod> = Api::namespaced(client, &binding.namespace);
        let stream = logs::job_logs(pods, &run, RunLogOptions::default())
            .await
            .ok()?;
        let lines: Vec<RunLogLine> = stream
            .take(MAX_LINES)
            .filter_map(Result::ok)
            .collect()
            .await;
        Some((run, lines))
    }
}
