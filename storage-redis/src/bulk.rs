//! Bulk revocation ([`TokenStore::revoke_all`]) on Redis without scanning
//! the keyspace: the indexes it reads and how they are kept. The design,
//! its races and its costs are in the crate README ("Bulk revocation").
//!
//! [`TokenStore::revoke_all`]: gatehouse_core::TokenStore::revoke_all

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use gatehouse_core::model::{ClientId, GrantId, TokenRecord};
use gatehouse_core::{RevokeScope, StoreError};

use crate::store::{RedisStore, MAX_TTL_MS};
use crate::{scripts, RedisError};

/// Grants revoked at once (their scripts in flight together), and index
/// members read per page.
const BATCH: usize = 128;

/// Length of a grant id's text form, which starts every index member.
const GRANT_TEXT: usize = 22;

/// Writes the grants of `records` into their owners' indexes: the
/// client's (member: the grant id) and, with a subject, the subject's
/// (member: the grant id followed by the client id), each scored by the
/// latest `expires_at` among `records` of that grant. One script call per
/// index, all in flight together.
pub(crate) async fn index(store: &RedisStore, records: &[TokenRecord]) -> Result<(), RedisError> {
    let mut entries: Vec<(String, String, u64)> = Vec::with_capacity(2);
    for r in records {
        let grant = r.grant_id().to_string();
        let mut add =
            |key: String, member: String| match entries.iter_mut().find(|e| e.0 == key && e.1 == member) {
                Some(e) => e.2 = e.2.max(r.expires_at.0),
                None => entries.push((key, member, r.expires_at.0)),
            };
        add(store.keys().client_grants(&r.client_id), grant.clone());
        if let Some(s) = &r.subject {
            add(store.keys().subject_grants(s), format!("{grant}{}", r.client_id.as_str()));
        }
    }
    let now = store.now().0;
    let cutoff = now.saturating_sub(store.grace_secs());
    let calls = entries.iter().map(|(key, member, end)| {
        let mut inv = scripts::INDEX.prepare_invoke();
        inv.key(key).arg(member).arg(*end).arg(cutoff).arg(now).arg(store.grace_ms().max(1)).arg(MAX_TTL_MS);
        async move { store.connection().invoke::<i64>(&inv).await }
    });
    for r in join_all(calls.collect()).await {
        r?;
    }
    Ok(())
}

/// See [`TokenStore::revoke_all`](gatehouse_core::TokenStore::revoke_all)
/// and the README: reads the owner's index a page at a time, revokes each
/// grant with the per-grant script (atomic with any `consume` of it), and
/// removes the revoked grants from the index.
pub(crate) async fn revoke_all(store: &RedisStore, scope: &RevokeScope) -> Result<u64, StoreError> {
    let keys = store.keys();
    let cutoff = store.now().0.saturating_sub(store.grace_secs());
    let mut ended = 0;
    match scope {
        RevokeScope::Client(c) => {
            let key = keys.client_grants(c);
            while let Some(page) = page(store, &key, cutoff, Some(BATCH)).await? {
                ended += revoke(store, &key, &page, None).await?;
            }
        }
        RevokeScope::Subject(s) => {
            let key = keys.subject_grants(s);
            while let Some(page) = page(store, &key, cutoff, Some(BATCH)).await? {
                ended += revoke(store, &key, &page, None).await?;
            }
        }
        RevokeScope::SubjectAtClient(s, c) => {
            // Read whole: members of the subject's other clients stay, so
            // paging by removal would never end; one user's grants are few.
            let key = keys.subject_grants(s);
            if let Some(all) = page(store, &key, cutoff, None).await? {
                for chunk in all.chunks(BATCH) {
                    ended += revoke(store, &key, chunk, Some(c)).await?;
                }
            }
        }
        // Revoking nothing and answering `Ok` would leave live what the
        // caller meant to end.
        _ => return Err(RedisError::UnknownScope.into()),
    }
    Ok(ended)
}

/// The first `limit` members (all with `None`) of the index whose grants
/// end at or after `cutoff`; `None` when there are none.
async fn page(
    store: &RedisStore,
    key: &str,
    cutoff: u64,
    limit: Option<usize>,
) -> Result<Option<Vec<String>>, RedisError> {
    let mut cmd = redis::cmd("ZRANGEBYSCORE");
    cmd.arg(key).arg(cutoff).arg("+inf");
    if let Some(n) = limit {
        cmd.arg("LIMIT").arg(0).arg(n);
    }
    let members: Vec<String> = store.connection().query(&cmd).await?;
    Ok((!members.is_empty()).then_some(members))
}

/// Revokes the grants of `members` (only those at `client`, when given),
/// all in flight together, then removes them from the index. Returns how
/// many had an active token.
async fn revoke(
    store: &RedisStore,
    key: &str,
    members: &[String],
    client: Option<&ClientId>,
) -> Result<u64, RedisError> {
    let mut chosen: Vec<&String> = Vec::with_capacity(members.len());
    let mut grants = Vec::with_capacity(members.len());
    for m in members {
        let (grant, at) =
            m.split_at_checked(GRANT_TEXT).ok_or(RedisError::UnexpectedReply("index member"))?;
        if client.is_some_and(|c| c.as_str() != at) {
            continue;
        }
        grants.push(GrantId::parse(grant).map_err(|_| RedisError::UnexpectedReply("index member"))?);
        chosen.push(m);
    }
    if chosen.is_empty() {
        return Ok(0);
    }
    let mut ended = 0;
    for r in join_all(grants.iter().map(|g| store.revoke_grant_now(g)).collect()).await {
        ended += u64::from(r?);
    }
    // Only now: a grant that failed above stays indexed for the retry.
    store.connection().query::<i64>(redis::cmd("ZREM").arg(key).arg(chosen)).await?;
    Ok(ended)
}

/// Polls every future until all are done; their outputs in order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut all = true;
        for (f, out) in pending.iter_mut().zip(done.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => all = false,
                }
            }
        }
        if all {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    done.into_iter().flatten().collect()
}
