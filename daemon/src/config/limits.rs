//! `listen.limits:` of `dkd.yaml`: what one caller may take from a shared dkd on the network
//! listener — message size, streams per HTTP/2 connection, the time a unary call may run,
//! Watch and Logs streams per principal. The local socket has none of these caps.

use serde::Deserialize;

/// `listen.limits:` as written; every key has a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenLimits {
    /// The largest request or response message, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Streams (calls) open at once on one HTTP/2 connection, announced to clients.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// How long a unary call may run, in milliseconds (Watch and Logs streams are not cut).
    #[serde(default = "default_unary_deadline_ms")]
    pub unary_deadline_ms: u64,
    /// Watch and Logs streams one principal may have open at once.
    #[serde(default = "default_streams_per_principal")]
    pub streams_per_principal: usize,
}

fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}

fn default_max_concurrent_streams() -> u32 {
    100
}

fn default_unary_deadline_ms() -> u64 {
    30_000
}

fn default_streams_per_principal() -> usize {
    16
}

impl Default for ListenLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: default_max_message_bytes(),
            max_concurrent_streams: default_max_concurrent_streams(),
            unary_deadline_ms: default_unary_deadline_ms(),
            streams_per_principal: default_streams_per_principal(),
        }
    }
}

impl ListenLimits {
    /// The first key set to 0, which would refuse every call.
    pub fn zero_key(&self) -> Option<&'static str> {
        [
            ("limits.max_message_bytes", self.max_message_bytes == 0),
            (
                "limits.max_concurrent_streams",
                self.max_concurrent_streams == 0,
            ),
            ("limits.unary_deadline_ms", self.unary_deadline_ms == 0),
            (
                "limits.streams_per_principal",
                self.streams_per_principal == 0,
            ),
        ]
        .into_iter()
        .find_map(|(key, zero)| zero.then_some(key))
    }
}
