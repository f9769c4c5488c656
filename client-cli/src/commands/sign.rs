//! `dk sign PKG VERSION --key KEY [--registry R] [--plain-http]`: sign the pinned digest of
//! a published version in cosign's format, so `cosign verify --key` and environments that
//! require signatures accept it. Needs no `dkd`.

use std::path::{Path, PathBuf};

use datakit::oci::SignatureOutcome;
use serde::Serialize;

use crate::{
    artifact::{
        publish::Destination,
        sign::{Signed, read_key, sign},
    },
    error::{CliError, Failure},
    output::{OutputFormat, render_structured},
};

/// `dk sign`'s arguments.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The package
    pub package: String,
    /// The exact published version
    pub version: String,
    /// The private key: PEM PKCS#8 EC P-256 (-----BEGIN PRIVATE KEY-----)
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// Registry and namespace, host[:port]/namespace [default: the embedded registry in
    /// DK_HOME/registry]
    #[arg(long, env = "DK_REGISTRY", value_name = "R")]
    pub registry: Option<String>,
    /// Speak plain HTTP to the registry (implied for 127.0.0.1, localhost and [::1])
    #[arg(long)]
    pub plain_http: bool,
}

/// A signature as `-o json|yaml` shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SignView {
    package: String,
    version: String,
    digest: String,
    signatures: String,
    registry: String,
    /// `signed`, or `unchanged` when this key had signed the digest already.
    outcome: &'static str,
}

/// Runs `dk sign` against the embedded registry of `home` or `--registry`.
pub async fn run(home: &Path, format: OutputFormat, args: &SignArgs) -> Result<String, CliError> {
    datakit::manifest::validate_name("package", &args.package)
        .map_err(|error| CliError::new(Failure::InvalidInput, error.to_string()))?;
    let destination = Destination::choose(home, args.registry.as_deref(), args.plain_http)?;
    let key = read_key(&args.key)?;
    let signed = sign(&destination, &args.package, &args.version, &key).await?;
    let view = view(args, signed);
    match format {
        OutputFormat::Table => Ok(render_table(&view)),
        OutputFormat::Json | OutputFormat::Yaml => render_structured(format, &view),
    }
}

fn view(args: &SignArgs, signed: Signed) -> SignView {
    SignView {
        package: args.package.clone(),
        version: args.version.clone(),
        digest: signed.digest,
        signatures: signed.signatures,
        registry: signed.registry,
        outcome: match signed.outcome {
            SignatureOutcome::Added => "signed",
            SignatureOutcome::AlreadySigned => "unchanged",
        },
    }
}

fn render_table(view: &SignView) -> String {
    let headline = match view.outcome {
        "signed" => format!(
            "Signed      {}:{} in {}",
            view.package, view.version, view.registry
        ),
        _ => format!(
            "Unchanged   {}:{} was already signed with this key in {}",
            view.package, view.version, view.registry
        ),
    };
    format!(
        "{headline}\nDigest      {}\nSignatures  {}\n",
        view.digest, view.signatures
    )
}
