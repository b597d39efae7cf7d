//! A deterministic simulator of many replicas: the real node logic
//! ([`Node`]) on [`MemoryStore`], its [`Effect`]s delivered by a simulated
//! network as [`Input`]s, on a virtual clock that jumps from one event to
//! the next. No threads, no sockets, no sleeps: a seed replays exactly.
//!
//! The network: a connection between two replicas carries requests,
//! answers and gossip, each after a delay drawn from the seed (so messages
//! on different streams overtake each other). Faults, also from the seed:
//! a message that is lost resets its connection (a transport that loses a
//! frame kills the stream; gossipsub's queues are per connection), a
//! request may arrive twice (a replayed push), a gossip message may be
//! handed on twice (past gossipsub's seen-cache), links are cut and healed
//! (partitions), and replicas restart: their store kept, their memory,
//! connections and messages in flight lost. Gossip is relayed as gossipsub
//! does: every message once per replica, passed on to the subscribers of
//! its topic among its connections (those whose subscription it has heard)
//! once the node has accepted it.
//!
//! See `tests.rs` for the properties and how to run more schedules.

mod net;
#[cfg(test)]
mod tests;
