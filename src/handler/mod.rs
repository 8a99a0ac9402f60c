//! Handler objects: django-ws's `WebSocketHandler` with `on_open`, `on_message` and
//! `on_close`, picked per connection from a registry of namespaces.
//!
//! A [`Handler`] is built for every connection (so its fields are per-connection
//! state) and driven by the library: it gets the first message in
//! [`on_open`](Handler::on_open), every message after that in
//! [`on_message`](Handler::on_message), one at a time and in order, and
//! [`on_close`](Handler::on_close) exactly once when the connection ends, whatever
//! ended it. [`Namespaces`] maps names to handler factories and routes
//! `/socket/{namespace}` to them; [`handler_view`] serves one handler at one route.
//!
//! See `docs/handlers.md` for the guide and the mapping from django-ws.

pub(crate) mod context;
pub(crate) mod driver;
pub(crate) mod reason;
pub(crate) mod registry;
pub(crate) mod traits;
