//! The seeded `DK_HOME`: N packages deployed to every environment (dev, int, prod), the way
//! a long-lived installation holds them, cached under `target/` between runs.
//!
//! - the embedded registry really holds each package: one OCI image layout per package with
//!   one version per environment (prod v1.0.0, int v1.1.0, dev v1.2.0), packed by the `dk`
//!   library exactly as `dk build` packs it and written by `datakit::oci::OciLayout`, as
//!   `dk publish` writes it;
//! - `deploy.git` really holds `environments/<env>/<pkg>.yaml` `DeployedPackage` manifests
//!   (`DeployedPackage::to_yaml`, pinned digests, the annotations a promotion writes), in one
//!   commit on `main` written in bulk by `git fast-import`, then packed as after a `git gc`;
//! - dkd's own sync loop applies them: seeding waits until `Status` shows every package
//!   deployed and Healthy in every environment.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use datakit::{
    manifest::{ANNOTATION_PROMOTED_BY, ANNOTATION_PROMOTION_ID, DeployedPackage},
    proto,
};

use super::{Dkd, PATIENCE, client, git, packages, wait_for_status};

/// Change this when the seeded content changes, so cached homes are rebuilt.
const SEED_FORMAT: &str = "dkd-bench-seed/1";

/// The marker written last: a home without it (or with another key) is rebuilt.
const MARKER: &str = "bench-seed.version";
/// How long seeding took, in seconds.
const TOOK: &str = "bench-seed.took";

/// A seeded home.
pub struct Seeded {
    pub home: PathBuf,
    pub packages: Vec<String>,
    pub environments: Vec<String>,
    /// How long seeding took this run; `None` when the cached home was reused.
    pub seeded_in: Option<Duration>,
    /// How long seeding took when this home was seeded (this run or an earlier one).
    pub seeding_took: Option<Duration>,
}

/// The name of the `i`th seeded package.
pub fn package_name(i: usize) -> String {
    format!("pkg-{i:05}")
}

fn key(count: usize) -> String {
    format!("{SEED_FORMAT} packages={count} environments=dev,int,prod")
}

/// The seeded home for `count` packages under `target/`, reused when its marker matches
/// (unless `force`), seeded otherwise.
pub async fn ensure(target: &Path, count: usize, force: bool) -> Seeded {
    let home = target.join(match count {
        10_000 => "bench-home-10k".to_owned(),
        100_000 => "bench-home-100k".to_owned(),
        _ => format!("bench-home-{count}"),
    });
    let packages: Vec<String> = (0..count).map(package_name).collect();
    let environments = vec!["dev".to_owned(), "int".to_owned(), "prod".to_owned()];
    let cached = fs::read_to_string(home.join(MARKER)).ok();
    if !force && cached.as_deref().map(str::trim) == Some(key(count).as_str()) {
        let seeding_took = fs::read_to_string(home.join(TOOK))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map(Duration::from_secs_f64);
        return Seeded {
            home,
            packages,
            environments,
            seeded_in: None,
            seeding_took,
        };
    }
    let started = Instant::now();
    if home.exists() {
        fs::remove_dir_all(&home).expect("remove the stale seeded home");
    }
    fs::create_dir_all(&home).expect("create the seeded home");
    println!(
        "seeding {} with {count} packages x 3 environments ...",
        home.display()
    );
    let environments = seed(&home, &packages).await;
    let seeded_in = started.elapsed();
    fs::write(home.join(TOOK), format!("{:.1}", seeded_in.as_secs_f64()))
        .expect("write the seeding time");
    fs::write(home.join(MARKER), key(count)).expect("write the seed marker");
    println!("seeded in {:.1} s", seeded_in.as_secs_f64());
    Seeded {
        home,
        packages,
        environments,
        seeded_in: Some(seeded_in),
        seeding_took: Some(seeded_in),
    }
}

async fn seed(home: &Path, packages: &[String]) -> Vec<String> {
    // dkd creates deploy.git with the default configuration on its first start.
    let daemon = Dkd::spawn(home);
    let last = packages.last().expect("at least one package");
    let (_, _) = wait_for_status(&daemon.socket(), last, daemon.spawned_at).await;
    let listing = client(&daemon.socket())
        .await
        .list_environments(proto::ListEnvironmentsRequest::default())
        .await
        .expect("ListEnvironments")
        .into_inner();
    let environments: Vec<(String, String)> = listing
        .environments
        .iter()
        .map(|e| (e.name.clone(), e.namespace.clone()))
        .collect();
    assert!(
        !environments.is_empty(),
        "dkd serves no environments: {:?}",
        listing.problems
    );
    // prod runs the oldest version, dev the newest.
    let versions: Vec<String> = (0..environments.len())
        .map(|k| format!("v1.{}.0", environments.len() - 1 - k))
        .collect();

    let step = Instant::now();
    let registry = home.join("registry");
    let digests = write_registry(&registry, packages, &versions);
    println!(
        "  registry: {} artifacts in {:.1} s",
        packages.len() * versions.len(),
        step.elapsed().as_secs_f64()
    );

    let step = Instant::now();
    commit_manifests(
        home,
        packages,
        &environments,
        &versions,
        &digests,
        &registry,
    );
    println!(
        "  deploy.git: {} manifests committed in {:.1} s",
        packages.len() * environments.len(),
        step.elapsed().as_secs_f64()
    );

    let step = Instant::now();
    wait_until_deployed(&daemon, packages, &environments).await;
    println!(
        "  dkd synced every package in {:.1} s",
        step.elapsed().as_secs_f64()
    );
    daemon.stop();
    environments.into_iter().map(|(name, _)| name).collect()
}

/// Publishes every version of every package; returns digests per package and version.
fn write_registry(
    registry: &Path,
    packages: &[String],
    versions: &[String],
) -> BTreeMap<(String, String), String> {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let parts: Vec<BTreeMap<(String, String), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let scratch = tempfile::Builder::new()
                        .prefix("dk-bench-seed-")
                        .tempdir()
                        .expect("tempdir");
                    let mut digests = BTreeMap::new();
                    for name in packages.iter().skip(t).step_by(threads) {
                        for version in versions {
                            packages::write_package_dir(scratch.path(), name, version);
                            let digest =
                                packages::publish_direct(registry, scratch.path(), name, version);
                            digests.insert((name.clone(), version.clone()), digest);
                        }
                    }
                    digests
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("registry writer"))
            .collect()
    });
    parts.into_iter().flatten().collect()
}

/// One commit on `main` adding `environments/<env>/<pkg>.yaml` for every package and
/// environment, written in bulk by one `git fast-import` (no file, no process per manifest);
/// then the objects are packed as `git gc` would leave them.
fn commit_manifests(
    home: &Path,
    packages: &[String],
    environments: &[(String, String)],
    versions: &[String],
    digests: &BTreeMap<(String, String), String>,
    registry: &Path,
) {
    let repo = home.join("deploy.git");
    let parent = git(&repo, &["rev-parse", "refs/heads/main"], &[], None);
    let message = format!(
        "Seed {} packages in {} environments",
        packages.len(),
        environments.len()
    );
    let mut stream = Vec::with_capacity(packages.len() * environments.len() * 600);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    stream.extend_from_slice(
        format!(
            "commit refs/heads/main\ncommitter bench <bench@localhost> {now} +0000\ndata {}\n{message}\nfrom {parent}\n",
            message.len()
        )
        .as_bytes(),
    );
    let mut number = 0;
    for ((environment, namespace), version) in environments.iter().zip(versions) {
        for name in packages {
            number += 1;
            let manifest = DeployedPackage {
                name: name.clone(),
                namespace: namespace.clone(),
                annotations: BTreeMap::from([
                    (ANNOTATION_PROMOTION_ID.to_owned(), format!("seed-{number}")),
                    (ANNOTATION_PROMOTED_BY.to_owned(), "bench-seed".to_owned()),
                ]),
                version: version.clone(),
                artifact: packages::reference(registry, name, version),
                digest: digests[&(name.clone(), version.clone())].clone(),
            }
            .to_yaml();
            stream.extend_from_slice(
                format!(
                    "M 100644 inline environments/{environment}/{name}.yaml\ndata {}\n",
                    manifest.len()
                )
                .as_bytes(),
            );
            stream.extend_from_slice(manifest.as_bytes());
            stream.push(b'\n');
        }
    }
    stream.extend_from_slice(b"done\n");
    git(
        &repo,
        &["fast-import", "--quiet", "--done"],
        &[],
        Some(&stream),
    );
    git(&repo, &["repack", "-a", "-d", "-q"], &[], None);
    git(&repo, &["prune-packed"], &[], None);
}

/// Waits until dkd's sync loop shows every package deployed and Healthy everywhere.
async fn wait_until_deployed(daemon: &Dkd, packages: &[String], environments: &[(String, String)]) {
    let mut client = client(&daemon.socket())
        .await
        .max_decoding_message_size(256 << 20);
    let last = packages.last().expect("a package");
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        assert!(
            started.elapsed() < PATIENCE * 10,
            "dkd did not sync the seeded packages; see {}",
            daemon.home.join("bench-dkd.log").display()
        );
        let done = match client
            .status(proto::StatusRequest {
                package: last.clone(),
                environment: String::new(),
            })
            .await
        {
            Ok(response) => {
                let rows = response.into_inner().packages;
                rows.len() == environments.len()
                    && rows
                        .iter()
                        .all(|r| r.deployed && r.health == proto::Health::Healthy as i32)
            }
            Err(_) => false,
        };
        if done {
            break;
        }
        if reported.elapsed() > Duration::from_secs(15) {
            println!(
                "  ... waiting for dkd to sync ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (environment, _) in environments {
        let rows = client
            .status(proto::StatusRequest {
                package: String::new(),
                environment: environment.clone(),
            })
            .await
            .expect("Status of an environment")
            .into_inner()
            .packages;
        let healthy = rows
            .iter()
            .filter(|r| r.deployed && r.health == proto::Health::Healthy as i32)
            .count();
        assert_eq!(
            healthy,
            packages.len(),
            "{environment}: {healthy} of {} packages deployed and Healthy",
            packages.len()
        );
    }
}
