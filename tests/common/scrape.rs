//! Reading the server's Prometheus metrics (`--metrics-listen`).
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

/// The whole text of `GET /metrics`.
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use http_body_util::BodyExt;
    let http: HttpClient<_, tonic::body::Body> =
        HttpClient::builder(TokioExecutor::new()).build_http();
    let r = http
        .get(format!("http://{addr}/metrics").parse().unwrap())
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.status());
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let body = r.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the series `name` whose labels include all of `labels`;
/// 0 when there is none yet.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, v)) = line.rsplit_once(' ') else {
            continue;
        };
        let (n, l) = series.split_once('{').unwrap_or((series, ""));
        if n == name
            && labels
                .iter()
                .all(|(k, want)| l.contains(&format!("{k}=\"{want}\"")))
        {
            found.push(v.parse::<f64>().unwrap());
        }
    }
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied().unwrap_or(0.0)
}
