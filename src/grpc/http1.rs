//! HTTP/1.1 requests (grpc-web from browsers and Node) are read in full
//! before the call starts. A call refused before its body is read (no
//! token, a bad one, the server at its limit) would otherwise be answered
//! and its connection closed with the body still unread: the kernel then
//! resets the connection, and a client still sending its body sees a
//! broken pipe instead of the refusal and its details. grpc-web has no
//! client streaming, so a whole request body is one message and reading
//! it first costs nothing a call would not spend anyway. HTTP/2 streams
//! are untouched (a refused stream is reset on its own).
//!
//! The reading happens before authentication and outside the guard's
//! limits, so it has its own: a declared length over the limit is refused
//! at once (413), all bodies being read at once share a byte budget (a
//! body waits for room at most the request timeout, then 503), and a body
//! must arrive within the request timeout (408).
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tonic::body::Body;

/// Bytes of HTTP/1.1 bodies held at once, in KiB (64 MiB).
const BUDGET_KIB: usize = 64 * 1024;

#[derive(Clone)]
pub struct Http1BodyLayer {
    /// The largest body read (a message, its framing, base64 for
    /// grpc-web-text); more is refused with 413.
    max_bytes: usize,
    /// How long a body may take to arrive (the request timeout).
    within: Duration,
    /// KiB of bodies being read, across all connections.
    budget: Arc<Semaphore>,
}

impl Http1BodyLayer {
    /// For a server whose largest message is `max_message_bytes` and
    /// whose calls may take `request_timeout`.
    pub fn new(max_message_bytes: usize, request_timeout: Duration) -> Http1BodyLayer {
        let max_bytes = max_message_bytes / 3 * 4 + 64;
        Http1BodyLayer {
            max_bytes,
            within: request_timeout,
            // One largest body always fits.
            budget: Arc::new(Semaphore::new(BUDGET_KIB.max(max_bytes.div_ceil(1024)))),
        }
    }
}

impl<S> tower::Layer<S> for Http1BodyLayer {
    type Service = Http1Body<S>;

    fn layer(&self, inner: S) -> Http1Body<S> {
        Http1Body {
            inner,
            max_bytes: self.max_bytes,
            within: self.within,
            budget: self.budget.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Http1Body<S> {
    inner: S,
    max_bytes: usize,
    within: Duration,
    budget: Arc<Semaphore>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Http1Body<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.version() >= http::Version::HTTP_2 {
            return Box::pin(self.inner.call(req));
        }
        // The service made ready by poll_ready takes the call; a fresh
        // clone waits for the next one.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let (max, within, budget) = (self.max_bytes, self.within, self.budget.clone());
        Box::pin(async move {
            let declared = req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > max) {
                return Ok(plain(http::StatusCode::PAYLOAD_TOO_LARGE));
            }
            // Room for what it says it sends, or for the largest body.
            let kib = declared.unwrap_or(max).div_ceil(1024).max(1) as u32;
            let Ok(Ok(_room)) = tokio::time::timeout(within, budget.acquire_many_owned(kib)).await
            else {
                return Ok(plain(http::StatusCode::SERVICE_UNAVAILABLE));
            };
            let (parts, body) = req.into_parts();
            let bytes = match tokio::time::timeout(within, Limited::new(body, max).collect()).await
            {
                Ok(Ok(c)) => c.to_bytes(),
                Ok(Err(e)) if e.is::<LengthLimitError>() => {
                    return Ok(plain(http::StatusCode::PAYLOAD_TOO_LARGE));
                }
                // The client went away mid-body: nobody reads the answer.
                Ok(Err(_)) => return Ok(plain(http::StatusCode::BAD_REQUEST)),
                Err(_) => return Ok(plain(http::StatusCode::REQUEST_TIMEOUT)),
            };
            let req = http::Request::from_parts(parts, Body::new(Full::<Bytes>::new(bytes)));
            inner.call(req).await
        })
    }
}

fn plain(status: http::StatusCode) -> http::Response<Body> {
    let mut r = http::Response::new(Body::empty());
    *r.status_mut() = status;
    r
}
