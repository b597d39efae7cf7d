//! The sans-IO core: no browser, no sockets, no storage engine.

pub mod block;
pub mod doc;
pub mod merge;
pub mod pending;
pub mod query;
pub mod replica;
pub mod schema;
pub mod sync;

use std::collections::{BTreeMap, BTreeSet};

/// A `BTreeMap` built by inserting its items one at a time: the same map as
/// `collect()`, which sorts the items first with a stable sort instantiated
/// for each item type, about 4 KB of the page's wasm each (BENCHMARKS.md,
/// "wasm size").
pub(crate) fn map_of<K: Ord, V>(items: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    map.extend(items);
    map
}

/// A `BTreeSet` built by inserting its items one at a time (see [`map_of`]).
pub(crate) fn set_of<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    set.extend(items);
    set
}
