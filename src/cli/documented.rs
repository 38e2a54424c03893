//! The command lines the README and `docs/` show: each must parse, so a
//! flag renamed or removed cannot leave the documentation behind.

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

#[test]
fn documented_command_lines_parse() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut parsed = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
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
