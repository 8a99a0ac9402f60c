//! The body of the responses the app hands to hyper.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Frame, SizeHint};

/// A response body held in memory, as [`AppService`](crate::AppService) hands it to
/// hyper or tower ([`Response::into_http`](crate::Response::into_http)). It implements
/// hyper's `Body` trait; collect it like any body.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http_body_util::BodyExt;
/// let http = wsview::Response::text("hi").into_http();
/// let bytes = http.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(bytes.as_ref(), b"hi");
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Body(Full<Bytes>);

impl Body {
    /// A body of `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        Body(Full::new(bytes))
    }

    /// An empty body.
    pub fn empty() -> Self {
        Body::default()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}
