//! The store contract on a single Redis node (a throwaway `redis-server`,
//! or `REDIS_URL`).

mod common;

use gatehouse_redis::testing::TestRedis;

macro_rules! contract_tests {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let redis = TestRedis::start();
            common::$check(&redis).await;
        }
    )*};
}

contract_tests!(
    round_trip,
    unknown_is_none,
    insert_never_overwrites,
    consume_takes_once_and_stores_replacements,
    consume_race_has_one_winner,
    consume_conflict_changes_nothing,
    revoke_one,
    revoke_grant_revokes_the_family,
    revoke_grant_races_consume,
    every_key_has_a_ttl,
    prefixes_are_isolated,
    clients_round_trip,
    nothing_raw_at_rest,
);
