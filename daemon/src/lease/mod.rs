//! Leader election on a Kubernetes `coordination.k8s.io/v1` Lease, for dkd replicas
//! (`ha.lease` in `dkd.yaml`). Every replica reads the Lease each `renew`; the holder
//! renews it, the others take it over once they have seen it unchanged for its whole
//! duration — each write a compare-and-swap on the Lease's `resourceVersion`, so two
//! replicas can never both believe they won. The leader's right to write ends a margin
//! before its lease could expire in anyone else's eyes (see `Leadership`), and its
//! address is on the Lease for followers to forward writes to and mirror events from.

mod record;

use std::{path::PathBuf, sync::Arc, time::Duration};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api,
    api::PostParams,
    config::{KubeConfigOptions, Kubeconfig},
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::promotion::{LeaderInfo, Leadership};
use record::{LeaseRecord, Observed};

/// How to reach the Lease and what to write in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// A kubeconfig file, or `None` for the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: String,
    pub name: String,
    /// The lease's duration (whole seconds, as the Lease records it).
    pub duration: Duration,
    /// How often the holder renews and the others look.
    pub renew: Duration,
    /// This replica's name (the holder identity).
    pub replica: String,
    /// Where other replicas reach this one.
    pub address: String,
}

impl LeaseSettings {
    /// How long this replica may write after a renewal began: the lease's duration less a
    /// margin for clocks that run at slightly different rates.
    fn right_to_write(&self) -> Duration {
        self.duration
            - (self.duration / 5)
                .max(Duration::from_millis(200))
                .min(self.renew)
    }
}

/// Why the Lease cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("ha.lease: cannot reach the Kubernetes API: {0}")]
    Connect(String),
    #[error("ha.lease: {0}")]
    Api(String),
}

async fn client(settings: &LeaseSettings) -> Result<kube::Client, LeaseError> {
    let config = match &settings.kubeconfig {
        None => kube::Config::infer().await.map_err(|e| {
            LeaseError::Connect(format!("{e}: outside a pod, set ha.lease.kubeconfig"))
        })?,
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                LeaseError::Connect(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            let options = KubeConfigOptions {
                context: settings.context.clone(),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| LeaseError::Connect(format!("kubeconfig {}: {e}", path.display())))?
        }
    };
    kube::Client::try_from(config).map_err(|e| LeaseError::Connect(e.to_string()))
}

/// What one look at the Lease concluded.
enum Outcome {
    Leading { term: u64 },
    Following(Option<LeaderInfo>),
}

/// Takes part in the election until `stop`, moving `leadership`; on `stop` a leader
/// steps down at once and hands the Lease back, so another replica need not wait for it
/// to expire.
pub async fn run(
    settings: LeaseSettings,
    leadership: Arc<Leadership>,
    stop: CancellationToken,
) -> Result<(), LeaseError> {
    let api: Api<Lease> = Api::namespaced(client(&settings).await?, &settings.namespace);
    let mut observed: Option<Observed> = None;
    let mut leading = false;
    loop {
        let started = Instant::now();
        match look(&api, &settings, &mut observed).await {
            Ok(Outcome::Leading { term }) => {
                if !leading {
                    tracing::info!(replica = %settings.replica, term, "leading");
                }
                leading = true;
                leadership.lead(term, started + settings.right_to_write());
            }
            Ok(Outcome::Following(leader)) => {
                if leading {
                    tracing::warn!(replica = %settings.replica, "lost leadership: another replica holds the lease");
                }
                leading = false;
                leadership.follow(leader);
            }
            // A leader that cannot renew keeps its deadline and so stops writing in time.
            Err(error) => tracing::warn!(%error, "cannot read or renew the lease"),
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(settings.renew) => {}
        }
    }
    leadership.follow(None);
    if leading {
        let released = tokio::time::timeout(Duration::from_secs(1), release(&api, &settings));
        match released.await {
            Ok(Ok(())) => tracing::info!("handed the lease back"),
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot hand the lease back; it expires by itself")
            }
            Err(_) => tracing::warn!("handing the lease back took too long; it expires by itself"),
        }
    }
    Ok(())
}

fn api_error(error: kube::Error) -> LeaseError {
    LeaseError::Api(error.to_string())
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

/// Reads the Lease once and renews it, takes it over or follows its holder.
async fn look(
    api: &Api<Lease>,
    settings: &LeaseSettings,
    observed: &mut Option<Observed>,
) -> Result<Outcome, LeaseError> {
    let Some(lease) = api.get_opt(&settings.name).await.map_err(api_error)? else {
        let fresh = LeaseRecord::claim(None, settings).into_lease(settings);
        return match api.create(&PostParams::default(), &fresh).await {
            Ok(_) => Ok(Outcome::Leading { term: 1 }),
            Err(error) if is_conflict(&error) => Ok(Outcome::Following(None)),
            Err(error) => Err(api_error(error)),
        };
    };
    let current = LeaseRecord::read(&lease);
    let now = Instant::now();
    let seen = Observed::note(observed.take(), &current, now);
    let expired = seen.unchanged_for(now) >= current.duration;
    *observed = Some(seen);
    let claim = if current.holder.as_deref() == Some(settings.replica.as_str()) {
        current.renewed(settings)
    } else if current.holder.is_none() || expired {
        LeaseRecord::claim(Some(&current), settings)
    } else {
        return Ok(Outcome::Following(current.leader()));
    };
    let term = claim.term();
    match api
        .replace(
            &settings.name,
            &PostParams::default(),
            &claim.into_lease(settings),
        )
        .await
    {
        Ok(_) => Ok(Outcome::Leading { term }),
        // Someone else wrote it first: look again next time.
        Err(error) if is_conflict(&error) => Ok(Outcome::Following(None)),
        Err(error) => Err(api_error(error)),
    }
}

/// Hands the Lease back: no holder, so the next replica to look takes it at once.
async fn release(api: &Api<Lease>, settings: &LeaseSettings) -> Result<(), LeaseError> {
    let Some(lease) = api.get_opt(&settings.name).await.map_err(api_error)? else {
        return Ok(());
    };
    let current = LeaseRecord::read(&lease);
    if current.holder.as_deref() != Some(settings.replica.as_str()) {
        return Ok(());
    }
    api.replace(
        &settings.name,
        &PostParams::default(),
        &current.released().into_lease(settings),
    )
    .await
    .map_err(api_error)?;
    Ok(())
}
