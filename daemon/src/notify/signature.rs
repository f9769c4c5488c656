//! HMAC-SHA256 (RFC 2104) over a webhook body, written out as `sha256=<hex>` the way
//! GitHub's `X-Hub-Signature-256` is. ring computes it: rustls already builds it, and
//! `dk sign` verifies signatures with it.

use ring::hmac;

/// The `X-DataKit-Signature` header value for `body` under `key`.
pub fn header(key: &[u8], body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), body);
    let hex: String = tag
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_rfc_4231_test_cases() {
        assert_eq!(
            header(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            header(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
