//! weftdb — see the crate docs at the end of this file's rewrite.
pub mod core;
pub mod db;
pub mod error;
pub mod store;

pub use db::{Change, ChangeKind, Db, ImportReport};
pub use error::Error;

#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
pub use wasm::{Collection, Database};
