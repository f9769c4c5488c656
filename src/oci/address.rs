//! Where a remote registry is (`host[:port]/namespace`), when it is spoken to in plain HTTP
//! (loopback hosts, or when asked), and the OCI tag a package version is published under.

use std::{fmt, net::IpAddr};

/// A registry and the namespace packages are published under, e.g. `ghcr.io/acme`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAddress {
    host: String,
    namespace: Option<String>,
    plain_http: bool,
}

/// A registry address or tag that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error(
        "invalid registry {address:?} ({reason}): use host[:port]/namespace, e.g. ghcr.io/acme"
    )]
    Invalid { address: String, reason: String },
    #[error(
        "version {version:?} cannot be an OCI tag (at most 128 letters, digits, '.', '_', '-'; '+' becomes '_')"
    )]
    Tag { version: String },
}

impl RegistryAddress {
    /// Parses `host[:port][/namespace]`; an `http://` or `https://` prefix chooses the
    /// protocol. Plain HTTP is used when `plain_http` is set, for `http://`, and for loopback
    /// hosts without `https://`; HTTPS otherwise.
    pub fn parse(text: &str, plain_http: bool) -> Result<Self, AddressError> {
        let invalid = |reason: &str| AddressError::Invalid {
            address: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (Some(false), rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (Some(true), rest)
        } else if trimmed.contains("://") {
            return Err(invalid("only http:// and https:// are understood"));
        } else {
            (None, trimmed)
        };
        let rest = rest.trim_end_matches('/');
        let (host, namespace) = match rest.split_once('/') {
            Some((host, namespace)) => (host, Some(namespace)),
            None => (rest, None),
        };
        check_host(host).map_err(|reason| invalid(&reason))?;
        if let Some(namespace) = namespace {
            for component in namespace.split('/') {
                if !is_path_component(component) {
                    return Err(invalid(&format!(
                        "namespace component {component:?} must be lowercase letters and digits, separated by '.', '_' or '-'"
                    )));
                }
            }
        }
        let host = host.to_ascii_lowercase();
        let plain_http = plain_http || scheme.unwrap_or_else(|| is_loopback_host(&host));
        Ok(Self {
            host,
            namespace: namespace.map(str::to_owned),
            plain_http,
        })
    }

    /// `host[:port]`, lowercase.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Whether the registry is spoken to in plain HTTP.
    pub fn plain_http(&self) -> bool {
        self.plain_http
    }

    /// The repository of `package`: `namespace/package`.
    pub fn repository(&self, package: &str) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{package}"),
            None => package.to_owned(),
        }
    }

    /// The full reference of `package` at `tag`: `host/namespace/package:tag`.
    pub fn reference(&self, package: &str, tag: &str) -> String {
        format!("{}/{}:{tag}", self.host, self.repository(package))
    }
}

impl fmt::Display for RegistryAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{namespace}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    let (name, port) = split_port(host);
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(format!("port {port:?} is not a number"));
    }
    let bracketed = name.starts_with('[') && name.ends_with(']');
    let valid = if bracketed {
        name[1..name.len() - 1]
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    } else {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    };
    if valid {
        Ok(())
    } else {
        Err(format!("host {name:?} is not a host name or address"))
    }
}

/// `host[:port]` → (host, port).
fn split_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => (&host[..=end], host[end + 1..].strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// Whether `host` (with or without a port) is this machine: `localhost`, `127.0.0.0/8`, `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let (name, _) = split_port(host);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A repository path component: lowercase letters and digits separated by `.`, `_`, `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'.' | b'_' | b'-'))
}

/// The OCI tag of `version`: the version itself, with SemVer build metadata's `+` written
/// as `_` (OCI tags cannot hold `+`; the same convention as Helm).
pub fn tag_for_version(version: &str) -> Result<String, AddressError> {
    let tag = version.replace('+', "_");
    let bytes = tag.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(tag)
    } else {
        Err(AddressError::Tag {
            version: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> RegistryAddress {
        RegistryAddress::parse(text, false).expect(text)
    }

    #[test]
    fn loopback_hosts_are_spoken_to_in_plain_http_and_others_in_https() {
        for host in [
            "127.0.0.1:5000/ns",
            "localhost:5000/ns",
            "LOCALHOST/ns",
            "[::1]:5000/ns",
            "127.0.0.2/ns",
        ] {
            assert!(parse(host).plain_http(), "{host}");
        }
        for host in [
            "ghcr.io/acme",
            "registry.example.com:5000/a/b",
            "10.0.0.1:5000",
        ] {
            assert!(!parse(host).plain_http(), "{host}");
        }
    }

    #[test]
    fn plain_http_is_used_when_asked_and_https_when_the_scheme_says_so() {
        assert!(
            RegistryAddress::parse("registry.internal/ns", true)
                .expect("address")
                .plain_http()
        );
        assert!(parse("http://registry.internal/ns").plain_http());
        assert!(!parse("https://localhost:5000/ns").plain_http());
    }

    #[test]
    fn references_name_host_namespace_package_and_tag() {
        let address = parse("https://GHCR.io/acme/data/");
        assert_eq!(address.to_string(), "ghcr.io/acme/data");
        assert_eq!(address.repository("pkg"), "acme/data/pkg");
        assert_eq!(
            address.reference("pkg", "v1.0.0"),
            "ghcr.io/acme/data/pkg:v1.0.0"
        );
        assert_eq!(
            parse("localhost:5000").reference("p", "1.0.0"),
            "localhost:5000/p:1.0.0"
        );
    }

    #[test]
    fn malformed_addresses_are_refused_saying_what_to_write() {
        for bad in [
            "",
            "ftp://host/ns",
            "host:port/ns",
            "host/Upper",
            "host//ns",
            "ho st/ns",
            "[zz]:5000/ns",
        ] {
            let error = RegistryAddress::parse(bad, false).expect_err(bad);
            assert!(
                error.to_string().contains("host[:port]/namespace"),
                "{error}"
            );
        }
    }

    #[test]
    fn build_metadata_becomes_an_underscore_in_the_tag() {
        assert_eq!(tag_for_version("v1.2.3").expect("tag"), "v1.2.3");
        assert_eq!(
            tag_for_version("1.2.3-rc.1+build.5").expect("tag"),
            "1.2.3-rc.1_build.5"
        );
        assert!(tag_for_version(&format!("1.0.0-{}", "a".repeat(130))).is_err());
    }
}
