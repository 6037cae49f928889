//! JSON Web Key Sets (RFC 7517), so an identity provider can rotate its
//! signing keys without a restart: the set is read from a file or fetched
//! over HTTP(S) at start, and again every refresh interval; a token names
//! its key by `kid`. A refresh that fails keeps the keys in use (and is
//! logged); a set that cannot be read at start stops the server.
use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where the set comes from.
#[derive(Clone, Debug)]
pub enum JwksSource {
    File(PathBuf),
    Url(http::Uri),
}

/// The longest wait for an identity provider's answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A key set larger than this is not a key set.
const MAX_BYTES: usize = 1 << 20;

impl JwksSource {
    /// `https://...` is fetched (`http://` only from this machine: keys
    /// fetched in clear could be swapped on the way); anything else is a
    /// file.
    pub fn parse(spec: &str) -> anyhow::Result<JwksSource> {
        if spec.starts_with("http://") || spec.starts_with("https://") {
            let uri: http::Uri = spec
                .parse()
                .with_context(|| format!("--jwt-jwks {spec}: not a URL"))?;
            let loopback = uri.host().is_some_and(|h| {
                h == "localhost"
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
            anyhow::ensure!(
                uri.scheme_str() == Some("https") || loopback,
                "--jwt-jwks {spec}: fetch keys over https (plain http only from this machine)"
            );
            Ok(JwksSource::Url(uri))
        } else {
            Ok(JwksSource::File(PathBuf::from(spec)))
        }
    }

    fn name(&self) -> String {
        match self {
            JwksSource::File(p) => p.display().to_string(),
            JwksSource::Url(u) => u.to_string(),
        }
    }

    /// Read or fetch the set, and check it.
    pub async fn load(&self, template: &Validation) -> anyhow::Result<KeySet> {
        let bytes = match self {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .with_context(|| format!("--jwt-jwks {}: cannot read", path.display()))?,
            JwksSource::Url(uri) => fetch(uri)
                .await
                .with_context(|| format!("--jwt-jwks {uri}"))?,
        };
        KeySet::parse(&bytes, template).with_context(|| format!("--jwt-jwks {}", self.name()))
    }
}

async fn fetch(uri: &http::Uri) -> anyhow::Result<Vec<u8>> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<Bytes>>(https);
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.get(uri.clone()))
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {FETCH_TIMEOUT:?}"))??;
    anyhow::ensure!(
        response.status().is_success(),
        "answered HTTP {}",
        response.status()
    );
    let body = tokio::time::timeout(
        FETCH_TIMEOUT,
        Limited::new(response.into_body(), MAX_BYTES).collect(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("the key set did not arrive within {FETCH_TIMEOUT:?}"))?
    .map_err(|e| anyhow::anyhow!("reading the key set: {e}"))?;
    Ok(body.to_bytes().to_vec())
}

/// The signing keys of one set, each with the checks of its algorithm.
pub struct KeySet {
    by_kid: HashMap<String, (DecodingKey, Validation)>,
    /// A set of one key also checks tokens that name no key.
    only: Option<(DecodingKey, Validation)>,
}

impl KeySet {
    /// The usable signing keys of the set in `json`. A key the server
    /// cannot use (a type it does not know, a shared secret) is skipped
    /// with a warning, so a provider adding such a key does not stop
    /// rotation; a set with no usable key is refused. `template` holds the
    /// issuer, audience and claim rules.
    pub fn parse(json: &[u8], template: &Validation) -> anyhow::Result<KeySet> {
        #[derive(serde::Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw = serde_json::from_slice(json).context("not a JSON Web Key Set")?;
        let mut by_kid = HashMap::new();
        let mut all = Vec::new();
        let mut skipped = Vec::new();
        for (i, value) in raw.keys.into_iter().enumerate() {
            let name = value
                .get("kid")
                .and_then(|k| k.as_str())
                .map_or_else(|| format!("keys[{i}]"), str::to_string);
            match signing_key(value, template) {
                Ok(None) => {}
                Ok(Some((kid, key, validation))) => {
                    all.push((key.clone(), validation.clone()));
                    if let Some(kid) = kid {
                        by_kid.insert(kid, (key, validation));
                    }
                }
                Err(why) => {
                    tracing::warn!(key = %name, %why, "JWKS key skipped");
                    skipped.push(format!("{name}: {why}"));
                }
            }
        }
        anyhow::ensure!(
            !all.is_empty(),
            "the set has no usable signing key{}",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" (skipped: {})", skipped.join("; "))
            }
        );
        anyhow::ensure!(
            all.len() == 1 || by_kid.len() == all.len(),
            "every key of a set of several needs its own `kid`"
        );
        let only = if all.len() == 1 { all.pop() } else { None };
        Ok(KeySet { by_kid, only })
    }

    /// The key a token's header names (or the only one, when it names none).
    pub fn key(&self, kid: Option<&str>) -> Option<&(DecodingKey, Validation)> {
        match kid {
            Some(kid) => self.by_kid.get(kid),
            None => self.only.as_ref(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_kid.len().max(usize::from(self.only.is_some()))
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One signing key: (kid, key, its checks); None for an encryption key;
/// Err(why) for a key the server cannot use.
type Signing = Option<(Option<String>, DecodingKey, Validation)>;

fn signing_key(value: serde_json::Value, template: &Validation) -> Result<Signing, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return Ok(None);
    }
    let algorithm = match jwk.common.key_algorithm {
        Some(a) => Algorithm::try_from(a).map_err(|_| format!("{a} is not a signing algorithm"))?,
        None => implied_algorithm(&jwk.algorithm).ok_or("no `alg` and none implied")?,
    };
    if matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err("a shared secret does not belong in a published key set".into());
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut validation = template.clone();
    validation.algorithms = vec![algorithm];
    Ok(Some((jwk.common.key_id.clone(), key, validation)))
}

/// The algorithm a key's type implies when the key does not say.
fn implied_algorithm(params: &AlgorithmParameters) -> Option<Algorithm> {
    match params {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        _ => None,
    }
}
