//! The sans-IO core: no browser, no sockets, no storage engine.

pub mod block;
pub mod doc;
pub mod merge;
pub mod pending;
pub mod query;
pub mod replica;
pub mod schema;
pub mod sync;
