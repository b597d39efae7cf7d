//! The replica's replication logic as state machines: inputs carry the
//! time, outputs say what to do, and nothing here dials, sends or reads a
//! clock. Each part has its own state and its own file; the node
//! (`crate::node`) drives them from libp2p's events and carries out what
//! they ask. Moved here so far: dialling ([`dial`]), fetching missing
//! blocks ([`fetch`]), head exchange's push lanes ([`push`]) and the
//! outbox lanes ([`outbox`]).

pub mod dial;
pub mod fetch;
pub mod outbox;
pub mod push;
