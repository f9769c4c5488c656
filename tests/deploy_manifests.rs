//! `deploy/kubernetes/` and `deploy/Dockerfile` keep their promises: every manifest is valid
//! against the Kubernetes 1.34 schemas (PyPI's `kubernetes-validate`, offline, `--strict`),
//! the kustomization lists exactly the files present, and the structure the docs describe
//! holds: three replicas spread over nodes, gRPC probes on the probes port of dkd.yaml, a
//! non-root read-only container, every file dkd.yaml names mounted, and RBAC granting exactly
//! the verbs dkd uses, to the service account its pods run as.
//!
//! `kubernetes-validate` is required, in CI (`CI=true`) and outside: a missing one fails the
//! test with the command that installs it (`tests/run` installs it), it never skips.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// The Kubernetes version the manifests are validated against (k8s-openapi's `v1_34` too).
const KUBERNETES_VERSION: &str = "1.34.0";

const INSTALL_HINT: &str =
    "run `bash tests/run` (it installs it) or `python3 -m pip install kubernetes-validate`";

fn kubernetes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// The YAML files of `deploy/kubernetes/`, by name, sorted.
fn yaml_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(kubernetes_dir())
        .expect("read deploy/kubernetes")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

/// The resource files: every YAML file but kustomize's own.
fn resource_files() -> Vec<String> {
    yaml_files()
        .into_iter()
        .filter(|name| name != "kustomization.yaml")
        .collect()
}

fn read_documents(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(kubernetes_dir().join(name)).expect("read a manifest");
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|error| panic!("deploy/kubernetes/{name} is not YAML: {error}"))
        .into_iter()
        .filter(|document| !document.is_null())
        .collect()
}

/// Every object of the resource files.
fn objects() -> Vec<Value> {
    resource_files()
        .iter()
        .flat_map(|name| read_documents(name))
        .collect()
}

/// The objects of `kind`.
fn all_of(kind: &str) -> Vec<Value> {
    objects()
        .into_iter()
        .filter(|object| object["kind"] == kind)
        .collect()
}

/// The one object of `kind` named `name` in `namespace` ("" for cluster-wide objects).
fn the(kind: &str, namespace: &str, name: &str) -> Value {
    let found: Vec<Value> = all_of(kind)
        .into_iter()
        .filter(|o| {
            o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str().unwrap_or_default() == namespace
        })
        .collect();
    assert_eq!(found.len(), 1, "one {kind} {namespace}/{name}: {found:#?}");
    found.into_iter().next().expect("one")
}

fn deployment() -> Value {
    the("Deployment", "datakit", "dkd")
}

fn dkd_container() -> Value {
    let containers = deployment()["spec"]["template"]["spec"]["containers"].clone();
    let containers = containers.as_array().expect("containers").clone();
    assert_eq!(containers.len(), 1, "dkd's pod has one container");
    containers[0].clone()
}

/// dkd.yaml of the ConfigMap, parsed.
fn dkd_yaml() -> Value {
    let configmap = the("ConfigMap", "datakit", "dkd-config");
    let text = configmap["data"]["dkd.yaml"]
        .as_str()
        .expect("data.dkd.yaml");
    serde_saphyr::from_str(text).expect("dkd.yaml of the ConfigMap is YAML")
}

fn port_of(address: &Value) -> u64 {
    let address = address.as_str().expect("an address");
    let (_, port) = address.rsplit_once(':').expect("HOST:PORT");
    port.parse().expect("a port number")
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_manifest_is_valid_against_the_kubernetes_schemas_strictly() {
    let files = resource_files();
    assert!(
        files.len() >= 8,
        "deploy/kubernetes has its manifests: {files:?}"
    );
    let output = Command::new("kubernetes-validate")
        .args(["--kubernetes-version", KUBERNETES_VERSION, "--strict"])
        .args(&files)
        .current_dir(kubernetes_dir())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            let context = if std::env::var("CI").is_ok_and(|v| v == "true") {
                "CI must provide it"
            } else {
                "this test never skips"
            };
            panic!("kubernetes-validate cannot be run ({error}; {context}): {INSTALL_HINT}")
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubernetes-validate refused a manifest:\n{stdout}\n{stderr}"
    );
    // Each object is reported as passed: none was skipped (an unknown kind only warns).
    let passed = stdout
        .lines()
        .filter(|l| l.contains(" passed for resource "))
        .count();
    assert_eq!(
        passed,
        objects().len(),
        "every object validated:\n{stdout}\n{stderr}"
    );
}

#[test]
fn the_kustomization_lists_exactly_the_resource_files_present() {
    let kustomization = read_documents("kustomization.yaml");
    assert_eq!(kustomization.len(), 1);
    let kustomization = &kustomization[0];
    assert_eq!(kustomization["kind"], "Kustomization");
    let listed: Vec<String> = strings(&kustomization["resources"]).into_iter().collect();
    assert_eq!(
        listed.len(),
        kustomization["resources"]
            .as_array()
            .expect("resources")
            .len(),
        "no file is listed twice"
    );
    assert_eq!(listed, resource_files());
    // A kustomize namespace: would move the Roles of argocd and the environments into datakit.
    assert!(
        kustomization.get("namespace").is_none(),
        "{kustomization:#?}"
    );
    let images = kustomization["images"].as_array().expect("images");
    let container = dkd_container();
    assert!(
        images.iter().any(|image| container["image"]
            .as_str()
            .expect("image")
            .starts_with(image["name"].as_str().expect("images[].name"))),
        "images: sets the Deployment's image"
    );
}

#[test]
fn every_object_names_its_namespace_and_dkds_own_live_in_datakit() {
    for object in objects() {
        let kind = object["kind"].as_str().expect("kind");
        let namespace = &object["metadata"]["namespace"];
        match kind {
            "Namespace" => assert!(namespace.is_null()),
            "Role" | "RoleBinding" => assert!(namespace.is_string(), "{object:#?}"),
            _ => assert_eq!(
                namespace, "datakit",
                "{kind} {}",
                object["metadata"]["name"]
            ),
        }
    }
    the("Namespace", "", "datakit");
}

#[test]
fn dkd_runs_as_three_replicas_spread_over_nodes_and_one_may_be_disrupted_at_a_time() {
    let deployment = deployment();
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let matches = |selector: &Value| {
        let wanted = selector["matchLabels"].as_object().expect("matchLabels");
        !wanted.is_empty() && wanted.iter().all(|(key, value)| &pod_labels[key] == value)
    };
    assert!(matches(&deployment["spec"]["selector"]));
    let terms = &deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    let terms = terms.as_array().expect("preferred pod anti-affinity");
    assert!(
        terms.iter().any(|term| {
            term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
                && matches(&term["podAffinityTerm"]["labelSelector"])
        }),
        "{terms:#?}"
    );
    let budget = the("PodDisruptionBudget", "datakit", "dkd");
    assert!(matches(&budget["spec"]["selector"]));
    assert!(
        budget["spec"]["maxUnavailable"] == 1 || budget["spec"]["minAvailable"] == 2,
        "{budget:#?}"
    );
}

#[test]
fn the_probes_are_grpc_on_the_probes_port_of_dkd_yaml() {
    let container = dkd_container();
    let probes_port = port_of(&dkd_yaml()["probes"]["address"]);
    let declared: BTreeSet<u64> = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|port| port["containerPort"].as_u64().expect("containerPort"))
        .collect();
    assert!(declared.contains(&probes_port), "{declared:?}");
    for (probe, service) in [
        ("readinessProbe", ""),
        ("livenessProbe", "liveness"),
        ("startupProbe", "liveness"),
    ] {
        let grpc = &container[probe]["grpc"];
        assert_eq!(grpc["port"].as_u64(), Some(probes_port), "{probe}");
        assert_eq!(grpc["service"].as_str().unwrap_or(""), service, "{probe}");
        for other in ["httpGet", "tcpSocket", "exec"] {
            assert!(
                container[probe].get(other).is_none(),
                "{probe} is gRPC only"
            );
        }
    }
}

#[test]
fn dkd_runs_as_non_root_with_a_read_only_root_and_no_capabilities() {
    let pod = &deployment()["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(
        pod["securityContext"]["runAsUser"]
            .as_u64()
            .is_some_and(|uid| uid > 0)
    );
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = dkd_container();
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(
        strings(&security["capabilities"]["drop"]),
        BTreeSet::from(["ALL".into()])
    );
    assert!(security["capabilities"].get("add").is_none());
    assert!(security.get("privileged").is_none_or(|p| p == false));
    let resources = &container["resources"];
    assert!(resources["requests"]["cpu"].is_string() && resources["limits"]["memory"].is_string());
    assert!(
        pod["terminationGracePeriodSeconds"]
            .as_u64()
            .is_some_and(|s| (10..=120).contains(&s))
    );
    let env: BTreeMap<String, Value> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|var| (var["name"].as_str().expect("name").to_owned(), var.clone()))
        .collect();
    assert_eq!(
        env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"],
        "status.podIP"
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg"))
        .collect();
    assert_eq!(
        args,
        [
            "--home",
            "/var/lib/datakit",
            "--config",
            "/etc/datakit/dkd.yaml"
        ]
    );
}

/// Every file path the pod sees through its Secret, ConfigMap and projected volumes.
fn mounted_files() -> BTreeSet<String> {
    let pod = &deployment()["spec"]["template"]["spec"];
    let volumes: BTreeMap<String, Value> = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| (v["name"].as_str().expect("name").to_owned(), v.clone()))
        .collect();
    let mut files = BTreeSet::new();
    for mount in dkd_container()["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
    {
        let at = mount["mountPath"].as_str().expect("mountPath");
        let volume = &volumes[mount["name"].as_str().expect("name")];
        let sources: Vec<Value> = match volume["projected"]["sources"].as_array() {
            Some(sources) => sources.clone(),
            None => vec![volume.clone()],
        };
        for source in sources {
            let object = ["secret", "configMap"]
                .iter()
                .map(|kind| &source[*kind])
                .find(|o| o.is_object());
            let Some(object) = object else { continue };
            for item in object["items"].as_array().expect("explicit items") {
                files.insert(format!("{at}/{}", item["path"].as_str().expect("path")));
            }
        }
    }
    files
}

#[test]
fn every_file_dkd_yaml_names_is_mounted_into_the_pod() {
    let config = dkd_yaml();
    let mounted = mounted_files();
    let mut named = vec![
        &config["forge"]["token_file"],
        &config["listen"]["cert_file"],
        &config["listen"]["key_file"],
        &config["ha"]["peers"]["cert_file"],
        &config["ha"]["peers"]["key_file"],
        &config["ha"]["peers"]["ca_file"],
    ];
    let clusters = config["clusters"].as_object().expect("clusters");
    named.extend(clusters.values().map(|cluster| &cluster["kubeconfig"]));
    for path in named {
        let path = path.as_str().expect("a path in dkd.yaml");
        assert!(mounted.contains(path), "{path} is not mounted: {mounted:?}");
    }
    assert!(mounted.contains("/etc/datakit/dkd.yaml"), "{mounted:?}");
    // The kubeconfig uses the service account Kubernetes mounts into the pod.
    let configmap = the("ConfigMap", "datakit", "dkd-config");
    let kubeconfig: Value = serde_saphyr::from_str(
        configmap["data"]["in-cluster.kubeconfig"]
            .as_str()
            .expect("in-cluster.kubeconfig"),
    )
    .expect("the kubeconfig is YAML");
    let account = "/var/run/secrets/kubernetes.io/serviceaccount";
    assert_eq!(
        kubeconfig["users"][0]["user"]["tokenFile"],
        format!("{account}/token")
    );
    assert_eq!(
        kubeconfig["clusters"][0]["cluster"]["certificate-authority"],
        format!("{account}/ca.crt")
    );
    assert_eq!(
        deployment()["spec"]["template"]["spec"]["automountServiceAccountToken"],
        true
    );
}

#[test]
fn the_services_reach_the_client_and_replica_ports_of_dkd_yaml() {
    let config = dkd_yaml();
    let container = dkd_container();
    let port_named = |name: &Value| {
        container["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| &p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
    };
    let clients = the("Service", "datakit", "dkd");
    assert_eq!(clients["spec"]["type"], "ClusterIP");
    let port = &clients["spec"]["ports"][0];
    assert_eq!(port["port"], 8443);
    assert_eq!(
        port_named(&port["targetPort"]),
        Some(port_of(&config["listen"]["address"]))
    );
    let replicas = the("Service", "datakit", "dkd-replicas");
    assert_eq!(replicas["spec"]["clusterIP"], "None");
    assert_eq!(replicas["spec"]["publishNotReadyAddresses"], true);
    let port = &replicas["spec"]["ports"][0];
    assert_eq!(port["port"], 9443);
    assert_eq!(
        port_named(&port["targetPort"]),
        Some(port_of(&config["ha"]["peers"]["listen"]))
    );
    assert_eq!(config["ha"]["peers"]["server_name"], "dkd-replica");
    assert_eq!(config["ha"]["lease"]["namespace"], "datakit");
}

/// One rule, comparable: (apiGroups, resources, resourceNames, verbs).
type Rule = (
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
    BTreeSet<String>,
);

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> Rule {
    let set = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    (set(groups), set(resources), set(names), set(verbs))
}

/// The rules of every Role, by namespace/name.
fn roles() -> BTreeMap<String, BTreeSet<Rule>> {
    all_of("Role")
        .iter()
        .map(|role| {
            let rules = role["rules"]
                .as_array()
                .expect("rules")
                .iter()
                .map(|r| {
                    (
                        strings(&r["apiGroups"]),
                        strings(&r["resources"]),
                        strings(&r["resourceNames"]),
                        strings(&r["verbs"]),
                    )
                })
                .collect();
            let at = format!(
                "{}/{}",
                role["metadata"]["namespace"], role["metadata"]["name"]
            );
            (at.replace('"', ""), rules)
        })
        .collect()
}

#[test]
fn the_roles_grant_exactly_the_verbs_dkd_uses_and_nothing_cluster_wide() {
    let lease = "dkd-leader";
    assert_eq!(dkd_yaml()["ha"]["lease"]["name"], lease);
    let environment = BTreeSet::from([
        rule(&["batch"], &["jobs"], &[], &["create", "list", "watch"]),
        rule(&[""], &["pods"], &[], &["list"]),
        rule(&[""], &["pods/log"], &[], &["get"]),
    ]);
    let expected = BTreeMap::from([
        (
            "datakit/dkd-leader-election".to_owned(),
            BTreeSet::from([
                rule(
                    &["coordination.k8s.io"],
                    &["leases"],
                    &[lease],
                    &["get", "update"],
                ),
                rule(&["coordination.k8s.io"], &["leases"], &[], &["create"]),
            ]),
        ),
        (
            "argocd/dkd-read-applications".to_owned(),
            BTreeSet::from([rule(
                &["argoproj.io"],
                &["applications"],
                &[],
                &["list", "watch"],
            )]),
        ),
        (
            "datakit-dev/dkd-environment".to_owned(),
            environment.clone(),
        ),
        (
            "datakit-int/dkd-environment".to_owned(),
            environment.clone(),
        ),
        ("datakit-prod/dkd-environment".to_owned(), environment),
    ]);
    assert_eq!(roles(), expected);
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        assert!(
            all_of(kind).is_empty(),
            "no {kind}: dkd needs nothing cluster-wide"
        );
    }
}

#[test]
fn every_role_is_bound_to_the_service_account_the_pods_run_as() {
    let account = the("ServiceAccount", "datakit", "dkd");
    let pod = &deployment()["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    let bindings = all_of("RoleBinding");
    let roles = roles();
    assert_eq!(bindings.len(), roles.len(), "one binding per Role");
    for binding in bindings {
        let namespace = binding["metadata"]["namespace"]
            .as_str()
            .expect("namespace");
        assert_eq!(binding["roleRef"]["kind"], "Role");
        let role = format!(
            "{namespace}/{}",
            binding["roleRef"]["name"].as_str().expect("name")
        );
        assert!(roles.contains_key(&role), "{role} exists");
        let subjects = binding["subjects"].as_array().expect("subjects");
        assert_eq!(
            subjects,
            &vec![
                serde_json::json!({ "kind": "ServiceAccount", "name": "dkd", "namespace": "datakit" })
            ],
            "{role}"
        );
    }
}

#[test]
fn the_dockerfile_builds_both_binaries_and_runs_dkd_as_a_numeric_non_root_user() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile");
    let text = std::fs::read_to_string(path).expect("deploy/Dockerfile");
    let instructions: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let from = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(from >= 2, "multi-stage: a builder and a runtime");
    assert!(text.contains("cargo build --release --locked -p dkd -p dk"));
    let runtime: Vec<&&str> = instructions
        .iter()
        .skip_while(|l| !l.contains("AS build"))
        .skip(1)
        .skip_while(|l| !l.starts_with("FROM "))
        .collect();
    let user = runtime
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .expect("a numeric USER");
    assert_ne!(uid, 0);
    assert!(runtime.contains(&&"EXPOSE 8443 9443 8081"));
    assert!(
        runtime
            .iter()
            .any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/dkd\"]"))
    );
    let copies: Vec<&&&str> = runtime.iter().filter(|l| l.starts_with("COPY ")).collect();
    assert_eq!(
        copies.len(),
        1,
        "the runtime holds dkd and dk only: {copies:?}"
    );
    assert!(copies[0].contains("/out/dkd /out/dk "), "{copies:?}");
}
