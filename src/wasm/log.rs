//! The page's `tracing` events on the console, for finding out why a page
//! does not connect (libp2p's transports and swarm log there too). Off
//! until `setLogLevel` is called: nothing is formatted before.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};
use wasm_bindgen::prelude::*;

/// A subscriber that prints events as `[ms since epoch] LEVEL target: message fields`; spans are ignored.
struct Console {
    level: Level,
    next: AtomicU64,
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Console {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.level
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let m = e.metadata();
        let mut line = Line(format!("{} {}:", m.level(), m.target()));
        e.record(&mut line);
        let now = js_sys::Date::now();
        web_sys::console::log_1(&format!("[{now:.0}] {}", line.0).into());
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Sends the page's tracing events at `level` and above to the console.
/// The release package's build has only warnings and errors (the others
/// are compiled out for the wasm's size, Cargo.toml); a debug build has
/// every level.
/// Throws a string (not a `WeftError`) for an unknown level or a second call.
#[wasm_bindgen(js_name = setLogLevel)]
pub fn set_log_level(
    #[wasm_bindgen(unchecked_param_type = "\"error\" | \"warn\" | \"info\" | \"debug\" | \"trace\"")] level: &str,
) -> Result<(), JsValue> {
    let level: Level = level.parse().map_err(|_| JsValue::from_str("a level: error, warn, info, debug or trace"))?;
    tracing::subscriber::set_global_default(Console { level, next: AtomicU64::new(0) })
        .map_err(|_| JsValue::from_str("the log level is already set"))
}
