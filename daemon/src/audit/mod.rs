//! The audit log, `DK_HOME/audit.log`: one JSON line per mutating call and per denied or
//! unauthenticated call — who (principal, groups, how authenticated, from where), what
//! (RPC, package, environment, version, promotion), and the outcome. Appended and fsynced
//! through one writer, rotated by size (`audit.log.1` … `audit.log.N`), mode 0600. It never
//! holds a token or a secret: events are built from names, never from credentials.

mod event;
mod file;

pub use event::{AuditEvent, AuditFilter, Outcome, now_rfc3339};
pub use file::{AuditError, AuditLog, AuditSettings, Listed};
