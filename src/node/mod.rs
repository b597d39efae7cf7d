//! The node: a database and the libp2p swarm that replicates it. Natively
//! it is `weft start`: its own thread, a redb store and a local HTTP API,
//! driven through a [`NodeHandle`]; in a page it runs on the page's event
//! loop on IndexedDB, driven by the JS bindings.

mod adapters;
mod answer;
#[cfg(not(target_arch = "wasm32"))]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub(crate) mod browser;
#[cfg(not(target_arch = "wasm32"))]
mod certs;
mod command;
mod config;
mod direct;
mod error;
mod exchange;
mod gossip;
#[cfg(not(target_arch = "wasm32"))]
mod handle;
#[cfg(not(target_arch = "wasm32"))]
mod native;
mod replicate;
pub(crate) mod run;
mod share;
mod state;
mod status;
mod swarm;
pub mod tabs;
#[cfg(target_arch = "wasm32")]
pub(crate) mod webcrypto;
pub(crate) mod wire;

pub use command::{Command, CommandError, Reply};
#[cfg(target_arch = "wasm32")]
pub(crate) use config::parse_multiaddr;
pub use config::{NodeConfig, Open, OpenOptions, OptionsError, PendingLimits, RelayLimits};
pub use error::NodeError;
#[cfg(not(target_arch = "wasm32"))]
pub use handle::NodeHandle;
#[cfg(target_arch = "wasm32")]
pub(crate) use run::keypair_of;
