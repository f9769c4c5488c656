//! Who may write: with one dkd, always this one; with several replicas (`ha:` in
//! `dkd.yaml`), only the replica holding the lease, and only until its lease could have
//! expired elsewhere. The lease adapter moves the role; the engine, the event log and the
//! leader-only loops read it. A leader's right to write is fenced by a deadline on the
//! monotonic clock, so a replica that was stopped (or cut off) past its lease finds its
//! right lapsed the moment it runs again, before it learns who leads now.

use std::{future::Future, time::Duration};

use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;

/// The replica that leads, as followers learn it from the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderInfo {
    /// Its replica name (the lease's holder).
    pub replica: String,
    /// Where other replicas reach it (`HOST:PORT` of its peers listener).
    pub address: String,
}

/// This process's part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The only dkd: it always writes, in term 0.
    Alone,
    /// Holds the lease in `term` and may write until `until`.
    Leader { term: u64, until: Instant },
    /// Another replica leads (`None` while nobody does, or before the lease was read).
    Follower { leader: Option<LeaderInfo> },
}

/// The role of this process, shared by everything that writes.
#[derive(Debug)]
pub struct Leadership {
    role: watch::Sender<Role>,
}

impl Leadership {
    /// A dkd without replicas: always the writer.
    pub fn alone() -> Self {
        Self {
            role: watch::Sender::new(Role::Alone),
        }
    }

    /// A replica that starts as a follower until the lease says otherwise.
    pub fn replica() -> Self {
        Self {
            role: watch::Sender::new(Role::Follower { leader: None }),
        }
    }

    /// Whether this process runs replicated (as leader or follower).
    pub fn is_replicated(&self) -> bool {
        !matches!(*self.role.borrow(), Role::Alone)
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Changes of the role.
    pub fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Records that this replica holds the lease in `term` until `until` (a renewal moves
    /// `until` on, and tells nobody unless the right to write had lapsed meanwhile).
    pub fn lead(&self, term: u64, until: Instant) {
        self.role.send_if_modified(|role| {
            let was_writing = matches!(role, Role::Leader { term: t, until: u }
                if *t == term && Instant::now() < *u);
            *role = Role::Leader { term, until };
            !was_writing
        });
    }

    /// Records that `leader` (or nobody) holds the lease.
    pub fn follow(&self, leader: Option<LeaderInfo>) {
        self.role.send_if_modified(|role| {
            let next = Role::Follower { leader };
            let changed = *role != next;
            *role = next;
            changed
        });
    }

    /// The term to stamp on what is written now, if this process may write now: always
    /// for a lone dkd; for a replica, only while it holds an unexpired lease.
    pub fn writing_term(&self) -> Option<u64> {
        match *self.role.borrow() {
            Role::Alone => Some(0),
            Role::Leader { term, until } if Instant::now() < until => Some(term),
            _ => None,
        }
    }

    /// Whether this process may write now.
    pub fn may_write(&self) -> bool {
        self.writing_term().is_some()
    }

    /// The leader to forward writes to and mirror events from, when another replica leads.
    pub fn leader(&self) -> Option<LeaderInfo> {
        match &*self.role.borrow() {
            Role::Follower { leader } => leader.clone(),
            _ => None,
        }
    }

    /// Resolves once this process may write (at once for a lone dkd).
    async fn until_writer(&self, roles: &mut watch::Receiver<Role>) {
        loop {
            if self.may_write() {
                return;
            }
            if roles.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves once this process may no longer write: the lease passed to someone else,
    /// or its deadline went by without a renewal.
    async fn until_deposed(&self, roles: &mut watch::Receiver<Role>) {
        loop {
            let role = roles.borrow_and_update().clone();
            match role {
                Role::Alone => std::future::pending::<()>().await,
                Role::Leader { until, .. } => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {
                            if !self.may_write() {
                                return;
                            }
                        }
                        changed = roles.changed() => if changed.is_err() { return },
                    }
                }
                Role::Follower { .. } => return,
            }
        }
    }

    /// Runs `task` whenever this process leads, until `shutdown`: started when it gains the
    /// right to write, cancelled (through the token it is given) the moment it loses it,
    /// and started afresh in a later term. A lone dkd runs it once.
    pub async fn while_leading<F, T>(&self, name: &str, shutdown: CancellationToken, task: F)
    where
        F: Fn(CancellationToken) -> T,
        T: Future<Output = ()>,
    {
        let mut roles = self.subscribe();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.until_writer(&mut roles) => {}
            }
            let term = shutdown.child_token();
            if self.is_replicated() {
                tracing::info!(task = name, "leading: starting");
            }
            let run = task(term.clone());
            tokio::pin!(run);
            tokio::select! {
                () = &mut run => {
                    // It ended by itself: start it again in a moment, not in a tight loop.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(RESTART_PAUSE) => {}
                    }
                }
                () = self.until_deposed(&mut roles) => {
                    tracing::warn!(task = name, "lost leadership: stopping");
                    term.cancel();
                    // The task stops at its next await; it can no longer write meanwhile.
                    if tokio::time::timeout(STOP_GRACE, &mut run).await.is_err() {
                        tracing::warn!(task = name, "did not stop in time; abandoned");
                    }
                }
            }
            if shutdown.is_cancelled() || !self.is_replicated() {
                return;
            }
        }
    }
}

/// How long a leader-only task may take to stop once leadership is lost.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How long a leader-only task that ended by itself waits before it runs again.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_leader_stops_writing_when_its_deadline_passes_without_a_renewal() {
        let leadership = Leadership::replica();
        assert!(!leadership.may_write());
        leadership.lead(3, Instant::now() + Duration::from_secs(2));
        assert_eq!(leadership.writing_term(), Some(3));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(leadership.writing_term(), None);
        assert!(Leadership::alone().may_write());
    }

    #[tokio::test(start_paused = true)]
    async fn a_leader_only_task_runs_each_term_and_is_cancelled_when_leadership_lapses() {
        let leadership = Arc::new(Leadership::replica());
        let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let shutdown = CancellationToken::new();
        let runner = {
            let (leadership, starts, stops) = (leadership.clone(), starts.clone(), stops.clone());
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                leadership
                    .while_leading("test", shutdown, |stop| {
                        let (starts, stops) = (starts.clone(), stops.clone());
                        async move {
                            starts.fetch_add(1, Ordering::SeqCst);
                            stop.cancelled().await;
                            stops.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                    .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 0, "followers do not run it");
        leadership.lead(1, Instant::now() + Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(stops.load(Ordering::SeqCst), 1, "lapsed without renewal");
        leadership.lead(2, Instant::now() + Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            starts.load(Ordering::SeqCst),
            2,
            "a later term starts it afresh"
        );
        leadership.follow(None);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(stops.load(Ordering::SeqCst), 2, "stepping down stops it");
        shutdown.cancel();
        runner.await.expect("runner ends");
    }
}
