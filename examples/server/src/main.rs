//! `gatehouse-example`: runs the example authorization server, and its
//! helper commands.
//!
//! ```text
//! gatehouse-example [--config PATH] [--listen ADDR] [--reapply-clients]
//! gatehouse-example hash-secret      (reads a client secret on stdin, prints its digest)
//! gatehouse-example hash-secret --generate   (prints a new secret and its digest)
//! gatehouse-example admin ...        (clients, tokens, purge, keys: see `admin --help`)
//! ```
//!
//! The command line is clap's (derive): it generates the help of every
//! subcommand, which the README quotes and a test compares.

use std::future::Future;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory as _, Parser, Subcommand};
use gatehouse_core::model::SecretDigest;
use gatehouse_example_server::admin::{self, AdminArgs};
use gatehouse_example_server::log_text::{PlainFields, TextLine};
use gatehouse_example_server::log_time::UtcMicros;
use gatehouse_example_server::log_writer::LogWriter;
use gatehouse_example_server::runtime::Scheduler;
use gatehouse_example_server::settings::{parse_listen, LogFormat, LogSettings, SAMPLE_PATH};
use gatehouse_example_server::{hash_secret, run, Settings};

/// Runs the example authorization server (no subcommand), or a helper.
#[derive(Debug, Parser)]
#[command(
    name = "gatehouse-example",
    about = "The gatehouse example authorization server",
    after_help = "Stops gracefully (finishing the requests in flight) on Ctrl-C or SIGTERM.\n\
                  Exit codes: 0 stopped cleanly, 1 an error (config, store, listen address, \
                  usage); admin: see `admin --help`."
)]
struct Cli {
    /// Config file (default: the sample gatehouse.example.json)
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding the file's `listen`
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Write the config file's clients over the store's at start. Without
    /// it the file only seeds a store that was never seeded (or lost its
    /// data): clients changed at run time stay as they are across restarts
    #[arg(long)]
    reapply_clients: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a client secret (at least 32 bytes) on stdin and print the
    /// sha256: digest to put in the config file
    HashSecret {
        /// Print a new random secret (URL-safe: it needs no encoding in HTTP
        /// Basic) and its digest instead; give the secret to the client, put
        /// the digest in the config, keep no other copy
        #[arg(long)]
        generate: bool,
    },
    /// Operate the store the config file names: clients, tokens, purge, keys
    Admin(AdminArgs),
}

/// The admin subcommand's name, as clap derives it from [`Command::Admin`].
const ADMIN: &str = "admin";

fn main() -> ExitCode {
    debug_assert!(Cli::command().find_subcommand(ADMIN).is_some());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let config = cli.config.unwrap_or_else(|| PathBuf::from(SAMPLE_PATH));
    let result = match cli.command {
        Some(Command::Admin(args)) => return admin::run(args, &config),
        Some(Command::HashSecret { generate: false }) => run_hash_secret(),
        Some(Command::HashSecret { generate: true }) => run_generate_secret(),
        None => run_server(&config, cli.listen.as_deref(), cli.reapply_clients),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse-example: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints clap's message. `--help` exits 0; a usage error of `admin` exits
/// 2 (its documented code, for scripts); one of the server or `hash-secret`
/// keeps the code 1 it always had.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let _ = e.print();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return ExitCode::SUCCESS;
    }
    // clap's error does not say which subcommand it came from; the word
    // `admin` among the arguments does (a config path or listen address
    // spelled `admin` would be taken for it: harmless, the code is 2).
    let in_admin = std::env::args().skip(1).any(|a| a == ADMIN);
    ExitCode::from(if in_admin { 2 } else { 1 })
}

fn run_hash_secret() -> Result<(), String> {
    let mut input = String::new();
    // A secret is short; refuse to buffer an accidental large pipe.
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read the secret from stdin: {e}"))?;
    let digest = hash_secret(&input).map_err(|e| e.to_string())?;
    // RFC 6749 §2.3.1: Basic credentials are form-encoded first, so the
    // server form-decodes them; a `+` sent as is arrives as a space, a `%`
    // starts an escape. Other characters survive either way.
    if input.contains(['+', '%']) {
        eprintln!(
            "gatehouse-example: warning: this secret contains `+` or `%`. Clients sending it with HTTP \
             Basic must form-encode it first (RFC 6749 §2.3.1); `curl -u id:secret` does not, and then \
             gets invalid_client. A secret from `hash-secret --generate` needs no encoding."
        );
    }
    println!("{digest}");
    Ok(())
}

/// Prints a new secret (256 bits from the OS, base64url: every character
/// is unreserved, so form-encoding leaves it unchanged) and its digest.
/// This is the only time the secret is shown.
fn run_generate_secret() -> Result<(), String> {
    let (secret, digest) = SecretDigest::generate().map_err(|e| format!("cannot generate a secret: {e}"))?;
    println!("secret: {secret}");
    println!("digest: {}", digest.to_hex());
    eprintln!(
        "gatehouse-example: give the secret to the client (it is not shown again) and put the digest \
         in its `auth.secret` in the config file."
    );
    Ok(())
}

fn run_server(config: &std::path::Path, listen: Option<&str>, reapply_clients: bool) -> Result<(), String> {
    let mut settings = Settings::load(config).map_err(|e| e.to_string())?;
    settings.reapply_clients = reapply_clients;
    let log = init_logging(&settings.log)?;
    let served = serve(settings, listen);
    // Whatever ended the server, the last batch of lines is written; an
    // error writing it has nowhere else to go.
    let _ = log.flush();
    served
}

fn serve(mut settings: Settings, listen: Option<&str>) -> Result<(), String> {
    if let Some(addr) = listen {
        let addr = parse_listen(addr).map_err(|e| e.to_string())?;
        if let Some(warning) = settings.listen_override_warning(addr) {
            eprintln!("gatehouse-example: warning: {warning}");
        }
        settings.listen = addr;
    }
    let runtime =
        Scheduler::for_this_process().build().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        // Before binding, so that the server never listens without them.
        let shutdown = shutdown_signal();
        let addr = settings.listen;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        // The store named by the config is opened (and chosen) in `run`.
        run(settings, listener, shutdown).await.map_err(|e| e.to_string())
    })
}

/// Writes logs (the audit trail among them) to standard error, as text or
/// JSON lines, filtered by `RUST_LOG` when it is set and by the config's
/// `log.filter` otherwise. Standard output keeps the start-up messages.
///
/// Lines are written in batches ([`LogWriter`]); the writer returned is the
/// one to flush when the server stops.
fn init_logging(log: &LogSettings) -> Result<LogWriter<std::io::Stderr>, String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG is not a valid filter: {e}"))?
        }
        _ => {
            EnvFilter::try_new(&log.filter).map_err(|e| format!("`log.filter` is not a valid filter: {e}"))?
        }
    };
    let writer = LogWriter::start(std::io::stderr(), Duration::from_millis(log.batch_ms))
        .map_err(|e| format!("cannot start the log writer: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer.clone());
    let installed = match log.format {
        LogFormat::Json => builder.with_timer(UtcMicros).json().try_init(),
        // The default text format's lines, written with less work.
        _ => builder.fmt_fields(PlainFields).event_format(TextLine::new(UtcMicros)).try_init(),
    };
    installed.map_err(|e| format!("cannot set up logging: {e}"))?;
    Ok(writer)
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what container runtimes and
/// service managers send to stop a process). The handlers are installed
/// here, not when the future is first polled, so that a signal sent as soon
/// as the server announces itself already stops it gracefully. A handler
/// that cannot be installed never fires: the server then runs until killed,
/// which is what it would do without one.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let stopped = {
        use tokio::signal::unix::{signal, SignalKind};
        let wait = |kind| {
            let installed = signal(kind);
            async move {
                match installed {
                    Ok(mut s) => drop(s.recv().await),
                    Err(_) => std::future::pending().await,
                }
            }
        };
        let (interrupt, terminate) = (wait(SignalKind::interrupt()), wait(SignalKind::terminate()));
        async move {
            tokio::select! {
                () = interrupt => {}
                () = terminate => {}
            }
        }
    };
    #[cfg(not(unix))]
    let stopped = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    async move {
        stopped.await;
        println!("gatehouse example: shutting down");
    }
}
