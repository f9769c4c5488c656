//! dkd replicas talking to each other (`ha:` in `dkd.yaml`) over the peers listener,
//! mTLS with replica certificates: followers forward calls that change something to the
//! leader with the caller's identity (`forward`), and copy the leader's event log
//! (`mirror`).

mod forward;
mod mirror;
mod principal;

pub use forward::{ForwardLayer, LeaderLink, PeerTlsError};
pub use mirror::{MirrorSource, follow_leader_log};
pub use principal::{FORWARDED_PRINCIPAL, ReplicaOnlyLayer};
