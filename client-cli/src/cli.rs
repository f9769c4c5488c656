//! The command line: global flags and subcommands, as clap parses them.

use clap::{Args, Parser, Subcommand};

use crate::output::OutputFormat;

/// dk promotes DataKit packages through environments (dev → int → prod) by opening
/// pull requests in the deployment repository, and shows what runs where.
///
/// With no --daemon, dk talks to the dkd of DK_HOME (default ~/.datakit) and starts it
/// when none is running (set DK_NO_AUTOSTART=1 to prevent that).
///
/// Exit codes: 0 ok, 1 other error, 2 invalid input, 3 not found, 4 refused by policy or
/// precondition, 5 backend unavailable.
#[derive(Debug, Parser)]
#[command(name = "dk", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Daemon address: unix:///path/to/dkd.sock or https://host:port [default: DK_HOME's socket]
    #[arg(long, global = true, env = "DK_DAEMON", value_name = "ADDR")]
    pub daemon: Option<String>,
    /// Output format
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pack a package directory into a reproducible OCI artifact in the local build cache
    ///
    /// Validates DIR/dk.yaml (kind DataPackage), then packs DIR (without .git) into the
    /// build cache in DK_HOME/builds and prints the artifact's reference, digest and size.
    /// The same directory and version give the same digest on any machine: entries are
    /// sorted, times, owners and modes normalized, and the creation time comes from
    /// SOURCE_DATE_EPOCH or the git commit, never the clock. Runs without dkd.
    #[command(disable_version_flag = true)]
    Build(crate::commands::build::BuildArgs),
    /// Push the last build of a package directory to a registry; a tag is never moved
    ///
    /// Without --registry (or DK_REGISTRY) it goes to the embedded registry, an OCI
    /// image layout per package in DK_HOME/registry. With --registry host[:port]/namespace
    /// it is pushed to <registry>/<package>:<version>, with credentials from
    /// DK_REGISTRY_USERNAME/DK_REGISTRY_PASSWORD, DK_REGISTRY_TOKEN or the Docker config.
    /// Publishing a version that exists with another digest is refused (exit 4); the same
    /// digest again changes nothing. Runs without dkd.
    Publish(crate::commands::publish::PublishArgs),
    /// Sign the pinned digest of a published version with a key, in cosign's format
    ///
    /// Resolves PACKAGE:VERSION to its digest in the embedded registry (or --registry) and
    /// adds a cosign signature of that digest, stored where cosign keeps it: the tag
    /// sha256-<hex>.sig of the package's repository. `cosign verify --key cosign.pub`
    /// accepts it, and so do environments with require_signatures naming that public key.
    /// The key is a PEM PKCS#8 EC P-256 private key; signing again with the same key
    /// changes nothing. Runs without dkd.
    Sign(crate::commands::sign::SignArgs),
    /// Environments: their promotion path, approval rules and stores
    #[command(subcommand)]
    Env(EnvCommand),
    /// Scaffold a data package: a commented dk.yaml and an example transform
    ///
    /// DIR defaults to the current directory and is created when missing; the name
    /// defaults to the directory's name. Never overwrites a dk.yaml. Runs without dkd.
    /// Next, in DIR: `dk store add dev events-store --type kafka-topic --set brokers=… --set
    /// topic=…` (the store dk.yaml binds to), `dk build --version v1.0.0`, `dk publish`,
    /// `dk promote PKG v1.0.0 --to dev --wait`.
    Init(crate::commands::init::InitArgs),
    /// Stores of an environment: add one through a change request, or print its manifest
    #[command(subcommand)]
    Store(crate::commands::store::StoreCommand),
    /// Promote a published package version into an environment through a change request
    ///
    /// Checks, in order: the package name, the environment, an exact version (no `latest`),
    /// the artifact in the registry (its digest is pinned), that the upstream environment
    /// runs the version (--force overrides; recorded), freeze windows, and that every
    /// binding resolves to a store of the environment. Then opens the change request; it
    /// merges when the environment's approval rule is met.
    Promote(PromoteArgs),
    /// Roll a package back in an environment (--to ENV), to --version V or to the version
    /// deployed before the current one; skips the upstream check and uses the expedited
    /// rollback rule
    ///
    /// The flags read like promote's. The old form `--env ENV [--to VERSION]` still works for
    /// now, with a warning.
    #[command(disable_version_flag = true)]
    Rollback(RollbackArgs),
    /// Approve a promotion on the embedded forge (on GitHub, approve the pull request)
    Approve(ApproveArgs),
    /// Every promotion and rollback of a package: who, when, approvals, outcome
    History(HistoryArgs),
    /// Unfinished promotions across every package; --to-approve: the ones you could approve
    ///
    /// --state takes the states `dk history` shows (Requested, Validated, ChangeProposed,
    /// Approved, Merged, Syncing, Healthy, Failed, Superseded, Rejected, Cancelled; any case,
    /// e.g. change-proposed) or a group: unfinished (the default), open (not merged yet),
    /// waiting (for checks or approvals), finished. Repeat it or separate with commas.
    /// Only promotions you may read are listed.
    Promotions(PromotionsArgs),
    /// Decline a promotion as an approver: it becomes Rejected and its change request is
    /// closed (on GitHub: a request-changes review, then the pull request is closed)
    ///
    /// Needs the RBAC approve action in the promotion's environment; refused (exit 4) once
    /// the promotion merged or ended.
    Reject(RejectArgs),
    /// Withdraw a promotion you opened: it becomes Cancelled and its change request is
    /// closed (the promoter or an admin only; refused, exit 4, once it merged or ended)
    Cancel(CancelArgs),
    /// What runs where: a package across environments, or every package of an environment
    ///
    /// `dk status PKG` shows one row per environment in path order (— where it is not
    /// deployed); `dk status --env ENV` one row per package, Degraded ones marked.
    /// Served from dkd's cache; `--watch` redraws whenever something changes.
    Status(StatusArgs),
    /// Logs of a package in an environment: run logs, or with --sync the sync log, or with
    /// --verify the output of its newest verification run
    Logs(LogsArgs),
    /// Run the verification of what an environment runs of a package again
    ///
    /// The environment must declare `verify:` in config/environments.yaml; the newest
    /// promotion there goes back to Verifying and ends Verified or Failed. Needs the RBAC
    /// promote action in the environment. `--wait` waits for the outcome (exit 1 if Failed).
    Verify(crate::commands::verify::VerifyArgs),
    /// Service tokens for CI, bots and tools that call a shared dkd over its network listener
    ///
    /// Run on dkd's local socket, as the user dkd runs as (its admin). A token
    /// authenticates as its name, with its groups; send it as DK_TOKEN.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Who dkd takes you for: name, groups, how authenticated, and what config/rbac.yaml
    /// lets you do in each environment (on the local socket: admin, everything)
    Whoami,
    /// dkd's audit log: every change and every refused call — who, from where, on what,
    /// outcome — oldest first, newest last (for dkd's admin: run it on the local socket)
    Audit(AuditArgs),
    /// Hold a package in an environment: every promotion into it is refused (exit 4, naming
    /// who held it, when and why) until released; rollbacks are still allowed
    ///
    /// `dk hold PKG --env ENV --reason TEXT` sets a hold (RBAC rollback in ENV);
    /// `dk hold release PKG --env ENV` releases it, or the hold a rollback left (RBAC
    /// approve); `dk hold list` shows them. Holds are commits of holds/ENV/PKG.yaml on the
    /// deployment repository's base branch, so they survive restarts and a lost database.
    Hold(crate::commands::hold::HoldArgs),
    /// The web dashboard: pipeline, packages, approvals and environments, live
    ///
    /// On the local socket dkd opens a loopback listener and a one-time login link (one
    /// use, valid 2 minutes), which dk prints and opens in your browser ($BROWSER, else
    /// xdg-open) when there is one. Against a shared dkd, prints its address: sign in there
    /// with your token.
    Ui(crate::commands::ui::UiArgs),
    /// Outgoing webhooks (dkd.yaml's notifications:) and how their deliveries went
    #[command(subcommand)]
    Notifications(crate::commands::notifications::NotificationsCommand),
    /// dk's version and commit, and the daemon's version, commit, API version and backends
    /// (forge, cluster, registry) when one answers; never starts dkd
    Version,
    /// Print a shell completion script: bash, zsh, fish or powershell (docs/cli.md shows how to load it)
    ///
    /// bash: `source <(dk completion bash)` (or save it in ~/.local/share/bash-completion/completions/dk);
    /// zsh: `dk completion zsh > "${fpath[1]}/_dk"`; fish: `dk completion fish >
    /// ~/.config/fish/completions/dk.fish`; PowerShell: `dk completion powershell | Out-String |
    /// Invoke-Expression`. Runs without dkd.
    Completion {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `dk audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only calls on this package
    #[arg(long, value_name = "PACKAGE")]
    pub package: Option<String>,
    /// Only calls on this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Only calls by this principal
    #[arg(long, value_name = "USER")]
    pub principal: Option<String>,
    /// Only events since then: a duration back from now (1h, 2d) or an RFC 3339 time
    #[arg(long, value_name = "WHEN", value_parser = crate::commands::audit::parse_since)]
    pub since: Option<std::time::SystemTime>,
    /// At most this many events, the newest ones (at most 10000)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
}

/// `dk token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print its secret, once: dkd keeps only a salted hash of it
    Create(TokenCreateArgs),
    /// Every token on file: name, groups, issued, expiry, state (never a secret)
    #[command(visible_alias = "ls")]
    List,
    /// Revoke the active token NAME: calls with it are refused from then on
    Revoke {
        /// Token name
        name: String,
    },
}

/// `dk token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Token name: the user it authenticates as (promoter, approver), e.g. ci-bot
    pub name: String,
    /// Groups the token vouches for, comma-separated, e.g. ci,team-leads
    #[arg(long, value_delimiter = ',', value_name = "GROUPS")]
    pub groups: Vec<String>,
    /// Valid for this long, e.g. 30d or 12h [default: until revoked]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expires: Option<std::time::Duration>,
}

/// `dk status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Package name (omit with --env for the whole environment)
    #[arg(required_unless_present = "env")]
    pub package: Option<String>,
    /// Only this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Keep the table live: redraw on every change until interrupted
    #[arg(long, short)]
    pub watch: bool,
}

/// `dk logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Package name
    pub package: String,
    /// Environment
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// Keep streaming new lines until interrupted
    #[arg(long, short)]
    pub follow: bool,
    /// The sync log (what was applied, from which commit, result) instead of run logs
    #[arg(long, conflicts_with = "verify")]
    pub sync: bool,
    /// The output of the newest verification run instead of run logs
    #[arg(long)]
    pub verify: bool,
    /// Only the last N lines before following
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
    /// Only lines newer than this, e.g. 10m, 2h, 1d
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<std::time::Duration>,
}

/// `dk promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// Package name
    pub package: String,
    /// Exact version, e.g. v1.2.3 (`latest` and ranges are refused)
    pub version: String,
    /// Target environment
    #[arg(long, value_name = "ENV")]
    pub to: String,
    /// Run every check and show the change, without changing anything
    #[arg(long, conflicts_with = "status")]
    pub dry_run: bool,
    /// Wait until the environment runs the version: exit 0 when Healthy, 1 when it fails;
    /// says on stderr what it waits for (with -o json: one JSON line per change on stdout)
    #[arg(long, conflicts_with = "status")]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 5m), exit 1 saying where it stands
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Promote even though the upstream environment does not run this version, or it has not
    /// soaked there for the environment's soak time (recorded)
    #[arg(long, conflicts_with = "status")]
    pub force: bool,
    /// Promote as a rollback: no upstream check, expedited approval, rollback annotations
    #[arg(long, conflicts_with = "status")]
    pub rollback: bool,
    /// Show where this promotion stands instead: checks, approvals still needed, merge, sync
    #[arg(long)]
    pub status: bool,
}

/// `dk rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Package name
    pub package: String,
    /// Environment to roll back (with the deprecated --env: the version to roll back to)
    #[arg(long, value_name = "ENV", required_unless_present = "env")]
    pub to: Option<String>,
    /// Version to roll back to [default: the version deployed before the current one]
    #[arg(long, value_name = "VERSION", conflicts_with = "env")]
    pub version: Option<String>,
    /// Deprecated: the old form `--env ENV [--to VERSION]`; use `--to ENV [--version V]`
    #[arg(long, value_name = "ENV", hide = true)]
    pub env: Option<String>,
    /// Run every check and show the change, without changing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until the environment runs the version: exit 0 when Healthy, 1 when it fails;
    /// says on stderr what it waits for (with -o json: one JSON line per change on stdout)
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 5m), exit 1 saying where it stands
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `dk approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Promotion id, as printed by dk promote (e.g. p-3)
    pub promotion: String,
    /// Claim to approve as this reviewer: single-user demo only (embedded forge, local
    /// socket, `forge.asserted_approvers: true` in dkd.yaml); the approval is shown as
    /// asserted by you. Otherwise you approve as who you are authenticated as
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Then wait until the promotion ends, as dk promote --wait does: exit 0 when Healthy
    /// (a store change: served), 1 when it fails or still needs approvals from others
    /// when --timeout expires
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (e.g. 90s, 5m), exit 1 saying where it stands
    #[arg(long, value_name = "DURATION", requires = "wait", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `dk promotions`.
#[derive(Debug, Args)]
pub struct PromotionsArgs {
    /// Only promotions into this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Only promotions of this package
    #[arg(long, value_name = "PACKAGE")]
    pub package: Option<String>,
    /// Only promotions in these states (repeat, or separate with commas) [default: unfinished]
    #[arg(long, value_delimiter = ',', value_name = "STATE")]
    pub state: Vec<String>,
    /// Only promotions you asked for
    #[arg(long)]
    pub mine: bool,
    /// Only promotions you could approve now (RBAC and the environment's approval rule)
    #[arg(long)]
    pub to_approve: bool,
}

/// `dk reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// Promotion id, e.g. p-3
    pub promotion: String,
    /// Why, in words: recorded on the promotion, the change request and in history
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
}

/// `dk cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Promotion id, e.g. p-3
    pub promotion: String,
    /// Why, in words (optional): recorded on the promotion and in history
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// `dk history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Package name
    pub package: String,
    /// Only this environment
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
}

impl RollbackArgs {
    /// The environment and the version asked for (none: the one deployed before), read
    /// from the old form (`--env ENV [--to VERSION]`) when `--env` is given.
    pub fn target(&self) -> (&str, Option<&str>) {
        match &self.env {
            Some(env) => (env, self.to.as_deref()),
            None => (
                self.to.as_deref().unwrap_or_default(),
                self.version.as_deref(),
            ),
        }
    }

    /// Whether the deprecated form was used.
    pub fn is_old_form(&self) -> bool {
        self.env.is_some()
    }
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the environments in file order, with upstream and approval rule
    #[command(visible_alias = "ls")]
    List,
    /// Show one environment: path, approval rule in words, freezes and stores
    Show {
        /// Environment name, e.g. prod
        env: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn rollback(args: &[&str]) -> (String, Option<String>, bool) {
        let cli =
            Cli::try_parse_from([&["dk", "rollback", "pkg"][..], args].concat()).expect("parses");
        let Command::Rollback(args) = cli.command else {
            panic!("not a rollback")
        };
        let (env, version) = args.target();
        (
            env.to_owned(),
            version.map(str::to_owned),
            args.is_old_form(),
        )
    }

    #[test]
    fn rollback_reads_like_promote_and_still_accepts_the_old_form() {
        assert_eq!(rollback(&["--to", "prod"]), ("prod".into(), None, false));
        assert_eq!(
            rollback(&["--to", "prod", "--version", "v1.0.0"]),
            ("prod".into(), Some("v1.0.0".into()), false)
        );
        assert_eq!(rollback(&["--env", "prod"]), ("prod".into(), None, true));
        assert_eq!(
            rollback(&["--env", "prod", "--to", "v1.0.0"]),
            ("prod".into(), Some("v1.0.0".into()), true)
        );
    }

    #[test]
    fn rollback_needs_an_environment_and_refuses_mixed_forms() {
        assert!(Cli::try_parse_from(["dk", "rollback", "pkg"]).is_err());
        assert!(
            Cli::try_parse_from(["dk", "rollback", "pkg", "--env", "a", "--version", "v1"])
                .is_err()
        );
    }
}
