//! The async runtime the server runs on, chosen by how many CPUs the
//! process may use.
//!
//! With one CPU (a one-core container, a process pinned with `taskset`), a
//! multi-thread runtime still runs one worker, but pays for work stealing
//! and cross-thread wake-ups, and its LIFO slot runs a woken task straight
//! after the task that woke it. For the Redis store that last part matters:
//! the connection's driver task runs as soon as the first request queues
//! its command, so every command goes out in a `write` of its own. On the
//! current-thread scheduler the driver runs once the other ready requests
//! have queued theirs, and one `write` carries them all (measured in
//! `storage-redis/README.md`, "Cost per request": 45.7 → 27.8 µs of CPU per
//! valid introspection, server and redis-server together). With more CPUs
//! the multi-thread runtime uses them all.

use std::io;

use tokio::runtime::{Builder, Runtime};

/// Which tokio scheduler the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// Every task on the thread that runs the server.
    CurrentThread,
    /// A worker thread per CPU.
    MultiThread,
}

impl Scheduler {
    /// The scheduler for a process that may use `cpus` CPUs.
    pub fn for_cpus(cpus: usize) -> Self {
        if cpus <= 1 {
            Self::CurrentThread
        } else {
            Self::MultiThread
        }
    }

    /// The scheduler for this process: `for_cpus` of the CPUs it may use
    /// (its affinity mask and cgroup quota, as
    /// [`std::thread::available_parallelism`] reads them; several when
    /// that cannot be read).
    pub fn for_this_process() -> Self {
        Self::for_cpus(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    }

    /// A runtime of this kind, with I/O and timers.
    ///
    /// # Errors
    /// When the operating system refuses what the runtime needs (threads,
    /// an epoll instance).
    pub fn build(self) -> io::Result<Runtime> {
        let mut builder = match self {
            Self::CurrentThread => Builder::new_current_thread(),
            Self::MultiThread => Builder::new_multi_thread(),
        };
        builder.enable_all().build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn one_cpu_runs_on_the_current_thread_and_more_on_workers() {
        assert_eq!(Scheduler::for_cpus(0), Scheduler::CurrentThread);
        assert_eq!(Scheduler::for_cpus(1), Scheduler::CurrentThread);
        assert_eq!(Scheduler::for_cpus(2), Scheduler::MultiThread);
        assert_eq!(Scheduler::for_cpus(64), Scheduler::MultiThread);
    }

    #[test]
    fn each_scheduler_builds_its_runtime_with_timers_and_io() {
        for (scheduler, flavor) in [
            (Scheduler::CurrentThread, RuntimeFlavor::CurrentThread),
            (Scheduler::MultiThread, RuntimeFlavor::MultiThread),
        ] {
            let rt = scheduler.build().unwrap();
            assert_eq!(rt.handle().runtime_flavor(), flavor);
            // Timers and sockets work (`enable_all`).
            rt.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            });
        }
    }
}
