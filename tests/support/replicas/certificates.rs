//! The certificates replicas and their clients share: a server CA and the listeners'
//! certificate, a client CA and one client certificate per user of `USERS`, a replica CA
//! and the replicas' peer certificate, in one temporary folder.

use std::{collections::BTreeMap, path::PathBuf};

use crate::support::certificates::{PemPair, TestCa};

use super::{REPLICA_SERVER_NAME, USERS};

/// The certificates every replica and client shares, in one folder.
pub struct Certificates {
    pub dir: tempfile::TempDir,
    /// Trusted by clients for the replicas' listeners.
    pub server_ca: PathBuf,
    /// Trusted by the listeners for client certificates.
    pub client_ca: PathBuf,
    /// Trusted by replicas for each other.
    pub replica_ca: PathBuf,
    pub server: PemPair,
    pub replica: PemPair,
    pub clients: BTreeMap<String, PemPair>,
}

impl Certificates {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir for certificates");
        let path = dir.path();
        let server_ca = TestCa::new("dkd server CA");
        let client_ca = TestCa::new("dkd client CA");
        let replica_ca = TestCa::new("dkd replica CA");
        let clients = USERS
            .iter()
            .map(|(user, group)| {
                (
                    (*user).to_owned(),
                    client_ca.client(path, user, user, group),
                )
            })
            .collect();
        Self {
            server_ca: server_ca.write(&path.join("server-ca.pem")),
            client_ca: client_ca.write(&path.join("client-ca.pem")),
            replica_ca: replica_ca.write(&path.join("replica-ca.pem")),
            server: server_ca.server(path, "server", "dkd"),
            replica: replica_ca.peer(path, "replica", REPLICA_SERVER_NAME),
            clients,
            dir,
        }
    }

    pub fn client(&self, user: &str) -> &PemPair {
        self.clients
            .get(user)
            .unwrap_or_else(|| panic!("{user} has no client certificate; see USERS"))
    }
}
