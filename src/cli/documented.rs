//! The command lines and variables the README and `docs/` show: each must
//! parse or be read, so a flag renamed or removed cannot leave the
//! documentation behind.

use clap::Parser;

use super::Cli;

/// Every `kube-kms …` command in the shell blocks of `text`: continued lines
/// joined, a trailing `# comment` dropped, and anything before `kube-kms`
/// (`kubectl exec … --`) left out.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let mut line = line.to_owned();
        while line.trim_end().ends_with('\\') {
            let next = lines.next().unwrap_or_default();
            line = format!("{} {}", line.trim_end().trim_end_matches('\\'), next.trim());
        }
        let command = line.split(" #").next().unwrap_or_default().trim();
        if command.starts_with('#') {
            continue;
        }
        // Where a command begins: the line's start, or after `--`, `$(`,
        // `|`, `;` or `&&` (not `-n kube-kms`, a namespace).
        let starts = command
            .match_indices("kube-kms ")
            .map(|(at, _)| at)
            .find(|&at| {
                let before = command[..at].trim_end();
                at == 0
                    || ["--", "$(", "|", ";", "&&"]
                        .iter()
                        .any(|s| before.ends_with(s))
            });
        if let Some(at) = starts {
            found.push(
                command[at..]
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    found
}

/// The README and every file in `docs/`, with their text.
fn documents() -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).unwrap();
            (file, text)
        })
        .collect()
}

#[test]
fn documented_command_lines_parse() {
    let mut parsed = 0;
    for (file, text) in documents() {
        for command in commands(&text) {
            if let Err(error) = Cli::try_parse_from(&command) {
                panic!(
                    "{}: `{}` does not parse:\n{error}",
                    file.display(),
                    command.join(" ")
                );
            }
            parsed += 1;
        }
    }
    // The README's multi-Region, key move and KMS v2 plugin sections, and
    // docs/kms-plugin.md: a command list that came out empty would pass.
    assert!(parsed >= 10, "only {parsed} commands found");
}

/// Every variable of the form `KUBE_KMS_…` the README and `docs/` name
/// sets a flag of some role, but for those the test suite and benchmarks
/// read.
#[test]
fn documented_variables_set_flags() {
    use clap::CommandFactory;
    const FOR_TESTS: [&str; 7] = [
        "KUBE_KMS_E2E_",
        "KUBE_KMS_BENCH_",
        "KUBE_KMS_TERRAFORM",
        "KUBE_KMS_HELM",
        "KUBE_KMS_KUSTOMIZE",
        "KUBE_KMS_ADVISORY_DB",
        "KUBE_KMS_TEST_",
    ];
    fn flags(command: &clap::Command, into: &mut std::collections::BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            flags(sub, into);
        }
    }
    let mut read = std::collections::BTreeSet::new();
    flags(&Cli::command(), &mut read);
    let mut named = 0;
    for (file, text) in documents() {
        for (at, _) in text.match_indices("KUBE_KMS_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if FOR_TESTS.iter().any(|prefix| name.starts_with(prefix)) {
                continue;
            }
            assert!(
                read.contains(&name),
                "{}: no flag reads {name}",
                file.display()
            );
            named += 1;
        }
    }
    assert!(named > 0, "no variable found");
}
