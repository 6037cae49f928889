//! The dispatch console (issue 18), served on the API's own port: a GET of
//! `/` or of one of the page's files is answered here from the bundle built
//! by `console/build.sh` (committed under `console/dist/`, embedded at
//! compile time, so a machine with only cargo serves it); every other
//! request is the API's. The page's grpc-web calls then go to its own
//! origin: no CORS, one address to open. gRPC and grpc-web are POSTs, so
//! nothing of the API is shadowed.
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::body::Body;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const PAGE: &[u8] = include_bytes!("../../console/dist/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        bytes: PAGE,
    },
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        bytes: PAGE,
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../console/dist/app.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../console/dist/style.css"),
    },
];

/// The page may load only itself and call only its own origin.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data: blob:; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// Serves the console when `enabled` (`serve --console`, on by default).
#[derive(Debug, Clone, Copy)]
pub struct ConsoleLayer {
    enabled: bool,
}

impl ConsoleLayer {
    pub fn new(enabled: bool) -> ConsoleLayer {
        ConsoleLayer { enabled }
    }
}

impl<S> tower::Layer<S> for ConsoleLayer {
    type Service = Console<S>;

    fn layer(&self, inner: S) -> Console<S> {
        Console {
            inner,
            enabled: self.enabled,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Console<S> {
    inner: S,
    enabled: bool,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Console<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
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
        let read = req.method() == http::Method::GET || req.method() == http::Method::HEAD;
        if self.enabled
            && read
            && let Some(a) = ASSETS.iter().find(|a| a.path == req.uri().path())
        {
            let head = req.method() == http::Method::HEAD;
            return Box::pin(std::future::ready(Ok(asset(a, head))));
        }
        Box::pin(self.inner.call(req))
    }
}

fn asset(a: &Asset, head: bool) -> http::Response<Body> {
    use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
    let body = if head {
        Body::empty()
    } else {
        Body::new(http_body_util::Full::new(bytes::Bytes::from_static(
            a.bytes,
        )))
    };
    let mut r = http::Response::new(body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(CONTENT_LENGTH, HeaderValue::from(a.bytes.len()));
    // One build per server binary: revalidate rather than keep a stale page.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}
