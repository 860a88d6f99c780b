//! `gatehouse-example`: runs the example authorization server.
//!
//! ```text
//! gatehouse-example [--config PATH] [--listen ADDR]
//! gatehouse-example hash-secret      (reads a client secret on stdin, prints its digest)
//! ```

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use gatehouse_example_server::settings::{parse_listen, SAMPLE_PATH};
use gatehouse_example_server::{hash_secret, run, Settings};

const USAGE: &str = "\
usage: gatehouse-example [--config PATH] [--listen ADDR]
       gatehouse-example hash-secret < secret.txt

  --config PATH   config file (default: the sample gatehouse.example.json)
  --listen ADDR   address to listen on, overriding the file's `listen`
  hash-secret     read a client secret (at least 32 bytes) on stdin and print
                  the sha256: digest to put in the config file";

enum Command {
    Serve { config: PathBuf, listen: Option<String> },
    HashSecret,
    Help,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match parse_args(&args) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            Ok(())
        }
        Ok(Command::HashSecret) => run_hash_secret(),
        Ok(Command::Serve { config, listen }) => run_server(&config, listen.as_deref()),
        Err(e) => Err(format!("{e}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse-example: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut config = None;
    let mut listen = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value =
            || inline.clone().or_else(|| it.next().cloned()).ok_or(format!("{flag} needs a value"));
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "hash-secret" if args.len() == 1 => return Ok(Command::HashSecret),
            "--config" => config = Some(PathBuf::from(value()?)),
            "--listen" => listen = Some(value()?),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    Ok(Command::Serve { config: config.unwrap_or_else(|| PathBuf::from(SAMPLE_PATH)), listen })
}

fn run_hash_secret() -> Result<(), String> {
    let mut input = String::new();
    // A secret is short; refuse to buffer an accidental large pipe.
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    let digest = hash_secret(&input).map_err(|e| e.to_string())?;
    println!("{digest}");
    Ok(())
}

fn run_server(config: &std::path::Path, listen: Option<&str>) -> Result<(), String> {
    let mut settings = Settings::load(config).map_err(|e| e.to_string())?;
    if let Some(addr) = listen {
        settings.listen = parse_listen(addr).map_err(|e| e.to_string())?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let addr = settings.listen;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        // The store named by the config is opened (and chosen) in `run`.
        run(settings, listener, shutdown_signal()).await.map_err(|e| e.to_string())
    })
}

/// Completes on Ctrl-C. If the handler cannot be installed the server runs
/// until killed, which is what it would do without one.
async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    println!("gatehouse example: shutting down");
}
