//! WEFTDB-PATCH: the sessions this crate has opened and not yet closed, so
//! that a page that is going away can close them all at once from its
//! `pagehide` handler ([`close_all`]).
//!
//! A page's libp2p stack runs in tasks on the event loop, and a page that is
//! being torn down runs no more tasks after its `pagehide` handlers: a close
//! sent to the swarm there never reaches a session. Firefox (153 ESR) then
//! keeps the session, and its network process goes on answering the remote's
//! keep-alives for seconds after the page is gone; `WebTransport.close()`
//! called in the handler itself sends the close before the page goes.

use std::cell::RefCell;

use crate::bindings::WebTransport;

thread_local! {
    // A page's wasm has one thread; a handful of sessions at most.
    static OPEN: RefCell<Vec<WebTransport>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn opened(session: &WebTransport) {
    OPEN.with_borrow_mut(|open| open.push(session.clone()));
}

pub(crate) fn closed(session: &WebTransport) {
    OPEN.with_borrow_mut(|open| open.retain(|s| s != session));
}

/// Closes every WebTransport session this crate has open, at once (not in a
/// task): for a page's `pagehide`. Their connections see the session closed
/// the next time they are polled, as after the remote closed it; closing a
/// closed session again does nothing.
pub fn close_all() {
    for session in OPEN.take() {
        session.close();
    }
}
