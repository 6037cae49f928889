//! Keys from the identity provider's JSON Web Key Set (issue 16): a file
//! or a URL, read at start (one that cannot be read stops the server),
//! read again on refresh so the provider can rotate keys; a token names
//! its key by `kid`; a failed refresh keeps the keys in use.
mod common;

use base64::Engine;
use common::*;
use fieldops::auth::{Claims, KeySource};
use fieldops::domain::Role;
use fieldops::jwks::JwksSource;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Code;

/// An Ed25519 signing key and its public JWK.
struct Key {
    kid: String,
    signing: EncodingKey,
    jwk: serde_json::Value,
}

fn key(kid: &str) -> Key {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key_raw());
    Key {
        kid: kid.into(),
        signing: EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap(),
        jwk: serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"
        }),
    }
}

fn set(keys: &[&Key]) -> String {
    serde_json::json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
        .to_string()
}

/// A dispatcher's token signed by `key`, naming `kid` (None: no kid).
fn signed(key: &Key, kid: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "d1".into(),
        roles: vec![Role::Dispatcher.as_str().into()],
        unit: "hq".into(),
        exp: now + 3600,
        nbf: None,
        iat: Some(now),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, &claims, &key.signing).unwrap()
}

/// Whether the server accepts `token` (a read any dispatcher may make).
async fn accepted(app: &TestApp, token: &str) -> Result<(), tonic::Status> {
    let mut c = app.raw_client(Some(&format!("Bearer {token}"))).await;
    c.list_tickets(fieldops::grpc::pb::ListTicketsRequest::default())
        .await
        .map(|_| ())
}

fn refused(r: Result<(), tonic::Status>, what: &str) {
    let e = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
    assert_status(&e, Code::Unauthenticated, "TOKEN_INVALID", None);
}

/// A new, empty directory for a test's files.
fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fieldops-jwks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn jwks_config(source: JwksSource) -> KeySource {
    KeySource::Jwks {
        source,
        // Refreshed by the test itself, never in the background.
        refresh: std::time::Duration::from_secs(3600),
    }
}

#[tokio::test]
async fn keys_rotate_through_the_published_set() {
    let (k1, k2) = (key("k1"), key("k2"));
    let dir = scratch_dir();
    let file = dir.join("jwks.json");
    std::fs::write(&file, set(&[&k1])).unwrap();
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.jwt_key = jwks_config(JwksSource::File(file.clone()));
    })
    .await;

    accepted(&app, &signed(&k1, Some("k1"))).await.unwrap();
    // A set of one key also checks a token that names none.
    accepted(&app, &signed(&k1, None)).await.unwrap();
    refused(
        accepted(&app, &signed(&k2, Some("k2"))).await,
        "k2 before it is published",
    );
    // Signed by k2 but claiming to be k1.
    refused(
        accepted(&app, &signed(&k2, Some("k1"))).await,
        "a forged kid",
    );
    // The HS256 secret of the test harness is not a key of the set.
    refused(
        accepted(&app, &token("d1", &[Role::Dispatcher], "hq")).await,
        "HS256",
    );

    // The provider publishes k2 ahead of the rotation.
    std::fs::write(&file, set(&[&k1, &k2])).unwrap();
    assert_eq!(app.handles.verifier.refresh().await.unwrap(), 2);
    accepted(&app, &signed(&k2, Some("k2"))).await.unwrap();
    accepted(&app, &signed(&k1, Some(&k1.kid))).await.unwrap();
    // Two keys: a token must say which.
    refused(
        accepted(&app, &signed(&k1, None)).await,
        "no kid among two keys",
    );

    // A broken set is not taken: the keys in use stay.
    std::fs::write(&file, "{ not json").unwrap();
    let e = app.handles.verifier.refresh().await.unwrap_err();
    assert!(format!("{e:#}").contains("jwks.json"), "{e:#}");
    accepted(&app, &signed(&k2, Some("k2"))).await.unwrap();

    // k1 retired. Its token was accepted (and remembered) before: the
    // server forgets the tokens it verified when it reads the set again.
    std::fs::write(&file, set(&[&k2])).unwrap();
    assert_eq!(app.handles.verifier.refresh().await.unwrap(), 1);
    refused(
        accepted(&app, &signed(&k1, Some("k1"))).await,
        "a retired key",
    );
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server reads the set again by itself, every refresh interval: a key
/// published ahead of a rotation is taken without anyone asking. Keys the
/// server cannot use are skipped, not fatal.
#[tokio::test]
async fn the_set_is_read_again_by_itself_and_unusable_keys_are_skipped() {
    let (k1, k2) = (key("k1"), key("k2"));
    let dir = scratch_dir();
    let file = dir.join("jwks.json");
    // k1 beside a shared secret and a key type nobody knows: both skipped.
    let mut with_junk: serde_json::Value = serde_json::from_str(&set(&[&k1])).unwrap();
    let keys = with_junk["keys"].as_array_mut().unwrap();
    keys.push(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "s", "alg": "HS256"}));
    keys.push(serde_json::json!({"kty": "PQC", "kid": "future", "alg": "ML-DSA-65"}));
    std::fs::write(&file, with_junk.to_string()).unwrap();
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.jwt_key = KeySource::Jwks {
            source: JwksSource::File(file.clone()),
            refresh: std::time::Duration::from_millis(50),
        };
    })
    .await;
    accepted(&app, &signed(&k1, Some("k1"))).await.unwrap();
    refused(
        accepted(&app, &signed(&k2, Some("k2"))).await,
        "k2 before it is published",
    );
    std::fs::write(&file, set(&[&k1, &k2])).unwrap();
    let mut taken = false;
    for _ in 0..400 {
        if accepted(&app, &signed(&k2, Some("k2"))).await.is_ok() {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(taken, "k2 not taken within 10 s by the background refresh");
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys fetched in clear could be swapped on the way: plain http is for
/// this machine only.
#[test]
fn plain_http_is_for_this_machine_only() {
    let e = JwksSource::parse("http://idp.example.cn/jwks.json").unwrap_err();
    assert!(format!("{e:#}").contains("https"), "{e:#}");
    for ok in [
        "https://idp.example.cn/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://localhost/jwks.json",
        "http://[::1]:9000/jwks.json",
    ] {
        assert!(JwksSource::parse(ok).is_ok(), "{ok}");
    }
}

#[tokio::test]
async fn the_set_is_fetched_from_the_providers_url() {
    let k1 = key("k1");
    let body = set(&[&k1]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    let url = format!("http://{provider}/.well-known/jwks.json");
    let app = spawn_tuned("heating", fresh_store().await, |c| {
        c.jwt_key = jwks_config(JwksSource::parse(&url).unwrap());
    })
    .await;
    accepted(&app, &signed(&k1, Some("k1"))).await.unwrap();
    assert_eq!(app.handles.verifier.refresh().await.unwrap(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_set_that_cannot_work_stops_the_server_at_start() {
    // Nobody listens on port 1; a file that is not there; a shared secret
    // published as a key; an empty set.
    let dir = scratch_dir();
    let secret = dir.join("oct.json");
    std::fs::write(
        &secret,
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s","alg":"HS256"}]}"#,
    )
    .unwrap();
    let empty = dir.join("empty.json");
    std::fs::write(&empty, r#"{"keys":[]}"#).unwrap();
    for (spec, want) in [
        ("http://127.0.0.1:1/jwks.json", "127.0.0.1:1"),
        (dir.join("missing.json").to_str().unwrap(), "missing.json"),
        (secret.to_str().unwrap(), "shared secret"),
        (empty.to_str().unwrap(), "no usable signing key"),
    ] {
        let mut config = test_config(&fresh_store().await);
        config.jwt_key = jwks_config(JwksSource::parse(spec).unwrap());
        let e = match fieldops::app::App::build(config).await {
            Ok(_) => panic!("{spec}: the server started"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains("--jwt-jwks") && e.contains(want), "{spec}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
