//! An acknowledged write survives `kill -9` of the process, with many
//! writers sharing group commits.
//!
//! A child process (`durability-child`) runs concurrent issuers and
//! revokers on one store; each prints a token once its insert (`issued`)
//! or its revocation (`revoked`) is acknowledged. The parent reads some
//! lines, kills the child with SIGKILL while it is mid-run, collects every
//! complete line it printed, and after several such runs reopens the file:
//! every issued token is there and active (none lost), every revoked one
//! is there and revoked (no revocation undone).
//!
//! The runs are killed after different numbers of acknowledgements, so the
//! kills land at different points of the writer's cycle (queueing, inside
//! a batch, in the commit's `fsync`, in a checkpoint); the runs write
//! enough that SQLite checkpoints the WAL into the file several times
//! before the last kill, which the test checks (a process killed by
//! SIGKILL never checkpoints on close).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{run, TempDir};
use gatehouse_core::model::TokenState;
use gatehouse_core::TokenStore;
use gatehouse_sqlite::SqliteStore;

/// Acknowledgements read before each kill: one run per entry.
const BEFORE_KILL: [usize; 5] = [300, 1_700, 650, 2_300, 1_100];

/// The database file after migration and before any checkpoint of tokens
/// is well under this; each checkpoint of the runs' writes adds pages.
const CHECKPOINTED_LEN: u64 = 256 * 1024;

/// Runs one child until it has printed `before_kill` lines, SIGKILLs it,
/// and returns every complete line it printed.
fn issue_and_kill(db: &std::path::Path, mode: &str, before_kill: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_durability-child"))
        .arg(db)
        .arg(mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut tokens = Vec::new();
    for _ in 0..before_kill {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "child ended early");
        tokens.push(line.trim_end().to_owned());
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no close.
    child.kill().unwrap();
    child.wait().unwrap();
    // Lines printed before the kill are still in the pipe; a last line
    // without its newline was cut mid-write and is not counted.
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let complete = rest.rsplit_once('\n').map_or("", |(done, _partial)| done);
    tokens.extend(complete.lines().map(str::to_owned));
    tokens
}

fn survives_kill(mode: &str) {
    let dir = TempDir::new(&format!("durability-{mode}"));
    let keys = common::keyring();
    let mut printed = Vec::new();
    for before_kill in BEFORE_KILL {
        printed.extend(issue_and_kill(&dir.db(), mode, before_kill));
    }
    assert!(printed.len() >= BEFORE_KILL.iter().sum());
    // Only checkpoints write token pages into the database file itself:
    // the kills above also hit a writer that had checkpointed.
    let len = std::fs::metadata(dir.db()).unwrap().len();
    assert!(len > CHECKPOINTED_LEN, "no checkpoint before the kills: the file has {len} bytes");

    let store = SqliteStore::open(dir.db()).unwrap();
    let (mut issued, mut revoked) = (0, 0);
    for (i, line) in printed.iter().enumerate() {
        let (what, token) = line.split_once(' ').unwrap_or_else(|| panic!("line {i} is malformed"));
        let want = match what {
            "issued" => {
                issued += 1;
                TokenState::Active
            }
            "revoked" => {
                revoked += 1;
                TokenState::Revoked
            }
            other => panic!("line {i}: unknown kind {other:?}"),
        };
        let verified =
            keys.verify(token).unwrap_or_else(|e| panic!("printed token {i} does not verify: {e:?}"));
        let record = run(store.get(&verified.digest)).unwrap();
        let record = record.unwrap_or_else(|| panic!("{what} token {i} of {} was lost", printed.len()));
        assert_eq!(record.state, want, "{what} token {i}");
    }
    // Both kinds of write were exercised, not just one.
    assert!(issued > 0 && revoked > 0, "issued {issued}, revoked {revoked}");
}

#[test]
fn acknowledged_writes_survive_kill_9_with_synchronous_full() {
    survives_kill("full");
}

/// `NORMAL` only risks the last commits on power loss, not on a process
/// crash: this shows the second half of that claim.
#[test]
fn acknowledged_writes_survive_kill_9_with_synchronous_normal() {
    survives_kill("normal");
}
