//! A request body read on demand: nothing of it is read until someone asks (a middleware
//! or the view awaiting [`Request::body`](crate::Request::body)), so one that answers
//! first never waits for it. Read within the size limit and the body read timeout.

use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use crate::error::BodyProblem;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

type DynBody = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = BoxError> + Send>>;

/// A body not read yet, with the limits it is read under.
pub(crate) struct PendingBody {
    /// Only ever used through `&mut` (`get_mut`, no locking): the mutex makes a request
    /// `Sync` whatever the body type.
    body: Mutex<DynBody>,
    limit: usize,
    timeout: Option<Duration>,
}

impl PendingBody {
    pub(crate) fn new<B>(body: B, limit: usize, timeout: Option<Duration>) -> Self
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        PendingBody {
            body: Mutex::new(Box::pin(body.map_err(Into::into))),
            limit,
            timeout,
        }
    }

    /// Reads the whole body: 413 past the limit, 408 past the timeout.
    pub(crate) async fn read(self) -> Result<Bytes, BodyProblem> {
        let body = self.body.into_inner().unwrap_or_else(|e| e.into_inner());
        let collect = collect(body, self.limit);
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, collect)
                .await
                .unwrap_or(Err(BodyProblem::TimedOut)),
            None => collect.await,
        }
    }
}

/// The body's data, at most `limit` bytes (one chunk is kept as it is, not copied).
async fn collect(mut body: DynBody, limit: usize) -> Result<Bytes, BodyProblem> {
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyProblem::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        // Once a second chunk came, `rest` holds everything (the first one copied in).
        let have = if rest.is_empty() {
            first.as_ref().map_or(0, Bytes::len)
        } else {
            rest.len()
        };
        if have + data.len() > limit {
            return Err(BodyProblem::TooLarge);
        }
        match &first {
            None => first = Some(data),
            Some(f) => {
                if rest.is_empty() {
                    rest.extend_from_slice(f);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        rest.freeze()
    })
}

impl std::fmt::Debug for PendingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingBody")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}
