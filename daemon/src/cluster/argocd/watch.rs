//! Following a kind of object with `kube::runtime::watcher`, which resumes from the last
//! resourceVersion, takes bookmarks, relists on 410 Gone and backs off on disconnect.
//! Each change is handed on whole: a relist as the complete new set, otherwise one object.

use std::fmt::Debug;

use futures::StreamExt;
use kube::{
    Api, Resource,
    runtime::{WatchStreamExt, watcher},
};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// One change to a watched set of objects.
#[derive(Debug)]
pub enum Change<K> {
    /// The whole set, after a (re)list.
    Replace(Vec<K>),
    /// An object was added or modified.
    Apply(K),
    /// An object was deleted.
    Delete(K),
}

/// Follows `api` until `shutdown`, calling `on_change` for every change.
pub async fn follow<K>(
    api: Api<K>,
    config: watcher::Config,
    what: String,
    shutdown: CancellationToken,
    mut on_change: impl FnMut(Change<K>) + Send,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut listing: Option<Vec<K>> = None;
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            None => return,
            Some(Err(error)) => {
                tracing::warn!(%error, %what, "watch interrupted; retrying with backoff");
            }
            Some(Ok(watcher::Event::Init)) => listing = Some(Vec::new()),
            Some(Ok(watcher::Event::InitApply(object))) => {
                listing.get_or_insert_with(Vec::new).push(object);
            }
            Some(Ok(watcher::Event::InitDone)) => {
                on_change(Change::Replace(listing.take().unwrap_or_default()));
                tracing::debug!(%what, "listed");
            }
            Some(Ok(watcher::Event::Apply(object))) => on_change(Change::Apply(object)),
            Some(Ok(watcher::Event::Delete(object))) => on_change(Change::Delete(object)),
        }
    }
}
