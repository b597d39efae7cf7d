//! `db.status()` and the `status` event, and the browser's `online` and
//! `offline` events handed to the page's node ([`crate::node`]'s
//! `status.rs` says what the node does with them).

use js_sys::Reflect;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{to_js, Database};
use crate::node::browser::BrowserNode;
use crate::node::StatusSnapshot;

#[wasm_bindgen(typescript_custom_section)]
const TS_STATUS: &str = r#"
/** What `db.status()` returns and `db.on("status")` hands its listeners. */
export interface WeftStatus {
  /** The browser says it has a network (its `online`/`offline` events). Offline, the node closes its connections and dials nothing; back online it dials at once. */
  online: boolean;
  /** This tab runs the origin's network node. */
  leader: boolean;
  /** Peers with an open connection. */
  peers: number;
  /** Blocks waiting in the outbox for a replicator's peer to acknowledge them (a block queued for two peers counts twice). */
  queuedBlocks: number;
  /** When an exchange with a peer last finished, in ms since the Unix epoch (as `Date.now()`); null before the first. */
  lastSync: number | null;
}
"#;

#[wasm_bindgen]
impl Database {
    /// The page's network at a glance: `{ online, leader, peers,
    /// queuedBlocks, lastSync }`. `db.on("status", f)` calls `f` with the
    /// same object whenever one of them changes. Without `p2p` it reports
    /// the browser's online state, no peers and nothing queued.
    #[wasm_bindgen(unchecked_return_type = "WeftStatus")]
    pub fn status(&self) -> JsValue {
        match self.inner.net.as_ref() {
            Some(tabs) => to_js(&tabs.status()),
            None => to_js(&StatusSnapshot { online: browser_online(), ..StatusSnapshot::default() }),
        }
    }
}

/// `navigator.onLine`; true where there is no navigator to ask.
pub(super) fn browser_online() -> bool {
    Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|n| Reflect::get(&n, &"onLine".into()))
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

/// Hands the browser's `online` and `offline` events to the node, for as
/// long as it is kept.
pub(super) struct OnlineWatch {
    target: web_sys::EventTarget,
    online: Closure<dyn FnMut()>,
    offline: Closure<dyn FnMut()>,
}

impl OnlineWatch {
    /// `None` where the global is no event target.
    pub(super) fn install(node: BrowserNode) -> Option<OnlineWatch> {
        let target = js_sys::global().dyn_into::<web_sys::EventTarget>().ok()?;
        let up = node.clone();
        let online = Closure::<dyn FnMut()>::new(move || up.set_online(true));
        let offline = Closure::<dyn FnMut()>::new(move || node.set_online(false));
        target.add_event_listener_with_callback("online", online.as_ref().unchecked_ref()).ok()?;
        target.add_event_listener_with_callback("offline", offline.as_ref().unchecked_ref()).ok()?;
        Some(OnlineWatch { target, online, offline })
    }
}

impl Drop for OnlineWatch {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback("online", self.online.as_ref().unchecked_ref());
        let _ = self.target.remove_event_listener_with_callback("offline", self.offline.as_ref().unchecked_ref());
    }
}
