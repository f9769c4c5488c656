//! Data packages for the bench: a package directory (`dk.yaml` + content), published either
//! with the real `dk build` + `dk publish`, or — for the 10,000 seeded packages — packed by
//! the `dk` library exactly as `dk build` packs it and written with `datakit::oci::OciLayout`
//! (the same writer `dk publish` uses for the embedded registry).

use std::path::{Path, PathBuf};

use datakit::{
    manifest::{Version, parse_data_package},
    oci::{OciLayout, Publication, no_progress},
};
use dk::artifact::{build::assemble, pack::pack_to_blob, source::SourceInfo, walk::walk};

/// `dk.yaml` of package `name` (no store bindings: the default environments have no stores).
pub fn dk_yaml(name: &str) -> String {
    format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata:\n  name: {name}\n  description: Benchmark package {name}\nspec:\n  bindings: {{}}\n"
    )
}

/// Writes the package directory of `name` at `version` into `dir` (replacing its files).
pub fn write_package_dir(dir: &Path, name: &str, version: &str) {
    std::fs::create_dir_all(dir).expect("package dir");
    std::fs::write(dir.join("dk.yaml"), dk_yaml(name)).expect("write dk.yaml");
    std::fs::write(
        dir.join("query.sql"),
        format!(
            "-- {name} {version}\nselect event_id, user_id, occurred_at\nfrom events\nwhere package = '{name}' and version = '{version}';\n"
        ),
    )
    .expect("write query.sql");
}

/// Packs `dir` (holding package `name`) as `version` the way `dk build` does, publishes it to
/// the embedded registry under `registry`, and returns the manifest digest.
pub fn publish_direct(registry: &Path, dir: &Path, name: &str, version: &str) -> String {
    let package = parse_data_package("dk.yaml", &dk_yaml(name)).expect("valid dk.yaml");
    let version = Version::parse(version).expect("exact version");
    let layout = OciLayout::new(registry.join(name));
    let layer = pack_to_blob(&layout, &walk(dir).expect("walk package"), &no_progress())
        .expect("pack package");
    let artifact =
        assemble(&package, &version, &SourceInfo::default(), layer).expect("assemble artifact");
    match layout
        .publish(version.as_str(), &artifact, &no_progress())
        .expect("publish to the embedded registry")
    {
        Publication::Published | Publication::AlreadyPublished | Publication::Restored => {}
    }
    artifact.digest().to_owned()
}

/// The reference dkd gives `version` of `name` in the embedded registry under `registry`.
pub fn reference(registry: &Path, name: &str, version: &str) -> String {
    OciLayout::new(registry.join(name)).reference(version)
}

/// A package directory in a temporary folder, published with the real `dk` binary.
pub struct PackageDir {
    dir: tempfile::TempDir,
    pub name: String,
}

impl PackageDir {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dk-bench-pkg-")
            .tempdir()
            .expect("tempdir");
        Self {
            dir,
            name: name.to_owned(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// `dk build` + `dk publish` of `version` (content changes with the version); returns
    /// the digest.
    pub fn publish(&self, home: &Path, version: &str) -> String {
        write_package_dir(self.dir.path(), &self.name, version);
        let dir = self.dir.path().to_string_lossy().into_owned();
        let built = super::dk_ok(home, &["-o", "json", "build", &dir, "--version", version]);
        super::dk_ok(home, &["publish", &dir]);
        let built: serde_json::Value = serde_json::from_str(&built).expect("dk build JSON");
        built["digest"]
            .as_str()
            .expect("digest in dk build -o json")
            .to_owned()
    }
}
