//! sha256 content digests in the OCI form `sha256:<64 lowercase hex digits>`.

use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

/// The OCI digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format_sha256(&Sha256::digest(bytes))
}

/// `sha256:<hex>` of a finished sha256 `hash`.
pub(super) fn format_sha256(hash: &[u8]) -> String {
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256:");
    for byte in hash.iter() {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Whether `digest` is a well-formed sha256 digest (safe to use as a file name).
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_nothing_is_the_well_known_sha256() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(is_sha256_digest(&sha256_digest(b"x")));
    }

    #[test]
    fn malformed_digests_are_recognised() {
        for bad in [
            "",
            "sha256:",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:../../../../etc/passwd",
        ] {
            assert!(!is_sha256_digest(bad), "{bad}");
        }
    }
}
