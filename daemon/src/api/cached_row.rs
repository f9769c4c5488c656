//! One precomputed row of a `Status` answer: a package in one environment, converted and
//! encoded once, with the soak's stable parts kept apart so that only the clock-dependent
//! fields ("promotable at", "now") are made per call. Rows are answered as messages or, on
//! dkd's servers, as bytes copied into the response (`answer_encoded`).

use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};
use datakit::proto;
use prost::{
    Message,
    encoding::{WireType, encode_key, encode_varint, message},
};

use super::{access::Reader, encoded::Encoded};
use crate::promotion::Promotable;

/// `StatusResponse.packages` and `StatusResponse.revision` (proto/datakit/v1/status.proto);
/// a test decodes the bytes made with them.
const PACKAGES_FIELD: u32 = 1;
const REVISION_FIELD: u32 = 2;
/// `PackageStatus.promotable`.
const PROMOTABLE_FIELD: u32 = 14;

/// What of a row's promotable version depends on the clock: when the engine found it
/// promotable (or finds it, once its soak ends), and whether anything blocks it.
#[derive(Debug, Clone, Copy)]
struct Soak {
    /// When it became (or becomes) promotable; `None` while not Healthy upstream.
    ready_at: Option<SystemTime>,
    blocked: bool,
}

impl Soak {
    /// The promotable's clock-dependent fields as `Status` shows them at `now`: the
    /// engine's "at" is never earlier than its clock.
    fn at(self, now: SystemTime) -> proto::Promotable {
        let at = self.ready_at.map(|ready| ready.max(now));
        proto::Promotable {
            at: at.map(prost_types::Timestamp::from),
            now: !self.blocked && at.is_some_and(|at| at <= now),
            ..Default::default()
        }
    }
}

/// The promotable's fields that do not depend on the clock.
fn stable_fields(promotable: &Promotable) -> proto::Promotable {
    proto::Promotable {
        version: promotable.version.clone(),
        from_environment: promotable.from.clone(),
        blocked: promotable.blocked.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// One row of a package's table, encoded once but for the clock-dependent promotable
/// fields: one allocation per row, which matters with 300,000 rows cached.
#[derive(Debug, Clone)]
pub struct CachedRow {
    /// The row's environment name, then its status (hold included) encoded, and after
    /// that, when the row has a promotable version, the stable fields of that promotable
    /// (as a second `promotable` field, which a decoder merges with the one added per
    /// call).
    bytes: Bytes,
    /// The length of the environment name at the start of `bytes`.
    environment_len: usize,
    soak: Option<Soak>,
}

impl CachedRow {
    /// A row from its converted status (hold included) and the engine's promotable.
    pub fn new(status: proto::PackageStatus, promotable: Option<Promotable>) -> Self {
        let status = proto::PackageStatus {
            promotable: promotable.as_ref().map(stable_fields),
            ..status
        };
        let environment = status.environment.as_bytes();
        let mut bytes = Vec::with_capacity(environment.len() + status.encoded_len());
        bytes.extend_from_slice(environment);
        status.encode_raw(&mut bytes);
        Self {
            bytes: bytes.into(),
            environment_len: environment.len(),
            soak: promotable.map(|promotable| Soak {
                ready_at: promotable.at,
                blocked: promotable.blocked.is_some(),
            }),
        }
    }

    fn environment(&self) -> &str {
        // Copied from a `String`: always UTF-8.
        std::str::from_utf8(&self.bytes[..self.environment_len]).unwrap_or_default()
    }

    /// The stored encoding: the status and the promotable's stable fields.
    fn encoded(&self) -> &[u8] {
        &self.bytes[self.environment_len..]
    }

    /// Appends the row as `Status` answers it at `now` to `out`, as one entry of a
    /// `StatusResponse`'s packages: the stored encoding, then the promotable's
    /// clock-dependent fields (an embedded message given twice is the two merged).
    fn encode_entry(&self, now: SystemTime, out: &mut BytesMut) {
        let soak = self.soak.map(|soak| soak.at(now));
        let soak_len = soak
            .as_ref()
            .map_or(0, |soak| message::encoded_len(PROMOTABLE_FIELD, soak));
        encode_key(PACKAGES_FIELD, WireType::LengthDelimited, out);
        encode_varint((self.encoded().len() + soak_len) as u64, out);
        out.put_slice(self.encoded());
        if let Some(soak) = soak {
            message::encode(PROMOTABLE_FIELD, &soak, out);
        }
    }
}

/// A row as `Status` answers it at `now`, from its converted status and the engine's
/// promotable (what a [`CachedRow`] keeps, for an answer made once).
pub fn rendered(
    status: proto::PackageStatus,
    promotable: Option<Promotable>,
    now: SystemTime,
) -> proto::PackageStatus {
    proto::PackageStatus {
        promotable: promotable.map(|promotable| {
            let soak = Soak {
                ready_at: promotable.at,
                blocked: promotable.blocked.is_some(),
            }
            .at(now);
            proto::Promotable {
                at: soak.at,
                now: soak.now,
                ..stable_fields(&promotable)
            }
        }),
        ..status
    }
}

/// The `StatusResponse` of the rows `reader` may read (of `environment` only, if given) as
/// `Status` answers at `now`, encoded: each row's stored bytes copied, only the promotable
/// fields encoded per call.
pub fn answer_encoded(
    rows: &[CachedRow],
    environment: Option<&str>,
    reader: &Reader,
    package: &str,
    now: SystemTime,
    revision: &str,
) -> Encoded {
    let mut out = BytesMut::with_capacity(
        rows.iter()
            .map(|row| row.encoded().len() + 96)
            .sum::<usize>()
            + revision.len()
            + 8,
    );
    for row in rows
        .iter()
        .filter(|row| environment.is_none_or(|environment| row.environment() == environment))
        .filter(|row| reader.may_read(row.environment(), package))
    {
        row.encode_entry(now, &mut out);
    }
    // proto3 leaves an empty string out.
    if !revision.is_empty() {
        encode_key(REVISION_FIELD, WireType::LengthDelimited, &mut out);
        encode_varint(revision.len() as u64, &mut out);
        out.put_slice(revision.as_bytes());
    }
    Encoded::from_bytes(out.freeze())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use std::sync::Arc;

    use super::*;
    use crate::{
        api::access::Access,
        auth::Principal,
        promotion::{EnvironmentCatalog, ports::GroupSource},
        store::MemoryStore,
    };

    fn soak(at: Option<SystemTime>, blocked: bool) -> Soak {
        Soak {
            ready_at: at,
            blocked,
        }
    }

    #[test]
    fn a_soak_that_ends_later_reads_as_its_end_and_one_that_ended_reads_as_now() {
        let epoch = SystemTime::UNIX_EPOCH;
        let ready = epoch + Duration::from_secs(600);
        let early = soak(Some(ready), false).at(epoch + Duration::from_secs(60));
        assert_eq!(early.at, Some(prost_types::Timestamp::from(ready)));
        assert!(!early.now);
        let late_now = epoch + Duration::from_secs(900);
        let late = soak(Some(ready), false).at(late_now);
        assert_eq!(late.at, Some(prost_types::Timestamp::from(late_now)));
        assert!(late.now);
    }

    #[test]
    fn a_blocked_or_unhealthy_upstream_version_is_never_promotable_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(900);
        assert!(!soak(Some(SystemTime::UNIX_EPOCH), true).at(now).now);
        let unhealthy = soak(None, false).at(now);
        assert!(!unhealthy.now);
        assert_eq!(unhealthy.at, None);
    }

    fn parts(
        environment: &str,
        promotable: Option<Promotable>,
    ) -> (proto::PackageStatus, Option<Promotable>) {
        let status = proto::PackageStatus {
            package: "pkg".into(),
            environment: environment.into(),
            version: "1.0.0".into(),
            digest: "sha256:abc".into(),
            message: "Healthy".into(),
            ..Default::default()
        };
        (status, promotable)
    }

    #[test]
    fn the_encoded_answer_decodes_to_the_answer_made_of_messages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(900);
        let soaking = Promotable {
            version: "1.1.0".into(),
            from: "dev".into(),
            at: Some(now + Duration::from_secs(60)),
            blocked: None,
            now: false,
        };
        let parts = [
            parts("dev", None),
            parts("int", Some(soaking)),
            parts(
                "prod",
                Some(Promotable {
                    version: "1.0.1".into(),
                    from: "int".into(),
                    at: Some(now),
                    blocked: Some("failed verification".into()),
                    now: false,
                }),
            ),
        ];
        let rows: Vec<CachedRow> = parts
            .iter()
            .map(|(status, promotable)| CachedRow::new(status.clone(), promotable.clone()))
            .collect();
        let catalog =
            EnvironmentCatalog::from_store(&MemoryStore::default(), GroupSource::TeamsFile);
        let reader = Access::new(Arc::new(catalog)).reader(Principal::local("alice".into()));
        for revision in ["c0ffee", ""] {
            for environment in [None, Some("int"), Some("prod"), Some("qa")] {
                let encoded = answer_encoded(&rows, environment, &reader, "pkg", now, revision);
                let expected = proto::StatusResponse {
                    packages: parts
                        .iter()
                        .filter(|(status, _)| environment.is_none_or(|e| status.environment == e))
                        .map(|(status, promotable)| {
                            rendered(status.clone(), promotable.clone(), now)
                        })
                        .collect(),
                    revision: revision.into(),
                };
                assert_eq!(encoded.decode::<proto::StatusResponse>(), Ok(expected));
            }
        }
        let int = answer_encoded(&rows, Some("int"), &reader, "pkg", now, "c0ffee")
            .decode::<proto::StatusResponse>()
            .expect("decodes");
        assert_eq!(
            int.packages[0]
                .promotable
                .as_ref()
                .map(|p| p.version.as_str()),
            Some("1.1.0"),
            "the promotable field is in the row"
        );
        let prod = answer_encoded(&rows, Some("prod"), &reader, "pkg", now, "c0ffee")
            .decode::<proto::StatusResponse>()
            .expect("decodes");
        let blocked = prod.packages[0].promotable.clone().unwrap_or_default();
        assert_eq!(
            (blocked.version.as_str(), blocked.blocked.as_str()),
            ("1.0.1", "failed verification"),
            "the stable fields and the clock's are one promotable"
        );
        assert_eq!(blocked.at, Some(prost_types::Timestamp::from(now)));
        assert!(!blocked.now, "a blocked version is not promotable now");
    }
}
