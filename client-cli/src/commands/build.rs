//! `dk build [DIR] --version V`: pack a package directory into a reproducible OCI artifact
//! in the local build cache and print its reference, digest and size (in kB/MB/GB; exact
//! bytes under `-o json|yaml`), with a progress bar on a terminal. Needs no `dkd`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{
    artifact::build::{Built, build},
    error::CliError,
    output::{OutputFormat, render_structured},
    progress::{ProgressDisplay, human_size},
};

/// `dk build`'s arguments.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The exact version to build, e.g. v1.2.3 (SemVer; no ranges, no `latest`)
    #[arg(long, value_name = "V")]
    pub version: String,
}

/// A build as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BuildView {
    package: String,
    version: String,
    reference: String,
    digest: String,
    size: u64,
    directory: String,
    created: Option<String>,
    revision: Option<String>,
    source: Option<String>,
}

/// Runs `dk build` with the build cache of `home`.
pub fn run(home: &Path, format: OutputFormat, args: &BuildArgs) -> Result<String, CliError> {
    let source_date_epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let display = ProgressDisplay::for_output(format);
    let built = build(
        home,
        &args.dir,
        &args.version,
        source_date_epoch.as_deref(),
        &display,
    )?;
    let view = view(&built);
    match format {
        OutputFormat::Table => Ok(render_table(&view, &args.dir)),
        OutputFormat::Json | OutputFormat::Yaml => render_structured(format, &view),
    }
}

fn view(built: &Built) -> BuildView {
    BuildView {
        package: built.source.package.name.clone(),
        version: built.version.to_string(),
        reference: format!("{}:{}", built.source.package.name, built.version),
        digest: built.artifact.digest().to_owned(),
        size: built.artifact.size(),
        directory: built.source.directory.display().to_string(),
        created: built.facts.created.clone(),
        revision: built.facts.revision.clone(),
        source: built.facts.source.clone(),
    }
}

fn render_table(view: &BuildView, dir: &Path) -> String {
    let mut lines = vec![
        format!("Built      {}", view.reference),
        format!("Digest     {}", view.digest),
        format!("Size       {}", human_size(view.size)),
    ];
    if let Some(created) = &view.created {
        lines.push(format!("Created    {created}"));
    }
    if let Some(revision) = &view.revision {
        lines.push(format!("Revision   {revision}"));
    }
    lines.push(format!("Publish it with: dk publish {}", dir.display()));
    lines.join("\n") + "\n"
}
