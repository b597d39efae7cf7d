//! The umbrella error of the database, with the stable codes JS sees.

use crate::core::block::BlockError;
use crate::core::query::QueryError;
use crate::core::schema::{SchemaError, ValidationError};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid schema: {0}")]
    Schema(#[from] SchemaError),
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("invalid query: {0}")]
    Query(#[from] QueryError),
    #[error("unknown collection \"{0}\": add it with addSchema first")]
    UnknownCollection(String),
    #[error("no document with id \"{id}\" in {collection}")]
    NotFound { collection: String, id: String },
    #[error("document \"{id}\" in {collection} has been deleted")]
    Deleted { collection: String, id: String },
    #[error("invalid block: {0}")]
    Block(#[from] BlockError),
    /// The collection's write policy does not let this key write there.
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Storage(#[from] StoreError),
    /// The network could not be set up (a page's libp2p node).
    #[error("network: {0}")]
    Network(String),
    /// The database was upgraded or deleted by a newer build in another
    /// tab (IndexedDB `versionchange`), or is newer than this build: this
    /// connection is closed; reload the page.
    #[error("the database is stale: {0}")]
    Stale(String),
    /// Another connection to the database (another tab) did not close for
    /// a deletion or an upgrade (IndexedDB `blocked`).
    #[error("the database is blocked: {0}")]
    Blocked(String),
    /// A command the node refused, with the node's code (`BAD_REQUEST`,
    /// `NOT_FOUND`, ...).
    #[error("{message}")]
    Node { code: &'static str, message: String },
}

impl Error {
    /// The stable code a program can match on (`err.code` in JS).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Schema(_) => "SCHEMA_INVALID",
            Error::Validation(_) | Error::Query(_) => "VALIDATION",
            Error::UnknownCollection(_) => "UNKNOWN_COLLECTION",
            Error::NotFound { .. } | Error::Deleted { .. } => "NOT_FOUND",
            Error::Block(_) => "BLOCK_INVALID",
            Error::Unauthorized(_) => "UNAUTHORIZED",
            Error::Storage(_) => "STORAGE",
            Error::Network(_) => "NETWORK",
            Error::Stale(_) => "STALE",
            Error::Blocked(_) => "BLOCKED",
            Error::Node { code, .. } => code,
        }
    }
}
