//! The rows of `Status`, from the status board: computed once per package (soak and
//! verification included, no cluster call and no file read), kept in the status cache, and
//! kept warm — every deployed package's rows are computed at start and again after the
//! configuration's contents changed or the cache was emptied, so a call finds its answer
//! ready.

use std::sync::Arc;

use datakit::proto;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::{DataKitApi, cached_row::CachedRow, convert, errors::status};
use crate::promotion::{LoadedConfig, Promotable, StatusRow};

/// How many packages the warmer computes before it lets other tasks run.
const WARM_BATCH: usize = 64;

impl DataKitApi {
    /// One row of a status table: its converted status (hold included) and the engine's
    /// promotable. The upstream's status is its row among `read_with` (the rows read
    /// together with `row`) when there is one, so that a package's rows never mix two
    /// moments of the board (an upstream deployed in one row's promotable but not yet in
    /// its own row); otherwise it is read from the board.
    pub(super) fn row_parts(
        &self,
        config: &LoadedConfig,
        row: &StatusRow,
        read_with: &[StatusRow],
    ) -> Result<(proto::PackageStatus, Option<Promotable>), Status> {
        let (upstream, upstream_span) = match config.environments.upstream_of(&row.environment) {
            Some(upstream) => (
                match read_with
                    .iter()
                    .find(|read| read.package == row.package && read.environment == upstream.name)
                {
                    Some(read) => read.status.clone(),
                    None => self
                        .board
                        .get(&upstream.name, &row.package)
                        .map_err(status)?,
                },
                self.board
                    .health_span(&upstream.name, &row.package)
                    .map_err(status)?,
            ),
            None => (None, None),
        };
        let promotable = self
            .engine
            .promotable_between(
                config,
                &row.environment,
                &row.package,
                upstream.as_ref(),
                upstream_span.as_ref(),
                row.status.as_ref(),
            )
            .map_err(status)?;
        Ok((
            proto::PackageStatus {
                hold: config
                    .active_hold(&row.environment, &row.package)
                    .map(convert::hold),
                ..convert::package_status(&row.package, &row.environment, row.status.as_ref())
            },
            promotable,
        ))
    }

    /// Every row of `package` (all environments, path order), computed and, when nothing
    /// changed meanwhile, kept for the next `Status` call.
    pub(super) fn package_rows(
        &self,
        config: &LoadedConfig,
        package: &str,
    ) -> Result<Arc<[CachedRow]>, Status> {
        let ticket = self.status_cache.ticket();
        let table = self
            .board
            .table(config, Some(package), None, |_| Ok(true))
            .map_err(status)?;
        let rows = table
            .iter()
            .map(|row| {
                let (status, promotable) = self.row_parts(config, row, &table)?;
                Ok(CachedRow::new(status, promotable))
            })
            .collect::<Result<Vec<_>, Status>>()?;
        // Only a package some environment runs: "known" for any other reason (promoted,
        // published) may change without an event about it.
        let deployed = table.iter().any(|row| row.status.is_some());
        if let Some(ticket) = ticket.filter(|_| deployed) {
            self.status_cache
                .store(ticket, config.content, package, rows.clone());
        }
        Ok(rows.into())
    }

    /// Fills the status cache now and again whenever the configuration's contents changed
    /// or a lagging subscription emptied it, until `stop`: only rows missing or made with
    /// other configuration contents are computed. An event about one package drops only
    /// its rows, which its next `Status` call computes.
    pub(super) fn keep_status_cache_warm(&self, stop: CancellationToken) {
        let api = self.clone();
        tokio::spawn(async move {
            let mut filled = None;
            loop {
                let emptied = api.status_cache.times_emptied();
                if let Ok(config) = api.config()
                    && filled != Some((config.content, emptied))
                    && api.fill_status_cache(&config).await
                {
                    filled = Some((config.content, emptied));
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = api.status_cache.outdated() => {}
                }
            }
        });
    }

    /// Computes the rows of every deployed package the cache lacks for `config`'s
    /// contents; whether it could list them.
    async fn fill_status_cache(&self, config: &LoadedConfig) -> bool {
        self.board.loaded().await;
        let Ok(packages) = self.board.package_names() else {
            return false;
        };
        let started = std::time::Instant::now();
        let mut computed = 0_usize;
        for (seen, package) in packages.iter().enumerate() {
            if self.status_cache.rows(&config.content, package).is_none() {
                match self.package_rows(config, package) {
                    Ok(_) => computed += 1,
                    Err(error) => {
                        tracing::debug!(%package, %error, "cannot precompute its Status rows");
                    }
                }
            }
            if seen % WARM_BATCH == WARM_BATCH - 1 {
                tokio::task::yield_now().await;
            }
        }
        if computed > 0 {
            tracing::info!(
                packages = computed,
                took_ms = started.elapsed().as_millis(),
                "precomputed the Status answers of every deployed package"
            );
        }
        true
    }
}
