//! The layer around every call: it sheds load (more than the server's
//! maximum of calls in flight: RESOURCE_EXHAUSTED SERVER_BUSY at once, not a
//! queue), keeps the call's connection marked busy until its reply ends (the
//! idle timeout of `transport`), gives the call its deadline (the client's
//! `grpc-timeout`, at most the server's request timeout) and answers
//! DEADLINE_EXCEEDED when it passes, and turns a panic in a handler into
//! INTERNAL, logged with the method and a call id, instead of a reset
//! stream. Every call runs in a span with its method, the caller's sub and
//! the request id, and ends with one log line: method, caller (sub, roles,
//! unit; never a name or phone, R-TKT-13), request id, gRPC code, reason
//! and latency; DEBUG for successes, INFO for refusals, WARN for faults.
//! It also fixes the call's language (`accept-language`, else the server's
//! default) for the errors' LocalizedMessage.
use super::language::Language;
use super::status::localized;
use super::transport::ConnInfo;
use crate::error::{AppError, reason};
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Semaphore;
use tonic::Status;
use tonic::body::Body;
use tracing::Instrument;

#[derive(Clone)]
pub struct GuardLayer {
    request_timeout: Duration,
    in_flight: Arc<Semaphore>,
    language: Language,
}

impl GuardLayer {
    pub fn new(
        request_timeout: Duration,
        max_concurrent_calls: usize,
        language: Language,
    ) -> GuardLayer {
        GuardLayer {
            request_timeout,
            in_flight: Arc::new(Semaphore::new(max_concurrent_calls.max(1))),
            language,
        }
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            request_timeout: self.request_timeout,
            in_flight: self.in_flight.clone(),
            language: self.language,
        }
    }
}

#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    request_timeout: Duration,
    /// One permit per call until its reply starts (a stream's headers).
    in_flight: Arc<Semaphore>,
    /// The server's default language.
    language: Language,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<Body>> for Guard<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Send,
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
        let lang = Language::negotiate(
            req.headers()
                .get("accept-language")
                .and_then(|v| v.to_str().ok()),
            self.language,
        );
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            let busy = localized(
                AppError::ResourceExhausted {
                    reason: reason::SERVER_BUSY,
                    message: "the server is at its limit of calls in flight; retry".into(),
                },
                lang,
            );
            count_call(
                req.uri().path(),
                tonic::Code::ResourceExhausted,
                Duration::ZERO,
            );
            return Box::pin(std::future::ready(Ok(busy.into_http())));
        };
        let call = req.extensions().get::<ConnInfo>().map(|c| c.state.begin());
        let method = req.uri().path().to_string();
        // The client's id for the call, if it sent one; else one is made
        // when needed (a panic's log line and answer).
        let call_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 64)
            .map(str::to_string);
        let deadline =
            client_timeout(&req).map_or(self.request_timeout, |t| t.min(self.request_timeout));
        let span = tracing::info_span!(
            "call",
            %method,
            sub = tracing::field::Empty,
            request_id = tracing::field::Empty,
            otel.name = tracing::field::Empty,
            otel.kind = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let traced = crate::telemetry::exporting();
        if traced {
            // Named by its method in a trace viewer, under the caller's
            // span when it sent a W3C traceparent. (Recorded only when
            // exporting: the log lines stay as they were.)
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            span.record("otel.name", method.trim_start_matches('/'));
            span.record("otel.kind", "server");
            let _ = span.set_parent(crate::telemetry::remote_context(req.headers()));
        }
        let notes = Arc::new(CallNotes::default());
        let started = std::time::Instant::now();
        // The authentication interceptor runs inside `call`, before the reply.
        let reply = {
            let _in = span.enter();
            CALL.sync_scope(notes.clone(), || {
                LANGUAGE.sync_scope(lang, || self.inner.call(req))
            })
        };
        Box::pin(
            async move {
                let outcome = tokio::time::timeout(
                    deadline,
                    CALL.scope(
                        notes.clone(),
                        LANGUAGE.scope(lang, AssertUnwindSafe(reply).catch_unwind()),
                    ),
                )
                .await;
                drop(permit);
                let response = match outcome {
                    Ok(Ok(Ok(response))) => response,
                    Ok(Ok(Err(e))) => return Err(e),
                    Ok(Err(panic)) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        let call_id =
                            call_id.unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
                        let e = AppError::internal(anyhow::anyhow!(
                            "handler panicked (call {call_id}): {what}"
                        ));
                        let mut status = localized(e, lang);
                        if let Ok(v) = call_id.parse() {
                            status.metadata_mut().insert("x-request-id", v);
                        }
                        status.into_http()
                    }
                    Err(_) => localized(
                        AppError::DeadlineExceeded {
                            reason: reason::DEADLINE_EXCEEDED,
                            message: "the call did not finish before its deadline".into(),
                        },
                        lang,
                    )
                    .into_http(),
                };
                let code = log_call(&method, &notes, &response, started.elapsed());
                if traced && code != tonic::Code::Ok {
                    tracing::Span::current().record("otel.status_code", "ERROR");
                }
                // The call stays in flight until its reply has been sent in full.
                Ok(response.map(|body| match call {
                    Some(guard) => Body::new(Tracked { body, _call: guard }),
                    None => body,
                }))
            }
            .instrument(span),
        )
    }
}

tokio::task_local! {
    /// What the layers inside learn about the call, for its log line.
    static CALL: Arc<CallNotes>;
    /// The language the call's errors speak.
    static LANGUAGE: Language;
}

/// The language of the call being served; None outside a call (a stream's
/// later items, background work).
pub fn call_language() -> Option<Language> {
    LANGUAGE.try_with(|l| *l).ok()
}

/// Who called and with which request id, as the inner layers learn it.
#[derive(Default)]
struct CallNotes {
    caller: OnceLock<(String, String, String)>,
    request_id: OnceLock<String>,
}

/// The authenticated caller of the current call (the auth interceptor).
pub fn note_caller(caller: &crate::domain::Caller) {
    let _ = CALL.try_with(|n| {
        let roles: Vec<_> = caller.roles.iter().map(|r| r.as_str()).collect();
        let _ = n
            .caller
            .set((caller.sub.clone(), roles.join(","), caller.unit.clone()));
        tracing::Span::current().record("sub", caller.sub.as_str());
    });
}

/// The AIP-155 request id of the current call (a mutation's first one).
pub fn note_request_id(id: &uuid::Uuid) {
    let _ = CALL.try_with(|n| {
        if n.request_id.set(id.to_string()).is_ok() {
            tracing::Span::current().record("request_id", tracing::field::display(id));
        }
    });
}

/// One line per call, when its reply starts.
fn log_call(
    method: &str,
    notes: &CallNotes,
    response: &http::Response<Body>,
    took: Duration,
) -> tonic::Code {
    let (sub, roles, unit) = notes
        .caller
        .get()
        .map(|(s, r, u)| (s.as_str(), r.as_str(), u.as_str()))
        .unwrap_or(("", "", ""));
    let request_id = notes.request_id.get().map(String::as_str).unwrap_or("");
    let latency_ms = took.as_secs_f64() * 1000.0;
    // A failed call answers with its status in the headers; a good one's
    // comes in the trailers, after the reply.
    let status = Status::from_header_map(response.headers());
    let status_code = status.as_ref().map_or(tonic::Code::Ok, Status::code);
    count_call(method, status_code, took);
    let Some(status) = status else {
        tracing::debug!(
            method,
            sub,
            roles,
            unit,
            request_id,
            code = "OK",
            latency_ms,
            "call"
        );
        return status_code;
    };
    use tonic_types::StatusExt;
    let reason = status
        .get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default();
    let code = format!("{:?}", status.code());
    match status.code() {
        tonic::Code::Ok => {
            tracing::debug!(
                method, sub, roles, unit, request_id, code, latency_ms, "call"
            )
        }
        tonic::Code::Internal
        | tonic::Code::Unknown
        | tonic::Code::DataLoss
        | tonic::Code::Unavailable
        | tonic::Code::ResourceExhausted
        | tonic::Code::DeadlineExceeded => {
            tracing::warn!(
                method,
                sub,
                roles,
                unit,
                request_id,
                code,
                reason,
                latency_ms,
                "call failed"
            )
        }
        _ => {
            tracing::info!(
                method,
                sub,
                roles,
                unit,
                request_id,
                code,
                reason,
                latency_ms,
                "call refused"
            )
        }
    }
    status_code
}

/// The call in the metrics, by the code its reply starts with (a stream
/// that fails later counts as OK). A path no service has is counted as
/// `unknown`, whatever it was answered (UNIMPLEMENTED, or UNAUTHENTICATED
/// by a real service's interceptor), so no caller can grow the label set.
fn count_call(method: &str, code: tonic::Code, took: Duration) {
    let method = method_label(method);
    metrics::counter!(crate::metrics::REQUESTS, "method" => method, "code" => code_name(code))
        .increment(1);
    metrics::histogram!(crate::metrics::REQUEST_SECONDS, "method" => method)
        .record(took.as_secs_f64());
}

/// The label of `path` (`/package.Service/Method`): the path itself when it
/// names a method this server has (ours, health, reflection), else
/// `unknown`. Static strings, so counting a call allocates nothing.
fn method_label(path: &str) -> &'static str {
    static METHODS: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    METHODS
        .get_or_init(|| {
            let mut all = std::collections::HashSet::new();
            for set in [
                super::FILE_DESCRIPTOR_SET,
                tonic_health::pb::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ] {
                if let Ok(pool) = prost_reflect::DescriptorPool::decode(set) {
                    for s in pool.services() {
                        for m in s.methods() {
                            // Leaked once: a fixed set of a few dozen names.
                            let name = format!("/{}/{}", s.full_name(), m.name());
                            all.insert(&*Box::leak(name.into_boxed_str()));
                        }
                    }
                }
            }
            all
        })
        .get(path)
        .copied()
        .unwrap_or("unknown")
}

/// The canonical name of a gRPC code (`NOT_FOUND`), as Prometheus users
/// and grpc-go's metrics spell it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "OK",
        C::Cancelled => "CANCELLED",
        C::Unknown => "UNKNOWN",
        C::InvalidArgument => "INVALID_ARGUMENT",
        C::DeadlineExceeded => "DEADLINE_EXCEEDED",
        C::NotFound => "NOT_FOUND",
        C::AlreadyExists => "ALREADY_EXISTS",
        C::PermissionDenied => "PERMISSION_DENIED",
        C::ResourceExhausted => "RESOURCE_EXHAUSTED",
        C::FailedPrecondition => "FAILED_PRECONDITION",
        C::Aborted => "ABORTED",
        C::OutOfRange => "OUT_OF_RANGE",
        C::Unimplemented => "UNIMPLEMENTED",
        C::Internal => "INTERNAL",
        C::Unavailable => "UNAVAILABLE",
        C::DataLoss => "DATA_LOSS",
        C::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The client's `grpc-timeout` header: digits and a unit (H, M, S, m, u, n).
fn client_timeout<B>(req: &http::Request<B>) -> Option<Duration> {
    let v = req.headers().get("grpc-timeout")?.to_str().ok()?;
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// A reply body that marks its call in flight until it ends.
struct Tracked {
    body: Body,
    _call: super::transport::CallGuard,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(v: &str) -> http::Request<()> {
        http::Request::builder()
            .header("grpc-timeout", v)
            .body(())
            .unwrap()
    }

    #[test]
    fn grpc_timeout_header() {
        assert_eq!(
            client_timeout(&with_timeout("5S")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            client_timeout(&with_timeout("250m")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            client_timeout(&with_timeout("99999999H")),
            Some(Duration::from_secs(99999999 * 3600))
        );
        assert_eq!(client_timeout(&with_timeout("S")), None);
        assert_eq!(client_timeout(&with_timeout("12x")), None);
        assert_eq!(client_timeout(&with_timeout("-5S")), None);
    }

    /// A handler that panics is answered INTERNAL (with the call id to find
    /// its log line), not with a reset stream; the next call is served.
    #[tokio::test]
    async fn a_panicking_handler_is_internal() {
        use tower::{Layer, Service};
        let mut svc = GuardLayer::new(Duration::from_secs(5), 8, Language::ZhCn).layer(
            tower::service_fn(|req: http::Request<Body>| async move {
                if req.uri().path() == "/boom" {
                    panic!("boom");
                }
                Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
            }),
        );
        let req = |path: &str| {
            http::Request::builder()
                .uri(path)
                .header("x-request-id", "call-7")
                .body(Body::empty())
                .unwrap()
        };
        let res = svc.call(req("/boom")).await.unwrap();
        let status = Status::from_header_map(res.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert_eq!(res.headers()["x-request-id"], "call-7");
        let res = svc.call(req("/fine")).await.unwrap();
        assert!(Status::from_header_map(res.headers()).is_none());
    }

    /// Past the maximum of calls in flight a call is refused at once.
    #[tokio::test]
    async fn calls_beyond_the_limit_are_shed() {
        use tower::{Layer, Service};
        let gate = Arc::new(tokio::sync::Notify::new());
        let g = gate.clone();
        let mut svc = GuardLayer::new(Duration::from_secs(5), 1, Language::ZhCn).layer(
            tower::service_fn(move |_req: http::Request<Body>| {
                let g = g.clone();
                async move {
                    g.notified().await;
                    Ok::<_, std::convert::Infallible>(http::Response::new(Body::empty()))
                }
            }),
        );
        let first = svc.call(http::Request::new(Body::empty()));
        let second = svc.call(http::Request::new(Body::empty())).await.unwrap();
        let status = Status::from_header_map(second.headers()).expect("a gRPC status");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        gate.notify_one();
        let first = first.await.unwrap();
        assert!(Status::from_header_map(first.headers()).is_none());
    }

    #[test]
    fn deadline_status_code() {
        use tonic::Code;
        let s = Status::from(AppError::DeadlineExceeded {
            reason: reason::DEADLINE_EXCEEDED,
            message: "late".into(),
        });
        assert_eq!(s.code(), Code::DeadlineExceeded);
    }
}
