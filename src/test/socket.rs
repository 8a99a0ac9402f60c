//! The client end of an in-process WebSocket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::message::{CloseCode, Message};
use crate::test::closed::Closed;
use crate::test::error::TestError;

/// The client end of an accepted WebSocket, driving the server's real connection task
/// over an in-memory stream. Every receiving method waits at most the client's
/// [timeout](crate::test::TestClient::timeout) (5 s by default) and fails with
/// [`TestError::Timeout`] instead of hanging a test. The client answers pings and the
/// server's close frame by itself.
pub struct TestWebSocket {
    stream: WebSocketStream<TokioIo<Upgraded>>,
    headers: HeaderMap,
    timeout: Duration,
    closed: Option<Closed>,
}

impl std::fmt::Debug for TestWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestWebSocket")
            .field("protocol", &self.protocol())
            .field("timeout", &self.timeout)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl TestWebSocket {
    pub(crate) fn new(
        stream: WebSocketStream<TokioIo<Upgraded>>,
        headers: HeaderMap,
        timeout: Duration,
    ) -> Self {
        TestWebSocket {
            stream,
            headers,
            timeout,
            closed: None,
        }
    }

    /// The headers of the server's 101 response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.headers
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
    }

    /// Changes how long receiving methods wait for this socket.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The server's close, once one was seen.
    pub fn close_seen(&self) -> Option<&Closed> {
        self.closed.as_ref()
    }

    /// Sends a message (text from `&str`/`String`, binary from `Vec<u8>`/`Bytes`).
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), TestError> {
        let frame = match message.into() {
            Message::Text(text) => WsMessage::text(text.as_str()),
            Message::Binary(data) => WsMessage::Binary(data),
        };
        self.stream.send(frame).await.map_err(TestError::connection)
    }

    /// Sends `value` as a JSON text message.
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), TestError> {
        let text = serde_json::to_string(value)?;
        self.send(text).await
    }

    /// The next message from the server. Fails with [`TestError::Closed`] when the
    /// server closes instead, [`TestError::Timeout`] when nothing comes in time.
    pub async fn recv(&mut self) -> Result<Message, TestError> {
        let timeout = self.timeout;
        self.recv_within(timeout).await
    }

    /// The next message, which must be text.
    pub async fn recv_text(&mut self) -> Result<String, TestError> {
        match self.recv().await? {
            Message::Text(text) => Ok(text.as_str().to_owned()),
            other => Err(TestError::Unexpected(other)),
        }
    }

    /// The next message, parsed as JSON (text or binary).
    pub async fn recv_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, TestError> {
        let message = self.recv().await?;
        Ok(serde_json::from_slice(message.as_bytes())?)
    }

    /// Succeeds if no message arrives within `duration`, like Channels'
    /// `receive_nothing`; fails with the message that did (or the close).
    pub async fn expect_nothing(&mut self, duration: Duration) -> Result<(), TestError> {
        match self.recv_within(duration).await {
            Err(TestError::Timeout(_)) => Ok(()),
            Ok(message) => Err(TestError::Unexpected(message)),
            Err(e) => Err(e),
        }
    }

    /// Waits for the server to close the connection (a view that returns closes with
    /// 1000) and tells its close code. A message arriving first is an error
    /// ([`TestError::Unexpected`]).
    pub async fn closed(&mut self) -> Result<Closed, TestError> {
        match self.recv().await {
            Err(TestError::Closed(closed)) => Ok(closed),
            Ok(message) => Err(TestError::Unexpected(message)),
            Err(e) => Err(e),
        }
    }

    /// Starts the closing handshake with `code` and `reason`, and waits for the
    /// server's reply; returns the close the server sent back. Messages the server
    /// sent before its close are dropped.
    pub async fn close(
        &mut self,
        code: impl Into<CloseCode>,
        reason: &str,
    ) -> Result<Closed, TestError> {
        if let Some(closed) = &self.closed {
            return Ok(closed.clone());
        }
        let frame = CloseFrame {
            code: WsCloseCode::from(u16::from(code.into())),
            reason: reason.into(),
        };
        self.stream
            .close(Some(frame))
            .await
            .map_err(TestError::connection)?;
        loop {
            match self.recv().await {
                Ok(_) => continue,
                Err(TestError::Closed(closed)) => return Ok(closed),
                Err(e) => return Err(e),
            }
        }
    }

    async fn recv_within(&mut self, duration: Duration) -> Result<Message, TestError> {
        if let Some(closed) = &self.closed {
            return Err(TestError::Closed(closed.clone()));
        }
        let deadline = tokio::time::Instant::now() + duration;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            let frame = match next {
                Err(_) => return Err(TestError::Timeout(duration)),
                Ok(None) => return Err(self.saw_close(CloseCode::Abnormal, String::new())),
                Ok(Some(Err(e))) => return Err(TestError::connection(e)),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                WsMessage::Text(text) => return Ok(Message::text(text.as_str())),
                WsMessage::Binary(data) => return Ok(Message::Binary(data)),
                WsMessage::Close(frame) => {
                    // The engine queued the reply; send it, so the server's closing
                    // handshake completes.
                    let _ = tokio::time::timeout_at(deadline, self.stream.flush()).await;
                    return Err(match frame {
                        Some(f) => self.saw_close(u16::from(f.code).into(), f.reason.to_string()),
                        None => self.saw_close(CloseCode::Status, String::new()),
                    });
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => continue,
            }
        }
    }

    fn saw_close(&mut self, code: CloseCode, reason: String) -> TestError {
        let closed = Closed { code, reason };
        self.closed = Some(closed.clone());
        TestError::Closed(closed)
    }
}
