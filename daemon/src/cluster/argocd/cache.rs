//! What the Argo CD watches have seen — Applications per cluster, Jobs per environment —
//! and how each change is recorded and announced with the environments it touched.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, RwLock},
};

use k8s_openapi::api::batch::v1::Job;
use kube::api::DynamicObject;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{ClusterAccess, EnvironmentBinding, LABEL_ENVIRONMENT, LABEL_PACKAGE, watch::Change};
use crate::promotion::ports::ClusterError;

/// What the watches have seen.
#[derive(Default)]
pub(super) struct Cache {
    /// cluster → Application name → Application.
    pub(super) applications: BTreeMap<String, BTreeMap<String, DynamicObject>>,
    /// environment → Job name → Job.
    pub(super) jobs: BTreeMap<String, BTreeMap<String, Job>>,
}

/// What the backend and its watch tasks share.
pub(super) struct Inner {
    pub(super) access: BTreeMap<String, ClusterAccess>,
    /// cluster → its client, once connected.
    pub(super) clusters: RwLock<BTreeMap<String, kube::Client>>,
    pub(super) environments: RwLock<BTreeMap<String, EnvironmentBinding>>,
    /// (environment, namespace) pairs whose Jobs are watched.
    pub(super) job_watches: Mutex<BTreeSet<(String, String)>>,
    pub(super) cache: RwLock<Cache>,
    pub(super) changes: broadcast::Sender<String>,
    pub(super) shutdown: CancellationToken,
}

pub(super) fn poisoned() -> ClusterError {
    ClusterError::Unavailable("Argo CD cache poisoned; restart dkd".into())
}

/// The (environment, package) an Application is for: its labels, else its name
/// `<env>-<package>` for an environment of `cluster`.
pub(super) fn identify(
    environments: &BTreeMap<String, EnvironmentBinding>,
    cluster: &str,
    app: &DynamicObject,
) -> Option<(String, String)> {
    let of_cluster = |env: &str| environments.get(env).is_some_and(|b| b.cluster == cluster);
    let labels = app.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key));
    if let (Some(env), Some(package)) = (label(LABEL_ENVIRONMENT), label(LABEL_PACKAGE)) {
        return of_cluster(env).then(|| (env.clone(), package.clone()));
    }
    let name = app.metadata.name.as_deref()?;
    environments
        .values()
        .filter(|b| b.cluster == cluster)
        .filter_map(|b| {
            let package = name.strip_prefix(&b.environment)?.strip_prefix('-')?;
            (!package.is_empty()).then(|| (b.environment.clone(), package.to_owned()))
        })
        .max_by_key(|(env, _)| env.len())
}

fn name_of(metadata: &kube::api::ObjectMeta) -> String {
    metadata.name.clone().unwrap_or_default()
}

impl Inner {
    pub(super) fn environments(&self) -> BTreeMap<String, EnvironmentBinding> {
        self.environments
            .read()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    pub(super) fn announce(&self, mut touched: Vec<String>) {
        touched.sort();
        touched.dedup();
        for environment in touched {
            let _ = self.changes.send(environment);
        }
    }

    /// Records a change to `cluster`'s Applications and announces the environments touched.
    pub(super) fn applications_changed(&self, cluster: &str, change: Change<DynamicObject>) {
        let environments = self.environments();
        let who = |app: &DynamicObject| identify(&environments, cluster, app).map(|i| i.0);
        let mut touched = Vec::new();
        {
            let Ok(mut cache) = self.cache.write() else {
                return;
            };
            let apps = cache.applications.entry(cluster.to_owned()).or_default();
            match change {
                Change::Replace(all) => {
                    apps.clear();
                    apps.extend(all.into_iter().map(|a| (name_of(&a.metadata), a)));
                    touched.extend(
                        environments
                            .values()
                            .filter(|b| b.cluster == cluster)
                            .map(|b| b.environment.clone()),
                    );
                }
                Change::Apply(app) => {
                    touched.extend(who(&app));
                    if let Some(old) = apps.insert(name_of(&app.metadata), app) {
                        touched.extend(who(&old));
                    }
                }
                Change::Delete(app) => {
                    apps.remove(&name_of(&app.metadata));
                    touched.extend(who(&app));
                }
            }
        }
        self.announce(touched);
    }

    /// Records a change to `environment`'s Jobs and announces it.
    pub(super) fn jobs_changed(&self, environment: &str, change: Change<Job>) {
        {
            let Ok(mut cache) = self.cache.write() else {
                return;
            };
            let jobs = cache.jobs.entry(environment.to_owned()).or_default();
            match change {
                Change::Replace(all) => {
                    jobs.clear();
                    jobs.extend(all.into_iter().map(|j| (name_of(&j.metadata), j)));
                }
                Change::Apply(job) => {
                    jobs.insert(name_of(&job.metadata), job);
                }
                Change::Delete(job) => {
                    jobs.remove(&name_of(&job.metadata));
                }
            }
        }
        self.announce(vec![environment.to_owned()]);
    }
}
