//! The store contract (`sala_store::contract`) against a real SQLite file per test.

use sala_store::contract;
use sala_store_sqlite::SqliteStore;

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("sala.db")).await.expect("open store");
            contract::$name(&store).await;
            sala_store::Store::close(&store).await;
        }
    )*};
}

contract_tests!(
    accounts_are_unique_case_insensitively,
    status_is_stored,
    sessions_can_be_revoked,
    rooms_are_created_searched_and_paged,
    membership_tracks_reading,
    appends_are_ordered_and_idempotent,
    a_batch_is_all_or_nothing,
    history_pages_both_ways,
    messages_since_cover_the_users_rooms,
    expired_sessions_are_purged,
    users_are_found_by_many_usernames,
    busy_members_are_listed_per_room,
    private_rooms_are_seen_by_their_members_only,
    a_set_of_people_has_one_dm,
    members_are_listed_with_roles,
    users_are_found_by_prefix,
    blocks_are_kept_per_pair,
);

#[tokio::test]
async fn reopening_keeps_the_data_and_reruns_no_migration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sala.db");
    let store = SqliteStore::open(&path).await.unwrap();
    contract::status_is_stored(&store).await;
    sala_store::Store::close(&store).await;
    let store = SqliteStore::open(&path).await.unwrap();
    use sala_store::AccountStore as _;
    assert!(
        store
            .find_user_by_username("st_bob")
            .await
            .unwrap()
            .is_some()
    );
}
