//! `dk publish [DIR] [--registry R] [--plain-http]`: push the last build of a package
//! directory to the embedded registry or to an OCI registry, with a progress bar on a
//! terminal. Needs no `dkd`.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use datakit::oci::Publication;
use serde::Serialize;

use crate::{
    artifact::publish::{Destination, Published, publish},
    error::CliError,
    output::{OutputFormat, render_structured},
    progress::{ProgressDisplay, human_size},
};

/// `dk publish`'s arguments.
#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// The package directory whose last `dk build` is pushed
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Registry and namespace, host[:port]/namespace (e.g. ghcr.io/acme) [default: the
    /// embedded registry in DK_HOME/registry]
    #[arg(long, env = "DK_REGISTRY", value_name = "R")]
    pub registry: Option<String>,
    /// Speak plain HTTP to the registry (implied for 127.0.0.1, localhost and [::1])
    #[arg(long)]
    pub plain_http: bool,
}

/// A publication as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PublishView {
    package: String,
    version: String,
    reference: String,
    digest: String,
    registry: String,
    /// `published`, or `unchanged` when the tag already held this digest.
    outcome: &'static str,
    /// Bytes of manifest, config and content.
    size: u64,
}

/// Runs `dk publish` with the build cache and embedded registry of `home`.
pub async fn run(
    home: &Path,
    format: OutputFormat,
    args: &PublishArgs,
) -> Result<String, CliError> {
    let destination = Destination::choose(home, args.registry.as_deref(), args.plain_http)?;
    let display = Arc::new(ProgressDisplay::for_output(format));
    let published = publish(home, &args.dir, &destination, display).await?;
    let view = view(&published);
    match format {
        OutputFormat::Table => Ok(render_table(&view)),
        OutputFormat::Json | OutputFormat::Yaml => render_structured(format, &view),
    }
}

fn view(published: &Published) -> PublishView {
    PublishView {
        package: published.package.clone(),
        version: published.version.clone(),
        reference: published.reference.clone(),
        digest: published.digest.clone(),
        registry: published.registry.clone(),
        outcome: match published.outcome {
            Publication::Published => "published",
            Publication::AlreadyPublished => "unchanged",
            Publication::Restored => "restored",
        },
        size: published.size,
    }
}

fn render_table(view: &PublishView) -> String {
    let headline = match view.outcome {
        "published" => format!(
            "Published  {}:{} to {}",
            view.package, view.version, view.registry
        ),
        "restored" => format!(
            "Restored   {}:{} was already published with this digest in {}; its missing blobs were written back",
            view.package, view.version, view.registry
        ),
        _ => format!(
            "Unchanged  {}:{} was already published with this digest in {}; nothing pushed",
            view.package, view.version, view.registry
        ),
    };
    format!(
        "{headline}\nReference  {}\nDigest     {}\nSize       {}\n",
        view.reference,
        view.digest,
        human_size(view.size)
    )
}
