//! The alerting rules (`charts/kube-kms/files/alerts.yaml`): checked and
//! unit-tested by a real promtool (Debian's `prometheus` package, which
//! `.ci/run` installs; `KUBE_KMS_PROMTOOL` names another), carried by the
//! chart's PrometheusRule as written, and naming only metrics kube-kms
//! exports. The Grafana dashboard (`charts/kube-kms/files/dashboard.json`)
//! likewise: every query parsed by promtool, naming only kube-kms's metrics
//! and their labels, carried by the chart's ConfigMap as written.

mod cluster;
mod skip;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/kube-kms/files/alerts.yaml"
);
const RULE_TESTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/prometheus/alerts_test.yaml"
);

fn promtool() -> PathBuf {
    std::env::var_os("KUBE_KMS_PROMTOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("promtool"))
}

fn run_promtool(args: &[&str]) -> String {
    let out = Command::new(promtool())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool: {e} (apt-get install prometheus, or set KUBE_KMS_PROMTOOL)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_each_alert_fires_when_it_should_only() {
    let checked = run_promtool(&["check", "rules", RULES]);
    assert!(checked.contains("SUCCESS: 10 rules found"), "{checked}");
    let tested = run_promtool(&["test", "rules", RULE_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert is tested, firing and quiet.
    let rules = std::fs::read_to_string(RULES).unwrap();
    let tests = std::fs::read_to_string(RULE_TESTS).unwrap();
    for alert in alert_names(&rules) {
        let expectations = tests.matches(&format!("alertname: {alert}")).count();
        assert!(expectations >= 2, "{alert} is tested {expectations} times");
    }
}

fn alert_names(rules: &str) -> Vec<String> {
    let parsed: Value = serde_yaml::from_str(rules).unwrap();
    parsed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["alert"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_rules_name_only_metrics_kube_kms_registers() {
    let rules = std::fs::read_to_string(RULES).unwrap();
    assert!(metrics_named_in(&rules, &sources(), "the rules") >= 8);
}

/// How many times `text` names a kube-kms metric, each of which some
/// metric in `sources` (src/'s) must be called.
fn metrics_named_in(text: &str, sources: &str, what: &str) -> usize {
    let mut named = 0;
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let Some(rest) = word.strip_prefix("kubekms_") else {
            continue;
        };
        // A histogram's series are its name and a suffix.
        let family = ["_count", "_sum", "_bucket"]
            .iter()
            .find_map(|s| rest.strip_suffix(s))
            .unwrap_or(rest);
        assert!(
            sources.contains(&format!("\"kubekms_{family}\"")),
            "{what} name kubekms_{family}, which no metric in src/ is called"
        );
        named += 1;
    }
    named
}

/// Every `.rs` file under src/, concatenated.
fn sources() -> String {
    source_text(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")))
}

/// Every `.rs` file under `dir`, concatenated.
fn source_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text.push_str(&source_text(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    text
}

/// Renders the chart (release `kms` in namespace `kube-kms`) with these
/// `--set`s; `None`, saying why, without helm.
fn chart() -> Option<impl Fn(&[&str]) -> Vec<Value>> {
    let Some(helm) = std::env::var_os("KUBE_KMS_HELM").map(PathBuf::from) else {
        skip::skipped(format_args!(
            "KUBE_KMS_HELM is not set (scripts/test installs helm and sets it)"
        ));
        return None;
    };
    Some(move |sets: &[&str]| cluster::manifests::render(&helm, "kms", "kube-kms", sets))
}

#[test]
fn the_chart_carries_the_rules_as_written_when_asked() {
    let Some(render) = chart() else {
        return;
    };
    let rule = |objects: &[Value]| {
        objects
            .iter()
            .find(|o| o["kind"] == "PrometheusRule")
            .cloned()
    };
    assert_eq!(rule(&render(&[])), None, "off by default");
    let objects = render(&[
        "prometheusRule.enabled=true",
        "prometheusRule.labels.release=prom",
    ]);
    let rule = rule(&objects).expect("a PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], "kube-kms");
    assert_eq!(rule["metadata"]["labels"]["release"], "prom");
    let written: Value = serde_yaml::from_str(&std::fs::read_to_string(RULES).unwrap()).unwrap();
    assert_eq!(
        rule["spec"], written,
        "the rules, templates and all, untouched"
    );
}

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/kube-kms/files/dashboard.json"
);

/// Every query of the dashboard, in panel order.
fn dashboard_queries() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap())
        .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut queries = Vec::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    queries
}

/// Each query, with Grafana's variables given values, parsed by promtool
/// (as a recording rule's expression).
#[test]
fn promtool_parses_every_query_of_the_dashboard() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{}", queries.len());
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, query)| {
            let expr = query
                .replace("$__rate_interval", "5m")
                .replace("$namespace", ".*");
            assert!(!expr.contains('$'), "a variable left in {expr}");
            serde_json::json!({"record": format!("kubekms_dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    let groups = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(file.path(), serde_yaml::to_string(&groups).unwrap()).unwrap();
    let checked = run_promtool(&["check", "rules", file.path().to_str().unwrap()]);
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{checked}"
    );
}

/// The dashboard's metrics are kube-kms's, and so are the labels it sums
/// or takes quantiles by (besides those Prometheus adds).
#[test]
fn the_dashboard_names_only_metrics_and_labels_kube_kms_registers() {
    let queries = dashboard_queries().join("\n");
    let sources = sources();
    assert!(metrics_named_in(&queries, &sources, "the dashboard's queries") >= 20);
    let mut labels = 0;
    for clause in queries.split("by (").skip(1) {
        let clause = clause.split(')').next().unwrap();
        for label in clause.split(',').map(str::trim) {
            if ["le", "instance", "namespace"].contains(&label) {
                continue;
            }
            assert!(
                sources.contains(&format!("\"{label}\"")),
                "the dashboard groups by {label}, which no metric in src/ has"
            );
            labels += 1;
        }
    }
    assert!(labels >= 15, "{labels}");
}

#[test]
fn the_chart_carries_the_dashboard_as_written_when_asked() {
    let Some(render) = chart() else {
        return;
    };
    let dashboard = |objects: &[Value]| {
        objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["data"]["kube-kms.json"].is_string())
            .cloned()
    };
    assert_eq!(dashboard(&render(&[])), None, "off by default");
    let found = dashboard(&render(&["grafanaDashboard.enabled=true"])).expect("a ConfigMap");
    assert_eq!(found["metadata"]["namespace"], "kube-kms");
    assert_eq!(found["metadata"]["labels"]["grafana_dashboard"], "1");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let carried: Value =
        serde_json::from_str(found["data"]["kube-kms.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        carried, written,
        "the dashboard, variables and all, untouched"
    );
    let elsewhere = dashboard(&render(&[
        "grafanaDashboard.enabled=true",
        "grafanaDashboard.namespace=monitoring",
        "grafanaDashboard.labels.team=platform",
    ]))
    .unwrap();
    assert_eq!(elsewhere["metadata"]["namespace"], "monitoring");
    assert_eq!(elsewhere["metadata"]["labels"]["team"], "platform");
}
