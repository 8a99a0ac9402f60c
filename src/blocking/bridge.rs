//! The channel between blocking code and its connection: blocking code sends one
//! operation and blocks on the reply; the connection's task runs it and answers.

use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle};

use crate::error::Error;
use crate::message::{CloseCode, Message};
use crate::websocket::socket::WebSocket as AsyncWebSocket;

/// One operation the blocking side asks of the connection.
pub(crate) enum Op {
    Accept(oneshot::Sender<Result<(), Error>>),
    Wait(oneshot::Sender<Option<Message>>),
    Send(Message, oneshot::Sender<Result<(), Error>>),
    Flush(oneshot::Sender<Result<(), Error>>),
    Close(CloseCode, String, oneshot::Sender<Result<(), Error>>),
    /// Something that does not wait (`read`, `is_closed`, …).
    Now(Box<dyn FnOnce(&mut AsyncWebSocket) + Send>),
}

/// The blocking side's end of the channel to the connection.
pub(crate) struct Bridge {
    ops: mpsc::Sender<Op>,
}

impl Bridge {
    pub(crate) fn new() -> (Bridge, mpsc::Receiver<Op>) {
        // One operation at a time: the caller blocks until it is answered.
        let (ops, rx) = mpsc::channel(1);
        (Bridge { ops }, rx)
    }

    /// Sends an operation and blocks for its answer; `None` once the async side is
    /// gone (the connection ended and its view was dropped).
    pub(crate) fn call<T>(&self, op: impl FnOnce(oneshot::Sender<T>) -> Op) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.ops.blocking_send(op(reply)).ok()?;
        answer.blocking_recv().ok()
    }

    pub(crate) fn now<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut AsyncWebSocket) -> T + Send + 'static,
    ) -> Option<T> {
        self.call(|reply| {
            Op::Now(Box::new(move |ws| {
                let _ = reply.send(query(ws));
            }))
        })
    }

    pub(crate) fn result(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<(), Error>>) -> Op,
    ) -> Result<(), Error> {
        self.call(op).unwrap_or(Err(Error::closed(None)))
    }
}

/// Runs the blocking side's operations on the connection's task until `job` ends.
pub(crate) async fn serve_until<T>(
    ws: &mut AsyncWebSocket,
    ops: &mut mpsc::Receiver<Op>,
    mut job: JoinHandle<T>,
) -> Result<T, JoinError> {
    loop {
        tokio::select! {
            done = &mut job => return done,
            Some(op) = ops.recv() => match op {
                Op::Accept(reply) => {
                    let _ = reply.send(ws.accept().await);
                }
                Op::Wait(reply) => {
                    let _ = reply.send(ws.wait().await);
                }
                Op::Send(message, reply) => {
                    let _ = reply.send(ws.send(message).await);
                }
                Op::Flush(reply) => {
                    let _ = reply.send(ws.flush().await);
                }
                Op::Close(code, reason, reply) => {
                    let _ = reply.send(ws.close(code, &reason).await);
                }
                Op::Now(query) => query(ws),
            },
        }
    }
}
