//! A store change (`dk store add`) is a change record like a promotion, through the real
//! binaries: in int it waits for its approval, `dk approve --as` merges it and dkd serves
//! the store; it shows in `dk promotions`; a rejected one never lands; and one still open
//! when the state database is lost comes back open and approvable.

mod support;

use std::process::Stdio;

use support::{TestHome, eventually, json, stderr};

fn add_args<'a>(env: &'a str, name: &'a str) -> Vec<&'a str> {
    vec![
        "store",
        "add",
        env,
        name,
        "--type",
        "kafka-topic",
        "--set",
        "brokers=kafka:9092",
        "--set",
        "topic=user-events",
    ]
}

/// `dk store add` as JSON; it must succeed.
fn add(home: &TestHome, env: &str, name: &str) -> serde_json::Value {
    let output = home.dk(&[&["-o", "json"][..], &add_args(env, name)].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    json(&output)
}

/// The store names `dk env show ENV` lists.
fn stores_of(home: &TestHome, env: &str) -> Vec<String> {
    let shown = json(&home.dk(&["-o", "json", "env", "show", env]));
    shown["stores"]
        .as_array()
        .map(|stores| {
            stores
                .iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The record `dk promotions --env ENV` shows for `id`, finished or not.
fn record(home: &TestHome, env: &str, id: &str) -> Option<serde_json::Value> {
    let listed = json(&home.dk(&[
        "-o",
        "json",
        "promotions",
        "--env",
        env,
        "--state",
        "unfinished",
        "--state",
        "finished",
    ]));
    listed
        .as_array()
        .and_then(|all| all.iter().find(|p| p["id"] == id).cloned())
}

fn await_state(home: &TestHome, env: &str, id: &str, wanted: &str) -> serde_json::Value {
    eventually(&format!("{id} to be {wanted}"), || {
        record(home, env, id).filter(|p| p["state"] == wanted)
    })
}

#[test]
fn an_int_store_change_waits_for_its_approval_and_dk_approve_as_alice_merges_it() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    let mut waiting = home
        .dk_command(
            &[
                &add_args("int", "events-store")[..],
                &["--wait", "--timeout", "60s"],
            ]
            .concat(),
            false,
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dk store add --wait");
    let change = eventually("the int store change to wait for its approval", || {
        let listed = json(&home.dk(&["-o", "json", "promotions", "--env", "int"]));
        listed.as_array().and_then(|all| {
            all.iter()
                .find(|p| p["kind"] == "store" && p["state"] == "ChangeProposed")
                .cloned()
        })
    });
    assert_eq!(change["package"], "events-store", "{change}");
    let id = change["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("p-"), "{id}");
    assert!(
        stores_of(&home, "int").is_empty(),
        "merged without approval"
    );
    assert!(
        waiting.try_wait().expect("try_wait").is_none(),
        "--wait returned before the approval"
    );

    let approved = home.dk(&["approve", &id, "--as", "alice"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    let finished = eventually("dk store add --wait to return", || {
        waiting.try_wait().expect("try_wait")
    });
    let mut out = String::new();
    if let Some(mut stdout) = waiting.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut out).expect("read stdout");
    }
    assert!(finished.success(), "dk store add --wait failed: {out}");
    assert!(out.contains("store events-store added to int"), "{out}");
    assert_eq!(stores_of(&home, "int"), ["events-store"]);
    let served = await_state(&home, "int", &id, "Healthy");
    assert_eq!(served["kind"], "store", "{served}");
}

#[test]
fn a_rejected_store_change_never_lands() {
    let home = TestHome::demo();
    let _daemon = home.start_daemon();
    let opened = add(&home, "int", "events-store");
    assert_eq!(opened["merged"], false, "{opened}");
    let id = opened["id"].as_str().expect("id").to_owned();
    assert!(
        opened["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("dk approve {id}"))),
        "{opened}"
    );
    let rejected = home.dk(&["reject", &id, "--reason", "wrong brokers"]);
    assert!(rejected.status.success(), "{}", stderr(&rejected));
    await_state(&home, "int", &id, "Rejected");
    let late = home.dk(&["approve", &id, "--as", "alice"]);
    assert_eq!(late.status.code(), Some(4), "{}", stderr(&late));
    assert!(
        stores_of(&home, "int").is_empty(),
        "a rejected store landed"
    );
    let main = support::git(
        &home.deploy_repo(),
        &["ls-tree", "-r", "--name-only", "main"],
    );
    assert!(!main.contains("environments/int/stores/"), "{main}");
}

#[test]
fn a_store_change_open_when_the_state_database_is_lost_is_still_open_and_approvable() {
    let home = TestHome::demo();
    let mut daemon = home.start_daemon();
    let id = add(&home, "int", "events-store")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    await_state(&home, "int", &id, "ChangeProposed");
    daemon.signal("TERM");
    let _ = daemon.wait();
    std::fs::remove_dir_all(home.path().join("state.sled")).expect("delete state.sled");

    let _daemon = home.start_daemon();
    let restored = await_state(&home, "int", &id, "ChangeProposed");
    assert_eq!(restored["kind"], "store", "{restored}");
    assert_eq!(restored["package"], "events-store", "{restored}");
    let approved = home.dk(&["approve", &id, "--as", "alice"]);
    assert!(approved.status.success(), "{}", stderr(&approved));
    await_state(&home, "int", &id, "Healthy");
    assert_eq!(stores_of(&home, "int"), ["events-store"]);
    // The next change takes a new id.
    let next = add(&home, "int", "cold-store")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(next, id);
}
