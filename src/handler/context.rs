//! A handler's view of its connection.

use crate::error::Error;
use crate::id::ConnectionId;
use crate::message::{CloseCode, Message};
use crate::request::Request;
use crate::websocket::sender::WebSocketSender;
use crate::websocket::socket::WebSocket;

/// The accessors of the opening request that both handler contexts (this one and
/// [`blocking::Context`](crate::blocking::Context)) offer, written once. The type needs
/// the fields `request: Request` and `namespace: String`.
macro_rules! request_accessors {
    () => {
        /// The app's value of type `T`, added with [`App::state`](crate::App::state).
        pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
            self.request.state::<T>()
        }

        /// The namespace this connection was routed to (`"default"` for `/socket` and
        /// `/socket/`, and for a [`handler_view`](crate::handler_view)).
        pub fn namespace(&self) -> &str {
            &self.namespace
        }

        /// The opening HTTP request (its WebSocket taken out): path, query, headers,
        /// extensions set by middleware.
        pub fn request(&self) -> &crate::request::Request {
            &self.request
        }

        /// Path parameter `name` of the route.
        pub fn param(&self, name: &str) -> Option<&str> {
            self.request.param(name)
        }

        /// Every path parameter, in route order.
        pub fn params(&self) -> &[(String, String)] {
            self.request.params()
        }

        /// The peer's address.
        pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
            self.request.remote_addr()
        }

        /// The opening request's headers.
        pub fn headers(&self) -> &http::HeaderMap {
            self.request.headers()
        }

        /// The first value of header `name`, if it is text.
        pub fn header(&self, name: &str) -> Option<&str> {
            self.request.header(name)
        }
    };
}
pub(crate) use request_accessors;

/// A handler's view of its connection: send to it, close it, and what the opening
/// request said (namespace, path parameters, peer address, headers, and anything
/// middleware attached, such as an authenticated user).
///
/// [`send`](Self::send) writes on the connection's own path (no extra task), in order
/// with [`close`](Self::close). [`sender`](Self::sender) gives a cloneable
/// [`WebSocketSender`] for tasks the handler spawns; messages sent through it are
/// ordered among themselves, not with `send`.
///
/// ```no_run
/// use std::time::Duration;
/// use wsview::{Handler, HandlerContext, HandlerError, Message, Opened};
///
/// /// Pushes a tick every second from the first message on, without waiting for input.
/// #[derive(Default)]
/// struct Ticker {
///     task: Option<tokio::task::JoinHandle<()>>,
/// }
///
/// impl Handler for Ticker {
///     async fn on_open(&mut self, ctx: &mut HandlerContext, _first: Message)
///         -> Result<Opened, HandlerError>
///     {
///         let sender = ctx.sender();
///         self.task = Some(tokio::spawn(async move {
///             let mut every = tokio::time::interval(Duration::from_secs(1));
///             for i in 0u64.. {
///                 every.tick().await;
///                 if sender.send(format!("tick {i}")).await.is_err() {
///                     break; // the connection is gone
///                 }
///             }
///         }));
///         Ok(Opened::Consumed)
///     }
///
///     async fn on_message(&mut self, _ctx: &mut HandlerContext, _msg: Message)
///         -> Result<(), HandlerError>
///     {
///         Ok(())
///     }
///
///     async fn on_close(&mut self, _ctx: &mut HandlerContext, _reason: wsview::CloseReason) {
///         if let Some(task) = self.task.take() {
///             task.abort();
///         }
///     }
/// }
/// # let _ = wsview::handler_view(Ticker::default);
/// ```
pub struct HandlerContext {
    ws: WebSocket,
    request: Request,
    namespace: String,
}

impl HandlerContext {
    pub(crate) fn new(ws: WebSocket, request: Request, namespace: String) -> Self {
        HandlerContext {
            ws,
            request,
            namespace,
        }
    }

    /// The connection, for the lifecycle driver.
    pub(crate) fn websocket_mut(&mut self) -> &mut WebSocket {
        &mut self.ws
    }

    /// The parts, for a driver that hands the request to another context.
    pub(crate) fn into_parts(self) -> (WebSocket, Request, String) {
        (self.ws, self.request, self.namespace)
    }

    /// This connection's id (see [`ConnectionId`]).
    pub fn id(&self) -> ConnectionId {
        self.ws.id()
    }

    request_accessors!();

    /// The subprotocol agreed with the client, if the view declared any (see
    /// [`View::protocols`](crate::View::protocols)).
    pub fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }

    /// Sends a message to this connection. It is written when the handler next
    /// returns or waits, together with whatever else was queued; fails with
    /// an error that [`is_closed`](Error::is_closed) once the connection is closing.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.ws.send(message).await
    }

    /// Waits until everything sent so far is written to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.ws.flush().await
    }

    /// Closes the connection with `code` and `reason` (after what was sent before).
    /// No further messages reach the handler; [`Handler::on_close`](crate::Handler::on_close) follows with
    /// [`CloseCause::Server`](crate::CloseCause::Server) once the current method returns.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        self.ws.close(code, reason).await
    }

    /// Whether the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.ws.is_closed()
    }

    /// A cloneable handle that sends to this connection from any task, for a handler
    /// that pushes without waiting for input. Its `send` fails once the connection is
    /// gone, which is how a spawned task knows to stop.
    pub fn sender(&self) -> WebSocketSender {
        self.ws.sender()
    }
}

impl std::fmt::Debug for HandlerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerContext")
            .field("namespace", &self.namespace)
            .field("path", &self.request.path())
            .field("remote_addr", &self.request.remote_addr())
            .field("websocket", &self.ws)
            .finish()
    }
}
