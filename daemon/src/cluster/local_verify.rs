//! Verification commands on dkd's own host (embedded target, `run_verifications: true` in
//! `dkd.yaml`): each run is a tokio task that spawns the command from the deployment
//! repository, kills it when an attempt times out, retries, and keeps its output as the
//! run log. Runs live in memory: a restart of dkd starts an unfinished one again.

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use crate::promotion::{
    now,
    ports::{RunLogLine, VerificationOutcome, VerificationRequest, VerificationRunner},
};

/// The most output lines kept per run.
const MAX_LINES: usize = 10_000;

#[derive(Default)]
struct Run {
    outcome: Option<VerificationOutcome>,
    lines: Vec<RunLogLine>,
}

type Runs = Arc<Mutex<HashMap<String, Run>>>;

/// Runs verification commands as child processes of dkd.
#[derive(Default)]
pub struct CommandRunner {
    runs: Runs,
    /// The newest run of each (environment, package).
    newest: Mutex<HashMap<(String, String), String>>,
}

fn record(runs: &Runs, run: &str, origin: &str, text: String) {
    if let Ok(mut runs) = runs.lock()
        && let Some(entry) = runs.get_mut(run)
        && entry.lines.len() < MAX_LINES
    {
        entry.lines.push(RunLogLine {
            at: now(),
            origin: origin.to_owned(),
            text,
        });
    }
}

async fn forward(reader: impl AsyncRead + Unpin, runs: Runs, run: String, origin: String) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        record(&runs, &run, &origin, line);
    }
}

/// Kills the process group the command leads (it and everything it started).
fn kill_group(child: &tokio::process::Child) {
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group
        && let Err(error) =
            rustix::process::kill_process_group(group, rustix::process::Signal::KILL)
    {
        tracing::debug!(%error, "cannot kill the verification's process group");
    }
}

/// One attempt: `Ok(())` when the command exits 0, else why not.
async fn attempt(request: &VerificationRequest, runs: &Runs, origin: &str) -> Result<(), String> {
    let Some((program, arguments)) = request.definition.command.split_first() else {
        return Err(
            "the verification definition has no command: (job: templates run only on Argo CD)"
                .into(),
        );
    };
    let mut child = tokio::process::Command::new(program)
        .args(arguments)
        .env("DK_ENVIRONMENT", &request.environment)
        .env("DK_PACKAGE", &request.package)
        .env("DK_VERSION", &request.version)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn()
        .map_err(|error| format!("cannot start {program}: {error}"))?;
    let out = child.stdout.take().map(|stdout| {
        tokio::spawn(forward(
            stdout,
            runs.clone(),
            request.run.clone(),
            origin.to_owned(),
        ))
    });
    let err = child.stderr.take().map(|stderr| {
        tokio::spawn(forward(
            stderr,
            runs.clone(),
            request.run.clone(),
            origin.to_owned(),
        ))
    });
    let waited = tokio::time::timeout(request.timeout, child.wait()).await;
    let result = match waited {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(match status.code() {
            Some(code) => format!("exited with {code}"),
            None => "killed by a signal".to_owned(),
        }),
        Ok(Err(error)) => Err(format!("cannot wait for {program}: {error}")),
        Err(_) => {
            kill_group(&child);
            let _ = child.kill().await;
            Err(format!(
                "timed out after {} and was killed",
                humantime::format_duration(request.timeout)
            ))
        }
    };
    // The output ends with the process group; a process that left it and keeps the pipe
    // open is not waited for.
    for task in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
    }
    result
}

async fn run_all(request: VerificationRequest, runs: Runs) {
    let attempts = request.retries + 1;
    let mut outcome = VerificationOutcome::Failed("never ran".into());
    for number in 1..=attempts {
        let origin = format!("{}/attempt-{number}", request.run);
        outcome = match attempt(&request, &runs, &origin).await {
            Ok(()) => VerificationOutcome::Passed(format!(
                "verification run {} passed (attempt {number} of {attempts})",
                request.run
            )),
            Err(why) => {
                record(
                    &runs,
                    &request.run,
                    "dkd",
                    format!("attempt {number} of {attempts} {why}"),
                );
                VerificationOutcome::Failed(format!(
                    "verification run {} failed: {why} (attempt {number} of {attempts}); see dk logs {} --env {} --verify",
                    request.run, request.package, request.environment
                ))
            }
        };
        if matches!(outcome, VerificationOutcome::Passed(_)) {
            break;
        }
    }
    if let Ok(mut runs) = runs.lock()
        && let Some(entry) = runs.get_mut(&request.run)
    {
        entry.outcome = Some(outcome);
    }
}

#[async_trait::async_trait]
impl VerificationRunner for CommandRunner {
    async fn poll(&self, request: &VerificationRequest) -> VerificationOutcome {
        let Ok(mut runs) = self.runs.lock() else {
            return VerificationOutcome::Failed("verification records are unreadable".into());
        };
        if let Some(run) = runs.get(&request.run) {
            return run.outcome.clone().unwrap_or(VerificationOutcome::Running);
        }
        runs.insert(request.run.clone(), Run::default());
        drop(runs);
        if let Ok(mut newest) = self.newest.lock() {
            newest.insert(
                (request.environment.clone(), request.package.clone()),
                request.run.clone(),
            );
        }
        tokio::spawn(run_all(request.clone(), self.runs.clone()));
        VerificationOutcome::Running
    }

    async fn logs(&self, environment: &str, package: &str) -> Option<(String, Vec<RunLogLine>)> {
        let run = self
            .newest
            .lock()
            .ok()?
            .get(&(environment.to_owned(), package.to_owned()))?
            .clone();
        let lines = self.runs.lock().ok()?.get(&run)?.lines.clone();
        Some((run, lines))
    }
}
