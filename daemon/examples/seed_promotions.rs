//! Seeds a dkd state database with many finished promotion records, straight through the
//! store (no promotions run), to measure lookups such as `dk history PKG` at scale:
//! `cargo run --release -p dkd --example seed_promotions -- DK_HOME/state.sled 100000 10000`
//! writes 100,000 Healthy promotions of `pkg-00000` … `pkg-09999` into `dev`, then times
//! reading one package's promotions through the index against decoding every record (a
//! COUNT of 0 only times). Stop dkd first (it holds the database).

use std::{path::PathBuf, sync::Arc, time::Instant};

use dkd::{
    promotion::{Promotion, PromotionKind, PromotionState, now, ports::StateStore},
    store::SledStore,
};

/// Writers at once (each save waits for the disk; sled joins concurrent flushes).
const WRITERS: u64 = 16;

fn record(number: u64, packages: u64) -> Promotion {
    let package = format!("pkg-{:05}", number % packages);
    let version = format!("v1.0.{}", number / packages);
    let at = now();
    let mut promotion = Promotion {
        id: format!("p-{number}"),
        artifact: format!("registry.example/{package}:{version}"),
        package,
        version,
        environment: "dev".into(),
        digest: format!("sha256:{}", "0".repeat(64)),
        previous_version: None,
        kind: PromotionKind::Promotion,
        state: PromotionState::Requested,
        message: "accepted".into(),
        promoter: "seed".into(),
        forced: false,
        change: None,
        approvals: Vec::new(),
        checks: Vec::new(),
        merge_commit: Some("0".repeat(40)),
        superseded_by: None,
        created_at: at,
        updated_at: at,
        transitions: Vec::new(),
        store_manifest: None,
        reason: None,
    };
    promotion.enter(PromotionState::Healthy, "dev runs it (seeded)");
    promotion
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: seed_promotions STATE_SLED COUNT PACKAGES";
    let path = PathBuf::from(args.next().ok_or(usage)?);
    let count: u64 = args.next().ok_or(usage)?.parse()?;
    let packages: u64 = args.next().ok_or(usage)?.parse()?;
    let started = Instant::now();
    let store = Arc::new(SledStore::open(&path)?);
    println!(
        "opened (every record verified) in {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            std::thread::spawn(move || {
                (1..=count)
                    .filter(|number| number % WRITERS == writer)
                    .try_for_each(|number| store.save_promotion(&record(number, packages)))
            })
        })
        .collect();
    for writer in writers {
        writer.join().map_err(|_| "a writer panicked")??;
    }
    store.raise_promotion_counter(count)?;
    println!(
        "seeded {count} promotions of {packages} packages in {:.1?}",
        started.elapsed()
    );
    for package in ["pkg-00042", "pkg-00042", "pkg-05000"] {
        let started = Instant::now();
        let one = store.load_package_promotions(package)?.len();
        println!(
            "indexed: {one} promotions of {package} in {:.2?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    let unfinished = store.load_unfinished_promotions()?.len();
    println!(
        "indexed: {unfinished} unfinished promotions in {:.2?}",
        started.elapsed()
    );
    let started = Instant::now();
    let all = store.load_promotions()?;
    let scanned = all.iter().filter(|p| p.package == "pkg-00042").count();
    println!(
        "full decode (the old path): {scanned} promotions of pkg-00042 among {} in {:.2?}",
        all.len(),
        started.elapsed()
    );
    Ok(())
}
