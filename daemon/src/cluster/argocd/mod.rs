//! Argo CD as the cluster backend: per environment, the package's `Application`
//! (`applications.argoproj.io/v1alpha1` in the Argo CD namespace) gives sync, health and
//! the sync log; the newest Job labelled with the package in the environment's namespace is
//! its Last Run, and its pods' logs are the run logs. Everything is watched into memory;
//! every change is announced on `changes()` with the environment it touched.

mod application;
mod cache;
mod connect;
mod job;
mod logs;
mod verify;
mod watch;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
};

use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind},
    runtime::watcher,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::promotion::ports::{
    ClusterError, ClusterStatus, PackageSync, RunLogOptions, RunLogStream, SyncLogLine,
};
use cache::{Cache, Inner, identify, poisoned};

/// Label naming the package, on Applications and Jobs.
pub const LABEL_PACKAGE: &str = "datakit.infoblox.dev/package";
pub use verify::LABEL_VERIFICATION;
/// Label naming the environment, on Applications (and verification Jobs).
pub const LABEL_ENVIRONMENT: &str = "datakit.infoblox.dev/environment";
/// Annotations the ApplicationSet copies from the deployed manifest (with its
/// `ANNOTATION_PROMOTION_ID`).
pub const ANNOTATION_VERSION: &str = "datakit.infoblox.dev/version";
pub const ANNOTATION_DIGEST: &str = "datakit.infoblox.dev/digest";
pub use datakit::manifest::ANNOTATION_PROMOTION_ID;

/// How to reach one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    pub kubeconfig: PathBuf,
    /// The kubeconfig context; `None` = its current context.
    pub context: Option<String>,
    /// Where Argo CD keeps its Applications.
    pub argocd_namespace: String,
}

/// One environment: the cluster (a key of the clusters map) and namespace it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentBinding {
    pub environment: String,
    pub cluster: String,
    pub namespace: String,
}

/// The Argo CD cluster backend.
pub struct ArgoCdCluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ArgoCdCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArgoCdCluster")
            .field("clusters", &self.inner.access.keys())
            .finish_non_exhaustive()
    }
}

fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

impl ArgoCdCluster {
    /// A backend for the clusters of `access`, watching the Applications and Jobs of
    /// `environments` until `shutdown`.
    pub async fn start(
        access: BTreeMap<String, ClusterAccess>,
        environments: Vec<EnvironmentBinding>,
        shutdown: CancellationToken,
    ) -> Result<Self, ClusterError> {
        let (changes, _) = broadcast::channel(1024);
        let this = Self {
            inner: Arc::new(Inner {
                access,
                clusters: RwLock::default(),
                environments: RwLock::default(),
                job_watches: Mutex::default(),
                cache: RwLock::default(),
                changes,
                shutdown,
            }),
        };
        this.bind(environments).await?;
        Ok(this)
    }

    /// The environments whose status changed, as they change. A receiver that lags should
    /// re-read every environment.
    pub fn changes(&self) -> broadcast::Receiver<String> {
        self.inner.changes.subscribe()
    }

    /// Makes `environments` the environments reported (e.g. after the configuration
    /// changed): connects to clusters not yet connected and watches what is new. Every
    /// environment is announced as changed.
    pub async fn bind(&self, environments: Vec<EnvironmentBinding>) -> Result<(), ClusterError> {
        let inner = &self.inner;
        for binding in &environments {
            let connected = inner
                .clusters
                .read()
                .map_err(|_| poisoned())?
                .contains_key(&binding.cluster);
            if connected {
                continue;
            }
            let access = inner.access.get(&binding.cluster).ok_or_else(|| {
                ClusterError::Unavailable(format!(
                    "environment {} runs on cluster {:?}, which dkd.yaml does not list under clusters:; add it",
                    binding.environment, binding.cluster
                ))
            })?;
            let client = connect::client(&access.kubeconfig, access.context.as_deref()).await?;
            self.watch_applications(&binding.cluster, &client, &access.argocd_namespace);
            inner
                .clusters
                .write()
                .map_err(|_| poisoned())?
                .insert(binding.cluster.clone(), client);
        }
        *inner.environments.write().map_err(|_| poisoned())? = environments
            .iter()
            .map(|b| (b.environment.clone(), b.clone()))
            .collect();
        for binding in &environments {
            let key = (binding.environment.clone(), binding.namespace.clone());
            let new = inner
                .job_watches
                .lock()
                .map_err(|_| poisoned())?
                .insert(key);
            if new && let Some(client) = self.client(&binding.cluster)? {
                self.watch_jobs(&binding.environment, client, &binding.namespace);
            }
        }
        inner.announce(environments.into_iter().map(|b| b.environment).collect());
        Ok(())
    }

    fn client(&self, cluster: &str) -> Result<Option<kube::Client>, ClusterError> {
        Ok(self
            .inner
            .clusters
            .read()
            .map_err(|_| poisoned())?
            .get(cluster)
            .cloned())
    }

    fn watch_applications(&self, cluster: &str, client: &kube::Client, namespace: &str) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &application_resource());
        let inner = self.inner.clone();
        let cluster = cluster.to_owned();
        let what = format!("Applications in {namespace} on {cluster}");
        tokio::spawn(watch::follow(
            api,
            watcher::Config::default(),
            what,
            self.inner.shutdown.clone(),
            move |change| inner.applications_changed(&cluster, change),
        ));
    }

    fn watch_jobs(&self, environment: &str, client: kube::Client, namespace: &str) {
        let api: Api<Job> = Api::namespaced(client, namespace);
        let inner = self.inner.clone();
        let environment = environment.to_owned();
        let what = format!("Jobs in {namespace} for {environment}");
        tokio::spawn(watch::follow(
            api,
            watcher::Config::default().labels(LABEL_PACKAGE),
            what,
            self.inner.shutdown.clone(),
            move |change| inner.jobs_changed(&environment, change),
        ));
    }

    /// The newest Job of `package` in `environment`.
    fn newest_job(cache: &Cache, environment: &str, package: &str) -> Option<Job> {
        let jobs = cache.jobs.get(environment)?;
        job::newest(jobs.values().filter(|j| {
            !verify::is_verification(j)
                && j.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_PACKAGE))
                    .is_some_and(|p| p == package)
        }))
        .cloned()
    }

    /// Every (package, Application) of `environment`, by package.
    fn applications(&self, cache: &Cache, environment: &str) -> BTreeMap<String, DynamicObject> {
        let environments = self.inner.environments();
        let Some(binding) = environments.get(environment) else {
            return BTreeMap::new();
        };
        let mut found = BTreeMap::new();
        for app in cache
            .applications
            .get(&binding.cluster)
            .map(BTreeMap::values)
            .into_iter()
            .flatten()
        {
            if let Some((env, package)) = identify(&environments, &binding.cluster, app)
                && env == environment
            {
                found.entry(package).or_insert_with(|| app.clone());
            }
        }
        found
    }

    fn status_of(
        cache: &Cache,
        environment: &str,
        package: &str,
        app: &DynamicObject,
    ) -> PackageSync {
        let run = Self::newest_job(cache, environment, package).map(|j| job::run(&j));
        application::package_sync(environment, package, app, run)
    }

    fn cache(&self) -> Result<std::sync::RwLockReadGuard<'_, Cache>, ClusterError> {
        self.inner.cache.read().map_err(|_| poisoned())
    }
}

#[async_trait::async_trait]
impl ClusterStatus for ArgoCdCluster {
    fn describe(&self) -> String {
        let clusters: Vec<&str> = self.inner.access.keys().map(String::as_str).collect();
        format!("Argo CD on {}", clusters.join(", "))
    }

    async fn package_status(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Option<PackageSync>, ClusterError> {
        let cache = self.cache()?;
        Ok(self
            .applications(&cache, environment)
            .get(package)
            .map(|app| Self::status_of(&cache, environment, package, app)))
    }

    async fn environment_status(
        &self,
        environment: &str,
    ) -> Result<Vec<PackageSync>, ClusterError> {
        let cache = self.cache()?;
        Ok(self
            .applications(&cache, environment)
            .iter()
            .map(|(package, app)| Self::status_of(&cache, environment, package, app))
            .collect())
    }

    async fn sync_log(
        &self,
        environment: &str,
        package: &str,
    ) -> Result<Vec<SyncLogLine>, ClusterError> {
        let cache = self.cache()?;
        Ok(self
            .applications(&cache, environment)
            .get(package)
            .map(application::sync_log)
            .unwrap_or_default())
    }

    async fn run_logs(
        &self,
        environment: &str,
        package: &str,
        options: RunLogOptions,
    ) -> Result<Option<RunLogStream>, ClusterError> {
        let Some(binding) = self.inner.environments().remove(environment) else {
            return Ok(None);
        };
        let Some(client) = self.client(&binding.cluster)? else {
            return Ok(None);
        };
        let job = Self::newest_job(&*self.cache()?, environment, package);
        let Some(name) = job.and_then(|j| j.metadata.name) else {
            return Ok(None);
        };
        let pods: Api<Pod> = Api::namespaced(client, &binding.namespace);
        logs::job_logs(pods, &name, options).await.map(Some)
    }
}
