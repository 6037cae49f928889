//! The per-call log line. Alone in its own test binary: a thread-local
//! subscriber (`set_default`) sees every event only if no other test thread
//! registers the same callsites at the same time (tracing caches a
//! callsite's interest when it is first hit), so no other test runs beside
//! it in this process.
mod common;

use common::*;

/// Captured log output of the calls in one test (its own subscriber).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Every call ends with one log line: method, the caller's sub, roles and
/// unit, the request id, the code, the reason and the latency; DEBUG for a
/// success, INFO for a refusal; never the caller's name or phone (R-TKT-13).
#[tokio::test]
async fn each_call_logs_one_line_without_personal_data() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("fieldops=debug")
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = spawn_app().await;
    let mut d = app.dispatcher().await;
    let ok = create_req("BUILDING_NO_HEAT");
    d.create_ticket(ok.clone()).await.unwrap();
    // The back office takes no calls (R-TKT-1): a refusal to log.
    let mut c = app
        .client_for("b7", &[fieldops::domain::Role::Backoffice], "north")
        .await;
    let refused = create_req("BUILDING_NO_HEAT");
    c.create_ticket(refused.clone()).await.unwrap_err();
    app.stop().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle} in:\n{text}"))
            .to_string()
    };
    let success = line(&format!("request_id=\"{}\"", ok.request_id));
    for want in [
        "DEBUG",
        "CreateTicket",
        "sub=\"d1\"",
        "code=\"OK\"",
        "latency_ms",
    ] {
        assert!(success.contains(want), "{want} in {success}");
    }
    let refusal = line(&format!("request_id=\"{}\"", refused.request_id));
    for want in [
        "INFO",
        "call refused",
        "sub=\"b7\"",
        "roles=\"backoffice\"",
        "unit=\"north\"",
        "code=\"PermissionDenied\"",
        "reason=\"ROLE_NOT_ALLOWED\"",
    ] {
        assert!(refusal.contains(want), "{want} in {refusal}");
    }
    assert!(
        !text.contains("张三") && !text.contains("13812345678"),
        "personal data logged"
    );
}
