//! What a page shows about its node (`db.status()`, `db.on("status")`):
//! whether the browser is online, whether this tab runs the origin's node,
//! how many peers are connected, how many blocks wait in the outbox, and
//! when the last exchange with a peer finished.
//!
//! Offline (the browser's `offline` event) the node closes its connections
//! and dials nothing: a browser without a network has none that work, and
//! a connection the browser still holds would only be found dead by its
//! failing pings (~20 s), while writes pile up unseen in it. Local writes
//! go on committing, and their replicators' outbox entries with them.
//! Back `online`, every wanted peer is dialled at once (their backoff
//! forgotten), and a connection brings the head exchange and the outbox
//! push as any connection does.

use libp2p::swarm::ConnectionId;
use libp2p::PeerId;

use super::run::Node;
use super::state::StatusSnapshot;
use super::wire::Effect;
use crate::store::Store;

impl<S: Store> Node<S> {
    pub(crate) fn status(&self) -> StatusSnapshot {
        StatusSnapshot {
            online: self.status.online,
            // The tab whose node this is runs the node; a follower tab
            // says false for itself (`Tab::status`).
            leader: true,
            peers: self.replica.dialer.connected_peers().filter(|p| !self.status.closing.contains(p)).count(),
            queued_blocks: self.status.queued.get(),
            last_sync: self.status.last_sync,
        }
    }

    pub(super) fn is_offline(&self) -> bool {
        self.status.paused
    }

    /// Whether `peer` may be sent anything: we are online and not closing
    /// its connections.
    pub(super) fn reachable(&self, peer: &PeerId) -> bool {
        !self.status.paused && !self.status.closing.contains(peer)
    }

    /// A connection to `peer` opened: whether to go on with it. Offline
    /// (one dialled before the `offline` event, or while the page started
    /// offline) it is closed at once like the others. Online, a peer whose
    /// old connections are still closing is reachable again through this
    /// one: left in `closing` it would be neither counted nor sent to
    /// until those closed, and as the peer never left `connected` this
    /// connection is not its first: the head exchange and the outbox push
    /// that a first connection brings are started here.
    pub(super) async fn connection_opened(&mut self, peer: PeerId, connection: ConnectionId) -> bool {
        if !self.status.paused {
            if self.status.closing.remove(&peer) && self.replica.dialer.is_connected(&peer) {
                self.resync(peer).await;
                // A reservation held back while this relay's connections closed.
                self.relisten();
            }
            return true;
        }
        tracing::debug!(%peer, "offline: closing a connection that opened");
        self.emit(Effect::Close(connection));
        self.status.closing.insert(peer);
        false
    }

    /// The last connection to `peer` closed.
    pub(super) fn status_disconnected(&mut self, peer: &PeerId) {
        self.status.closing.remove(peer);
    }

    /// What the browser says when the page's node starts (`navigator.onLine`):
    /// shown in the status, but dialling is paused only by an `offline` event.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn browser_online_at_start(&mut self, online: bool) {
        self.status.online = online;
    }

    /// The browser went offline or came back (a native node has no such events).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) async fn set_online(&mut self, online: bool) {
        if self.status.online == online && self.status.paused != online {
            return;
        }
        self.status.online = online;
        self.status.paused = !online;
        if !online {
            tracing::info!("offline: closing connections, dialling paused");
            for peer in self.replica.dialer.connected_peers().copied().collect::<Vec<_>>() {
                self.emit(Effect::Disconnect(peer));
                self.status.closing.insert(peer);
            }
            return;
        }
        tracing::info!("online: dialling every wanted peer now");
        self.replica.dialer.all_due_now();
        self.replica.listeners.all_due_now();
        self.relisten();
        self.redial();
        // Connections the browser kept: swap heads and push at once. Those
        // closing end now that the browser can say so, and are dialled again.
        let kept: Vec<PeerId> =
            self.replica.dialer.connected_peers().filter(|p| !self.status.closing.contains(p)).copied().collect();
        for peer in kept {
            self.resync(peer).await;
        }
    }

    /// Swaps heads with `peer` and pushes its outbox now.
    async fn resync(&mut self, peer: PeerId) {
        self.exchange_with(peer).await;
        self.replica.outboxes.due_now(&peer);
        self.pump_outbox(peer).await;
    }

    /// An exchange with a peer finished.
    pub(super) fn synced(&mut self) {
        self.status.last_sync = Some(self.wall_ms().floor());
    }

    /// Counts the outbox again from the store, after entries left it.
    pub(super) async fn count_outbox(&mut self) {
        match self.db.outbox_len().await {
            Ok(n) => self.status.queued.set(n as u64),
            Err(e) => tracing::warn!("cannot count the outbox: {e}"),
        }
    }

    /// Tells the status listener if anything changed since it was last told.
    pub(super) fn tell_status(&mut self) {
        let Some(listener) = self.status.listener.clone() else { return };
        let now = self.status();
        if self.status.told.as_ref() != Some(&now) {
            listener(&now);
            self.status.told = Some(now);
        }
    }
}
