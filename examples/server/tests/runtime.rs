//! The binary's runtime follows the CPUs it may use: pinned to one CPU it
//! runs no tokio worker threads (the current-thread runtime); given two or
//! more it runs its multi-thread runtime.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use gatehouse_example_server::settings::SAMPLE_PATH;
use serde_json::Value;

/// The names of the running server's threads (Linux's `/proc`), once each
/// thread it started has named itself: a new thread sets its own name, so
/// until it has run it still carries the main thread's (`gatehouse-examp`,
/// the binary's name cut to 15 bytes), which only the main thread keeps.
fn thread_names(child: &Child) -> Vec<String> {
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    assert_eq!(exe, std::path::Path::new(env!("CARGO_BIN_EXE_gatehouse-example")), "not the server");
    for _ in 0..500 {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", child.id())).unwrap();
        let names: Vec<String> = tasks
            .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap().trim().to_owned())
            .collect();
        if names.iter().filter(|n| *n == "gatehouse-examp").count() == 1 {
            return names;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the server's threads did not name themselves within 5 s");
}

/// The first CPU this process may run on (`Cpus_allowed_list` starts with it).
fn first_allowed_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim();
    list.split([',', '-']).next().unwrap().to_owned()
}

/// Starts the binary on the sample config with the memory store, through
/// `prefix` (a command that execs it, such as `taskset`), waits until it
/// listens, and returns its thread names before stopping it.
fn threads_of_server_run_by(prefix: &[&str]) -> Vec<String> {
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(SAMPLE_PATH).unwrap()).unwrap();
    config["store"] = serde_json::json!({ "type": "memory" });
    let path = std::env::temp_dir().join(format!(
        "gatehouse-runtime-{}-{}.json",
        std::process::id(),
        gatehouse_core::model::GrantId::generate().unwrap()
    ));
    std::fs::write(&path, config.to_string()).unwrap();
    let bin = env!("CARGO_BIN_EXE_gatehouse-example");
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server stopped before listening");
        if line.starts_with("gatehouse example listening on") {
            break;
        }
    }
    let names = thread_names(&child);
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&path);
    names
}

#[test]
fn one_cpu_runs_the_current_thread_runtime() {
    // `taskset` (util-linux) execs the server with one CPU allowed, as
    // `../shared/bench/versus.sh` pins it.
    let cpu = first_allowed_cpu();
    let names = threads_of_server_run_by(&["taskset", "-c", &cpu]);
    assert!(!names.iter().any(|n| n.starts_with("tokio-")), "worker threads on one CPU: {names:?}");
    // Its log writer is there: the listing is complete.
    assert!(names.iter().any(|n| n.starts_with("gatehouse-log")), "{names:?}");
}

#[test]
fn unpinned_it_runs_the_runtime_for_the_machine() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let names = threads_of_server_run_by(&[]);
    let workers = names.iter().any(|n| n.starts_with("tokio-"));
    // Two CPUs or more (CI has two): the multi-thread runtime's workers.
    assert_eq!(workers, cpus >= 2, "{cpus} CPUs, threads {names:?}");
}
