//! The conformance suite against the in-memory store and the core's
//! in-memory limiter.

use gatehouse_conformance::model::{self, Tok};
use gatehouse_core::{MemoryLimiter, TokenStore};
use gatehouse_memory::MemoryStore;
use proptest::prelude::*;

gatehouse_conformance::store_conformance!(memory, MemoryStore::new());

gatehouse_conformance::limiter_conformance!(memory_limiter, |cfg| MemoryLimiter::new(cfg));

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The model-based check again with one to three shards, so that the
    /// pool's keys share shards and collide in the shard index (the suite
    /// runs it with the default shard count); and the store holds no entry
    /// besides those the model reads.
    #[test]
    fn few_shards_match_the_reference(shards in 1..4usize, ops in model::ops()) {
        let store = MemoryStore::with_shards(shards);
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let stored = rt.block_on(async {
            model::matches_model(&store, &ops, true).await?;
            let mut stored = 0;
            for t in Tok::all() {
                stored += usize::from(matches!(store.get(&t.digest()).await, Ok(Some(_))));
            }
            Ok::<_, model::Mismatch>(stored)
        });
        let stored = stored.map_err(|m| TestCaseError::fail(m.to_string()))?;
        prop_assert_eq!(store.len(), stored, "entries besides the records the model reads");
    }
}
