//! `dk init [DIR] --name PKG`: scaffolds a data package — a commented `dk.yaml` and an
//! example transform — without dkd.

use std::path::{Path, PathBuf};

use clap::Args;
use datakit::manifest::{parse_data_package, validate_name};
use serde::Serialize;

use crate::{
    error::{CliError, Failure},
    output::{OutputFormat, render_structured},
};

/// The store the scaffold binds to, which `dk store add` creates in an environment.
pub const DEFAULT_STORE: &str = "events-store";
/// The example transform's file name.
const TRANSFORM_FILE: &str = "transform.sql";

/// `dk init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The package directory; created when missing
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The package name [default: the directory's name, when it is a valid package name]
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
struct Scaffolded {
    name: String,
    directory: String,
    files: Vec<String>,
}

/// The commented `dk.yaml` of package `name`.
pub fn dk_yaml(name: &str) -> String {
    format!(
        "\
# A DataKit package: `dk build` packs this directory into a versioned OCI artifact,
# `dk publish` pushes it, `dk promote` deploys it through the environments.
apiVersion: datakit.infoblox.dev/v1alpha1   # always this value
kind: DataPackage                           # always this value
metadata:
  name: {name}   # lowercase letters, digits and '-', starting with a letter (at most 63)
  description: An example package (edit {TRANSFORM_FILE} and this line)
spec:
  # The store the package reads and writes: a Store of that name must exist in every
  # environment it is promoted to (`dk env show ENV` lists them; add one with
  # `dk store add ENV {DEFAULT_STORE} --type kafka-topic --set brokers=… --set topic=…`).
  store: {DEFAULT_STORE}
  # Further stores, binding key -> store name; each must exist too.
  # bindings: {{ output: warehouse }}
"
    )
}

const TRANSFORM: &str = "\
-- An example transform: DataKit ships this directory as it is, and your runtime runs it
-- against the package's store. Replace it with your own files.
select user_id, event_type, occurred_at
from events
where occurred_at > now() - interval '1 day';
";

fn invalid(message: impl Into<String>) -> CliError {
    CliError::new(Failure::InvalidInput, message)
}

fn other(path: &Path, error: &std::io::Error) -> CliError {
    CliError::new(
        Failure::Other,
        format!("cannot write {}: {error}", path.display()),
    )
}

/// The package name: `--name`, else the directory's name when that is a valid one.
fn package_name(args: &InitArgs) -> Result<String, CliError> {
    if let Some(name) = &args.name {
        validate_name("package", name).map_err(|e| invalid(e.to_string()))?;
        return Ok(name.clone());
    }
    let absolute = std::path::absolute(&args.dir).map_err(|e| other(&args.dir, &e))?;
    let dir_name = absolute
        .components()
        .next_back()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    validate_name("package", &dir_name).map_err(|_| {
        invalid(format!(
            "the directory name {dir_name:?} is not a valid package name: pass --name NAME (lowercase letters, digits and '-', starting with a letter)"
        ))
    })?;
    Ok(dir_name)
}

/// Writes `dk.yaml` and the example transform into DIR.
pub fn run(format: OutputFormat, args: &InitArgs) -> Result<String, CliError> {
    let name = package_name(args)?;
    let manifest = args.dir.join("dk.yaml");
    if manifest.exists() {
        return Err(invalid(format!(
            "{} exists already: dk init never overwrites it (edit it, or init another directory)",
            manifest.display()
        )));
    }
    let text = dk_yaml(&name);
    parse_data_package("dk.yaml", &text)
        .map_err(|e| CliError::new(Failure::Other, format!("scaffold does not validate: {e}")))?;
    std::fs::create_dir_all(&args.dir).map_err(|e| other(&args.dir, &e))?;
    std::fs::write(&manifest, text).map_err(|e| other(&manifest, &e))?;
    let mut files = vec!["dk.yaml".to_owned()];
    let transform = args.dir.join(TRANSFORM_FILE);
    if !transform.exists() {
        std::fs::write(&transform, TRANSFORM).map_err(|e| other(&transform, &e))?;
        files.push(TRANSFORM_FILE.to_owned());
    }
    let scaffolded = Scaffolded {
        name: name.clone(),
        directory: args.dir.display().to_string(),
        files,
    };
    if format != OutputFormat::Table {
        return render_structured(format, &scaffolded);
    }
    let dir = args.dir.display();
    Ok(format!(
        "Created package {name} in {dir}: {}\n\nNext (on the embedded default):\n  dk store add dev {DEFAULT_STORE} --type kafka-topic --set brokers=dev-kafka:9092 --set topic={name}-dev\n  dk build {dir} --version v0.1.0\n  dk publish {dir}\n  dk promote {name} v0.1.0 --to dev --wait\n",
        scaffolded.files.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaffold_validates_and_binds_the_default_store() {
        let package = parse_data_package("dk.yaml", &dk_yaml("my-package")).expect("valid");
        assert_eq!(package.name, "my-package");
        assert_eq!(package.store.as_deref(), Some(DEFAULT_STORE));
    }
}
