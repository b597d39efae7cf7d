//! The node's side that other threads hold.

use std::thread::JoinHandle;

use futures::channel::oneshot;
use libp2p::{Multiaddr, PeerId};
use serde_json::Value;
use tokio::sync::mpsc;

use super::command::{Command, CommandError, Reply};
use super::config::NodeConfig;
pub use super::error::NodeError;

/// A running node. Cloneable and `Send`: commands go to the node's thread.
#[derive(Clone)]
pub struct NodeHandle {
    pub(super) commands: mpsc::UnboundedSender<(Command, Reply)>,
    pub(super) peer_id: PeerId,
    /// Addresses the node listens on, known once listening started.
    pub(super) listen: Vec<Multiaddr>,
    pub(super) shutdown: mpsc::UnboundedSender<()>,
    pub(super) thread: std::sync::Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl NodeHandle {
    /// Starts a node on a thread of its own; returns once it listens.
    pub fn start(config: NodeConfig) -> Result<NodeHandle, NodeError> {
        super::native::start(config)
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Listen addresses, each ending in `/p2p/<peer id>`.
    pub fn addrs(&self) -> Vec<Multiaddr> {
        self.listen.clone()
    }

    pub async fn call(&self, command: Command) -> Result<Value, CommandError> {
        let (tx, rx) = oneshot::channel();
        let stopped = || CommandError { code: "STOPPED", message: "the node has stopped".into() };
        self.commands.send((command, tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// [`NodeHandle::call`] from a thread with no runtime.
    pub fn call_blocking(&self, command: Command) -> Result<Value, CommandError> {
        futures::executor::block_on(self.call(command))
    }

    /// Stops the node and waits until its store is closed.
    pub fn stop(&self) {
        let _ = self.shutdown.send(());
        if let Some(t) = self.thread.lock().expect("not poisoned").take() {
            let _ = t.join();
        }
    }
}
