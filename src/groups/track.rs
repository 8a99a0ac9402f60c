//! A middleware that makes every WebSocket connection known to a registry, so that
//! `broadcast` reaches every connection of the app, in a group or not.

use crate::request::Request;
use crate::response::Response;
use crate::service::chain::{Middleware, Next};
use crate::view::BoxFuture;

use super::registry::Groups;

/// A middleware that [`track`](Groups::track)s every WebSocket connection of the app,
/// so that [`broadcast`](Groups::broadcast) reaches all of them:
///
/// ```no_run
/// use wsview::groups::{Groups, TrackAll};
/// use wsview::App;
///
/// let groups = Groups::new();
/// let app = App::new()
///     .middleware(TrackAll::new(&groups))
///     .state(groups.clone());
/// # drop(app);
/// ```
#[derive(Debug, Clone)]
pub struct TrackAll {
    groups: Groups,
}

impl TrackAll {
    /// Tracks every connection in `groups`.
    pub fn new(groups: &Groups) -> Self {
        TrackAll {
            groups: groups.clone(),
        }
    }
}

impl Middleware for TrackAll {
    fn call(&self, mut req: Request, next: Next) -> BoxFuture<'static, Response> {
        if let Some(ws) = req.websocket() {
            // Taking a sender does not accept the connection; it is forgotten when the
            // connection ends, accepted or not.
            self.groups.track(&ws.sender());
        }
        next.run(req)
    }
}
