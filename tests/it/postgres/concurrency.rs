//! Eight `theseus append` processes at a time over real connections to one
//! PostgreSQL store, single events and batches, some with an
//! `expected_version`, while two readers run `verify` and reports: the
//! file store's concurrency test, on the server (12 appends per writer).

use crate::support::Store;

#[test]
fn eight_writers_and_two_readers_keep_positions_versions_and_the_chain() {
    let Some(store) = Store::postgres() else {
        return;
    };
    crate::concurrency::concurrent_writers_on(&store, 8, 2);
}
