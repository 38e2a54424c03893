//! The hash chain through an audit trail: each record carries its sequence
//! number and the SHA-256 of the line before it, so removing, reordering or
//! altering a record breaks the chain at the record after it. The last
//! record has no successor to vouch for it: [`Verified::last_hash`] is what
//! to keep elsewhere, for [`verify_holding`] to cover it later.

use std::io::BufRead;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The member of each record that holds its link.
pub const MEMBER: &str = "kubeKmsChain";

/// The chain's state after a line: the next record's sequence and the
/// hash it must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub next_sequence: u64,
    pub previous_hash: String,
}

impl Link {
    /// The start of a new trail.
    pub fn genesis() -> Self {
        Link {
            next_sequence: 1,
            previous_hash: "0".repeat(64),
        }
    }

    /// The link the next record carries, as its [`MEMBER`].
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            sequence: self.next_sequence,
            previous_hash: &self.previous_hash,
        }
    }

    /// Moves on past `line`, the record just written with [`Link::fields`].
    pub fn advance(&mut self, line: &[u8]) {
        *self = Link::past(self.next_sequence, line);
    }

    /// The chain after `line`, the record numbered `sequence`.
    fn past(sequence: u64, line: &[u8]) -> Link {
        Link {
            next_sequence: sequence + 1,
            previous_hash: hash(line),
        }
    }

    /// The chain after `line`, the last line of an existing trail; `None`
    /// if it is not a record of one.
    pub fn following(line: &[u8]) -> Option<Link> {
        let (sequence, _) = link_of(line)?;
        Some(Link::past(sequence, line))
    }
}

fn hash(line: &[u8]) -> String {
    // Into a buffer: `hex::encode` builds its String a char at a time,
    // about 1,600 instructions per record.
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(line), &mut hex).expect("64 digits for 32 bytes");
    String::from_utf8(hex.to_vec()).expect("hex digits are ASCII")
}

/// A record's link, as it is written.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields<'a> {
    sequence: u64,
    previous_hash: &'a str,
}

/// A record's `(sequence, previousHash)`.
fn link_of(line: &[u8]) -> Option<(u64, String)> {
    let record: Value = serde_json::from_slice(line).ok()?;
    let link = record.get(MEMBER)?;
    Some((
        link.get("sequence")?.as_u64()?,
        link.get("previousHash")?.as_str()?.to_owned(),
    ))
}

/// A trail whose chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub records: u64,
    /// Lines that are not records (a container log interleaves the
    /// process's own log lines with them), passed over: a record altered
    /// into one still breaks the chain at the record after it.
    pub other_lines: u64,
    /// The last line has no newline and is no record: one still being
    /// written (a live trail) or cut part-way. Passed over, and not
    /// counted among the other lines.
    pub unfinished: bool,
    /// Chains in the trail: one, plus one per restart of a process that
    /// began a new one (records cut from the end of one chain before the
    /// next begins go unseen, as from the end of a trail).
    pub chains: u64,
    /// The first record's sequence: above 1 when older records were
    /// rotated away (the first record's own link is then taken on trust).
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub last_hash: String,
}

/// Where the chain breaks: the 1-based line, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct Broken {
    pub line: u64,
    pub why: String,
}

/// Checks every link of a trail read from `lines`.
pub fn verify(lines: impl BufRead) -> Result<Verified, Broken> {
    verify_holding(lines, None)
}

/// [`verify`], and that the trail still holds the record whose hash is
/// `kept` (the last hash an earlier check printed): that covers the end
/// of the trail as it was then, which no later record vouched for.
pub fn verify_holding(mut lines: impl BufRead, kept: Option<&str>) -> Result<Verified, Broken> {
    let mut held = kept.is_none();
    let genesis = Link::genesis().previous_hash;
    // The chain after the last record read, and the first one's sequence.
    let mut expected: Option<Link> = None;
    let mut first_sequence = None;
    let (mut records, mut other_lines, mut chains) = (0, 0, 1);
    let mut unfinished = false;
    let (mut line, mut number) = (Vec::new(), 0);
    loop {
        line.clear();
        number += 1;
        let broken = |why: String| Broken { line: number, why };
        let read = lines
            .read_until(b'\n', &mut line)
            .map_err(|e| broken(format!("unreadable: {e}")))?;
        if read == 0 {
            break;
        }
        let ended = line.pop_if(|last| *last == b'\n').is_some();
        let Some((sequence, previous)) = link_of(&line) else {
            // Only the last line can lack its newline.
            if ended {
                other_lines += 1;
            } else {
                unfinished = true;
            }
            continue;
        };
        // A process that writes to standard output starts a chain of its
        // own each time it starts: a container log holds one per start.
        let restart = sequence == 1 && previous == genesis;
        if restart && expected.is_some() {
            chains += 1;
        }
        if let Some(expected) = expected.as_ref().filter(|_| !restart) {
            if sequence != expected.next_sequence {
                return Err(broken(format!(
                    "sequence {sequence} where {} was due: records are missing or out of order",
                    expected.next_sequence
                )));
            }
            if previous != expected.previous_hash {
                return Err(broken(format!(
                    "sequence {sequence} does not follow the line before it: that line was altered, or records removed"
                )));
            }
        }
        first_sequence.get_or_insert(sequence);
        records += 1;
        let past = Link::past(sequence, &line);
        held |= kept == Some(past.previous_hash.as_str());
        expected = Some(past);
    }
    let (Some(first_sequence), Some(last)) = (first_sequence, expected) else {
        return Err(Broken {
            line: 0,
            why: "no records".into(),
        });
    };
    if !held {
        return Err(Broken {
            line: 0,
            why: format!(
                "no record's hash is {}: records were cut from the end the trail had when that hash was kept (or it is another trail)",
                kept.unwrap_or_default()
            ),
        });
    }
    Ok(Verified {
        records,
        other_lines,
        unfinished,
        chains,
        first_sequence,
        last_sequence: last.next_sequence - 1,
        last_hash: last.previous_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    /// Writes `record` as the next line of `link`'s chain (without its
    /// newline).
    fn append(link: &mut Link, mut record: Value) -> Vec<u8> {
        record[MEMBER] = serde_json::to_value(link.fields()).unwrap();
        let line = serde_json::to_vec(&record).unwrap();
        link.advance(&line);
        line
    }

    fn trail(n: usize) -> Vec<Vec<u8>> {
        let mut link = Link::genesis();
        (0..n)
            .map(|i| append(&mut link, json!({"eventName": "Encrypt", "i": i})))
            .collect()
    }

    fn joined(lines: &[Vec<u8>]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect()
    }

    #[test]
    fn an_intact_trail_verifies_and_names_its_last_hash() {
        let lines = trail(3);
        let verified = verify(joined(&lines).as_slice()).unwrap();
        assert_eq!(
            (
                verified.records,
                verified.first_sequence,
                verified.last_sequence
            ),
            (3, 1, 3)
        );
        assert_eq!(verified.last_hash, hash(&lines[2]));
        // A trail continued after a restart is one chain.
        let mut link = Link::following(&lines[2]).unwrap();
        let mut longer = lines.clone();
        longer.push(append(&mut link, json!({"eventName": "Decrypt"})));
        assert_eq!(verify(joined(&longer).as_slice()).unwrap().last_sequence, 4);
        // One whose older records were rotated away verifies from its first.
        assert_eq!(
            verify(joined(&longer[2..]).as_slice())
                .unwrap()
                .first_sequence,
            3
        );
    }

    #[test]
    fn a_kept_hash_shows_records_cut_from_the_end() {
        let lines = trail(5);
        let then = verify(joined(&lines[..4]).as_slice()).unwrap().last_hash;
        let now = |lines: &[Vec<u8>]| verify_holding(joined(lines).as_slice(), Some(&then));
        assert_eq!(now(&lines).unwrap().last_sequence, 5, "grown since");
        assert_eq!(now(&lines[..4]).unwrap().last_sequence, 4, "as it was");
        let cut = now(&lines[..3]).unwrap_err();
        assert!(cut.why.contains("cut from the end"), "{cut}");
        // Not merely a chain that ends somewhere: the kept record itself.
        assert!(now(&lines[1..3]).is_err());
        assert!(now(&lines[3..]).is_ok(), "older records rotated away");
    }

    #[test]
    fn a_removed_altered_or_reordered_record_breaks_the_chain_after_it() {
        let lines = trail(4);
        let mut removed = lines.clone();
        removed.remove(1);
        let broken = verify(joined(&removed).as_slice()).unwrap_err();
        assert_eq!(broken.line, 2);
        assert!(
            broken.why.contains("sequence 3 where 2 was due"),
            "{broken}"
        );

        let mut altered = lines.clone();
        altered[1] = String::from_utf8(altered[1].clone())
            .unwrap()
            .replace("Encrypt", "Decrypt")
            .into_bytes();
        let broken = verify(joined(&altered).as_slice()).unwrap_err();
        assert_eq!(broken.line, 3, "the record after the altered one");
        assert!(broken.why.contains("altered"), "{broken}");

        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(joined(&swapped).as_slice()).unwrap_err().line, 2);

        // A record made into something else is passed over, and the
        // record after it breaks.
        let mut garbled = lines.clone();
        garbled[1] = b"{\"eventName\":\"Encrypt\"}".to_vec();
        let broken = verify(joined(&garbled).as_slice()).unwrap_err();
        assert_eq!(broken.line, 3);
        assert_eq!(verify(b"".as_slice()).unwrap_err().why, "no records");
    }

    #[test]
    fn log_lines_between_records_are_passed_over() {
        let lines = trail(3);
        let mut log = Vec::new();
        for line in &lines {
            log.extend_from_slice(b"2026-12-04T09:00:00Z  INFO kube_kms: a log line\n");
            log.extend_from_slice(line);
            log.push(b'\n');
        }
        let verified = verify(log.as_slice()).unwrap();
        assert_eq!((verified.records, verified.other_lines), (3, 3));
        // The process started again: a new chain in the same log.
        log.extend_from_slice(&joined(&trail(2)));
        let verified = verify(log.as_slice()).unwrap();
        assert_eq!(
            (verified.records, verified.chains, verified.last_sequence),
            (5, 2, 2)
        );
        assert!(!verified.unfinished);
    }

    /// A live trail read while a record is being written ends part-way
    /// through it: that line is said to be unfinished, not taken for a
    /// line of another kind, and the records before it still verify.
    #[test]
    fn a_last_line_without_its_newline_is_unfinished() {
        let lines = trail(3);
        let mut live = joined(&lines[..2]);
        live.extend_from_slice(&lines[2][..lines[2].len() / 2]);
        let verified = verify(live.as_slice()).unwrap();
        assert_eq!(
            (verified.records, verified.other_lines, verified.unfinished),
            (2, 0, true)
        );
        // Written out, it is a record like the others.
        live.extend_from_slice(&lines[2][lines[2].len() / 2..]);
        live.push(b'\n');
        let verified = verify(live.as_slice()).unwrap();
        assert_eq!((verified.records, verified.unfinished), (3, false));
        // Whole, but for its newline, it still counts.
        let unterminated = &live[..live.len() - 1];
        assert_eq!(verify(unterminated).unwrap().records, 3);
    }
}
