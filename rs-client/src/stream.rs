//! [`EventStream`]: the task that long-polls the authorization server's
//! revocation feed and applies each event to a [`CachedClient`] at once,
//! renewing its lease on every answer (see the README, "Revocation push").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cached::CachedClient;
use crate::client::{ClientConfig, Introspect, IntrospectionClient};
use crate::clock::Clock;
use crate::credentials::form_urlencode;
use crate::error::Error;
use crate::revocation::parse_batch;

/// What the stream has done so far, for health checks and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStatus {
    /// Answers received (events or heartbeats).
    pub answers: u64,
    /// Revocation events applied.
    pub events: u64,
    /// Resets applied (the whole cache flushed).
    pub resets: u64,
    /// Failed polls since the last answer.
    pub failures: u64,
}

/// The running feed reader. Dropping it stops the task.
pub struct EventStream {
    task: JoinHandle<()>,
    status: watch::Receiver<StreamStatus>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").field("status", &*self.status.borrow()).finish_non_exhaustive()
    }
}

impl EventStream {
    /// Starts reading the feed at `config.endpoint` (gatehouse's
    /// `/oauth/events`), authenticated as the resource server like
    /// introspection, asking the server to hold empty answers for `wait`
    /// (the heartbeat; keep it well under the cache's lease). Each answer
    /// drops the cached answers its events name (a reset flushes them
    /// all), then renews the lease. On an error it retries after
    /// `retry` while the lease runs out. Must be called within a Tokio
    /// runtime.
    ///
    /// # Errors
    /// [`Error::Config`] as [`IntrospectionClient::new`].
    pub fn spawn<I: Introspect, C: Clock>(
        cache: Arc<CachedClient<I, C>>,
        config: ClientConfig,
        wait: Duration,
        retry: Duration,
    ) -> Result<Self, Error> {
        let http = IntrospectionClient::new(config)?;
        let (tx, status) = watch::channel(StreamStatus::default());
        let task = tokio::spawn(run(http, cache, wait, retry, tx));
        Ok(Self { task, status })
    }

    /// The status, to read or to wait on (`wait_for`).
    pub fn status(&self) -> watch::Receiver<StreamStatus> {
        self.status.clone()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run<I: Introspect, C: Clock>(
    http: IntrospectionClient,
    cache: Arc<CachedClient<I, C>>,
    wait: Duration,
    retry: Duration,
    tx: watch::Sender<StreamStatus>,
) {
    let mut stream: Option<String> = None;
    let mut cursor = 0u64;
    loop {
        let mut body = format!("cursor={cursor}&wait={}", wait.as_secs());
        if let Some(s) = &stream {
            body.push_str("&stream=");
            body.push_str(&form_urlencode(s));
        }
        let limit = wait + http.request_timeout();
        let answer = match tokio::time::timeout(limit, http.post_form(body)).await {
            Ok(Ok(bytes)) => parse_batch(&bytes),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout(limit)),
        };
        match answer {
            Ok(batch) => {
                // Forget first, renew the lease after: a request between
                // the two introspects rather than trusting a stale answer.
                if batch.reset {
                    cache.flush();
                }
                for r in &batch.events {
                    cache.forget(r);
                }
                cache.heard();
                stream = Some(batch.stream);
                cursor = batch.cursor;
                tx.send_modify(|s| {
                    s.answers += 1;
                    s.events += batch.events.len() as u64;
                    s.resets += u64::from(batch.reset);
                    s.failures = 0;
                });
            }
            Err(_) => {
                tx.send_modify(|s| s.failures += 1);
                tokio::time::sleep(retry).await;
            }
        }
    }
}
