//! The alerting rules (`charts/kube-kms/files/alerts.yaml`): checked and
//! unit-tested by a real promtool (Debian's `prometheus` package, which
//! `.ci/run` installs; `KUBE_KMS_PROMTOOL` names another), carried by the
//! chart's PrometheusRule as written, and naming only metrics kube-kms
//! exports.

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
    let sources = source_text(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")));
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
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
            "the rules name kubekms_{family}, which no metric in src/ is called"
        );
        named += 1;
    }
    assert!(named >= 8, "{named}");
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

#[test]
fn the_chart_carries_the_rules_as_written_when_asked() {
    let Some(helm) = std::env::var_os("KUBE_KMS_HELM").map(PathBuf::from) else {
        skip::skipped(format_args!(
            "KUBE_KMS_HELM is not set (scripts/test installs helm and sets it)"
        ));
        return;
    };
    let render = |sets: &[&str]| cluster::manifests::render(&helm, "kms", "kube-kms", sets);
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
