//! The architecture invariants of docs/architecture.md, checked against the source: which modules may
//! name which crates, and which way the dependency arrows between modules point.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)
        .expect("read src")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The code of a file: its lines, comments left out, up to its `#[cfg(test)]` module
/// (tests of the domain may run against the embedded adapters).
fn code(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .take_while(|line| line.trim() != "#[cfg(test)]")
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(str::to_owned)
        .collect()
}

/// Source files under `daemon/src/<dir>`, with their path relative to `daemon/src`.
fn sources_under(dir: &str) -> Vec<(String, PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    sources(&src.join(dir))
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            (relative, path)
        })
        .collect()
}

/// Files under `daemon/src` (outside `allowed`) whose code mentions `needle`.
fn offenders(needle: &str, allowed: &[&str]) -> Vec<String> {
    sources_under("")
        .into_iter()
        .filter(|(relative, _)| !allowed.iter().any(|prefix| relative.starts_with(prefix)))
        .filter(|(_, path)| code(path).iter().any(|line| line.contains(needle)))
        .map(|(relative, _)| relative)
        .collect()
}

#[test]
fn only_the_api_module_knows_tonic_and_the_generated_types() {
    assert_eq!(
        offenders("tonic", &["api/", "main.rs"]),
        Vec::<String>::new()
    );
    assert_eq!(offenders("datakit::proto", &["api/"]), Vec::<String>::new());
}

#[test]
fn only_the_store_module_names_sled() {
    assert_eq!(offenders("sled::", &["store/"]), Vec::<String>::new());
}

#[test]
fn the_domain_names_no_backend_crate() {
    for needle in ["octocrab", "kube::", "oci_client", "sled", "tonic"] {
        let in_domain: Vec<String> = offenders(needle, &[])
            .into_iter()
            .filter(|path| path.starts_with("promotion/"))
            .collect();
        assert_eq!(in_domain, Vec::<String>::new(), "{needle} in promotion/");
    }
}

#[test]
fn only_the_github_forge_names_octocrab() {
    assert_eq!(
        offenders("octocrab", &["gitops/github/"]),
        Vec::<String>::new()
    );
}

#[test]
fn only_the_argo_cd_cluster_and_the_lease_name_kube() {
    for needle in ["kube::", "k8s_openapi"] {
        assert_eq!(
            offenders(needle, &["cluster/argocd/", "lease/"]),
            Vec::<String>::new(),
            "{needle}"
        );
    }
}

/// The adapters: each implements a port of the domain.
const ADAPTERS: [&str; 5] = ["store", "gitops", "cluster", "registry", "lease"];

#[test]
fn the_domain_imports_no_adapter() {
    for (relative, path) in sources_under("promotion") {
        for line in code(&path) {
            for module in ADAPTERS.iter().chain(&["api", "app"]) {
                assert!(
                    !line.contains(&format!("crate::{module}")),
                    "{relative} names crate::{module}: {line}"
                );
            }
        }
    }
}

#[test]
fn adapters_depend_on_the_domain_and_never_on_each_other() {
    for adapter in ADAPTERS {
        for (relative, path) in sources_under(adapter) {
            for line in code(&path) {
                for other in ADAPTERS.iter().filter(|other| **other != adapter) {
                    assert!(
                        !line.contains(&format!("crate::{other}")),
                        "{relative} names crate::{other}: {line}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_port_is_declared_in_the_domain() {
    for port in [
        "trait GitForge",
        "trait ClusterStatus",
        "trait Registry",
        "trait StateStore",
        "trait ChangeRequestStore",
    ] {
        let declared_in: Vec<String> = sources_under("")
            .into_iter()
            .filter(|(_, path)| code(path).iter().any(|line| line.contains(port)))
            .map(|(relative, _)| relative)
            .collect();
        assert_eq!(declared_in.len(), 1, "{port} declared in {declared_in:?}");
        assert!(
            declared_in[0].starts_with("promotion/ports/"),
            "{port} declared in {}",
            declared_in[0]
        );
    }
}

#[test]
fn no_span_is_entered_in_the_async_daemon() {
    // An `Entered` guard held across an `.await` corrupts the subscriber's span stack (a
    // panic in a worker, a reset connection): async code uses `Instrument` instead.
    assert_eq!(offenders(".enter()", &[]), Vec::<String>::new());
    assert_eq!(offenders(".entered()", &[]), Vec::<String>::new());
}
