//! The native node (`weft start`): a database on redb, a libp2p swarm that
//! replicates it, and a local HTTP API. It runs on one thread of its own
//! (the database is single-threaded by design); everything else talks to it
//! through a [`NodeHandle`].

mod answer;
pub mod api;
mod certs;
mod command;
mod config;
mod exchange;
mod gossip;
mod handle;
mod replicate;
mod run;

pub use command::{Command, CommandError, Reply};
pub use config::{NodeConfig, RelayLimits};
pub use handle::{NodeError, NodeHandle};
