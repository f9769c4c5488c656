//! The README's architecture invariants, checked against the source: which modules may
//! name which crates.

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

/// Files under `daemon/src` (outside `allowed`) whose code mentions `needle`.
fn offenders(needle: &str, allowed: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    sources(&src)
        .into_iter()
        .filter(|path| {
            let relative = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .into_owned();
            !allowed.iter().any(|prefix| relative.starts_with(prefix))
        })
        .filter(|path| {
            std::fs::read_to_string(path)
                .expect("read")
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .any(|line| line.contains(needle))
        })
        .map(|path| path.display().to_string())
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
            .filter(|path| path.contains("/promotion/"))
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
fn only_the_argo_cd_cluster_names_kube() {
    for needle in ["kube::", "k8s_openapi"] {
        assert_eq!(
            offenders(needle, &["cluster/argocd/"]),
            Vec::<String>::new(),
            "{needle}"
        );
    }
}
