//! Data packages for end-to-end tests: a directory with a `dk.yaml`, built and published
//! to the embedded registry with the real `dk`.

use std::path::Path;

use super::{TestHome, stderr, stdout};

/// A package directory in a temporary folder.
pub struct PackageDir {
    dir: tempfile::TempDir,
    pub name: String,
}

impl PackageDir {
    /// A package named `name` with `bindings` (key, store) beyond none.
    pub fn new(name: &str, bindings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut manifest = format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataPackage\nmetadata:\n  name: {name}\nspec:\n"
        );
        if bindings.is_empty() {
            manifest.push_str("  bindings: {}\n");
        } else {
            manifest.push_str("  bindings:\n");
            for (key, store) in bindings {
                manifest.push_str(&format!("    {key}: {store}\n"));
            }
        }
        std::fs::write(dir.path().join("dk.yaml"), manifest).expect("write dk.yaml");
        std::fs::write(
            dir.path().join("query.sql"),
            format!("select 1 -- {name}\n"),
        )
        .expect("write content");
        Self {
            dir,
            name: name.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Changes the content so the next build has another digest.
    pub fn touch(&self, marker: &str) {
        std::fs::write(
            self.dir.path().join("query.sql"),
            format!("select 1 -- {marker}\n"),
        )
        .expect("write");
    }

    /// `dk build` + `dk publish` (embedded registry) of `version`; returns the digest.
    pub fn publish(&self, home: &TestHome, version: &str) -> String {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let built = home.dk(&["-o", "json", "build", &dir, "--version", version]);
        assert!(built.status.success(), "dk build: {}", stderr(&built));
        let published = home.dk(&["publish", &dir]);
        assert!(
            published.status.success(),
            "dk publish: {}",
            stderr(&published)
        );
        let build: serde_json::Value = serde_json::from_str(&stdout(&built)).expect("build JSON");
        build["digest"]
            .as_str()
            .expect("digest in dk build -o json")
            .to_owned()
    }
}
