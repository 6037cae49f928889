//! JWT issuing and verification. HS256 with a shared secret (from
//! configuration, or generated on first start into the data directory with
//! mode 0600 so `token` and `serve` agree), or RS256 / EdDSA with a PEM public
//! key or a JSON Web Key Set (a file or URL, refreshed so the identity
//! provider can rotate keys) for production, where tokens come from the
//! utility's identity provider.
//! Every claim is checked: signature, `exp`, `nbf`, `iss`, `aud`, non-empty
//! `sub` and `unit`, and at least one known role.
use crate::domain::{Caller, Role};
use crate::error::{AppError, AppResult, reason};
use crate::jwks::{JwksSource, KeySet};
use anyhow::Context;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub roles: Vec<String>,
    pub unit: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    pub iss: String,
    pub aud: String,
}

/// Where the verification key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// HS256 shared secret.
    Secret(Vec<u8>),
    /// RS256 or EdDSA public key in PEM.
    PublicKeyPem { algorithm: Algorithm, pem: Vec<u8> },
    /// The identity provider's published keys, chosen by the token's
    /// `kid`, read again every `refresh`.
    Jwks {
        source: JwksSource,
        refresh: std::time::Duration,
    },
}

pub struct Verifier {
    keys: Keys,
    /// Tokens verified already, with the caller each names and its `exp`:
    /// a handheld sends the same token with every call, and decoding its
    /// claims again was a tenth of a GetTicket's CPU (issue 19). Cleared
    /// when the key set is read again, so a withdrawn key's tokens are
    /// checked afresh.
    verified: Mutex<Verified>,
}

#[derive(Default)]
struct Verified {
    /// Bumped at every reading of the key set: a token decoded with the
    /// keys of an earlier generation is not remembered (a refresh may have
    /// withdrawn its key while it was being checked).
    generation: u64,
    /// Tokens verified or used since `older` was set aside.
    tokens: HashMap<String, (Caller, i64)>,
    /// The tokens before. When `tokens` is full it takes their place and
    /// whatever was not used since is forgotten: a token in use stays
    /// remembered however many others come and go, and the cache never
    /// empties at once (10,000 handhelds each with its own token).
    older: HashMap<String, (Caller, i64)>,
}

impl Verified {
    /// The caller `token` names, if remembered and not past its `exp`.
    fn recall(&mut self, token: &str, now: u64) -> Option<Caller> {
        let fresh = |exp: i64| exp >= now.saturating_sub(LEEWAY_SECS) as i64;
        if let Some((caller, exp)) = self.tokens.get(token) {
            return fresh(*exp).then(|| caller.clone());
        }
        let (caller, exp) = self.older.remove(token)?;
        if !fresh(exp) {
            return None;
        }
        self.remember(token.to_string(), caller.clone(), exp);
        Some(caller)
    }

    fn remember(&mut self, token: String, caller: Caller, exp: i64) {
        if self.tokens.len() >= RECENT_HELD {
            self.older = std::mem::take(&mut self.tokens);
        }
        self.tokens.insert(token, (caller, exp));
    }
}

/// Verified tokens remembered in `Verified::tokens`; `older` holds at most
/// as many again: 16,384 tokens, about 10-15 MB at most (a token and its
/// caller take 0.5-0.9 KB).
const RECENT_HELD: usize = 8192;
/// Seconds a token's `exp` and `nbf` may be off (the validation's leeway).
const LEEWAY_SECS: u64 = 30;

enum Keys {
    Fixed(DecodingKey, Validation),
    Set {
        source: JwksSource,
        template: Validation,
        current: RwLock<Arc<KeySet>>,
    },
}

impl Verifier {
    /// The verifier of `source`'s tokens; a key set is read (or fetched)
    /// now, so one that cannot be stops the server before it listens.
    pub async fn load(
        source: &KeySource,
        issuer: &str,
        audience: &str,
    ) -> anyhow::Result<Verifier> {
        let template = |alg| {
            let mut validation = Validation::new(alg);
            validation.set_issuer(&[issuer]);
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECS;
            validation
        };
        let keys = match source {
            KeySource::Secret(s) => {
                Keys::Fixed(DecodingKey::from_secret(s), template(Algorithm::HS256))
            }
            KeySource::PublicKeyPem { algorithm, pem } => {
                let key = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(pem)?,
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(pem)?,
                    other => anyhow::bail!(
                        "unsupported JWT algorithm {other:?}: use HS256, RS256 or EdDSA"
                    ),
                };
                Keys::Fixed(key, template(*algorithm))
            }
            KeySource::Jwks { source: jwks, .. } => {
                let template = template(Algorithm::RS256);
                let set = jwks.load(&template).await?;
                Keys::Set {
                    source: jwks.clone(),
                    template,
                    current: RwLock::new(Arc::new(set)),
                }
            }
        };
        Ok(Verifier {
            keys,
            verified: Mutex::default(),
        })
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, Verified> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the key set again; Ok(number of keys). On failure the keys in
    /// use stay. A no-op for fixed keys.
    pub async fn refresh(&self) -> anyhow::Result<usize> {
        let Keys::Set {
            source,
            template,
            current,
        } = &self.keys
        else {
            return Ok(1);
        };
        let set = source.load(template).await?;
        let n = set.len();
        let mut verified = self.verified();
        *current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        verified.generation += 1;
        verified.tokens.clear();
        verified.older.clear();
        Ok(n)
    }

    /// Check a bearer token and turn it into the caller it names.
    pub fn verify(&self, token: &str) -> AppResult<Caller> {
        let now = jsonwebtoken::get_current_timestamp();
        let generation = {
            let mut verified = self.verified();
            if let Some(caller) = verified.recall(token, now) {
                return Ok(caller);
            }
            verified.generation
        };
        let (caller, exp) = self.decode(token)?;
        let mut verified = self.verified();
        if verified.generation == generation {
            verified.remember(token.to_string(), caller.clone(), exp);
        }
        Ok(caller)
    }

    /// Verify every claim of `token`: the caller and the token's `exp`.
    fn decode(&self, token: &str) -> AppResult<(Caller, i64)> {
        let set;
        let (key, validation) = match &self.keys {
            Keys::Fixed(key, validation) => (key, validation),
            Keys::Set { current, .. } => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| {
                    AppError::unauthenticated(
                        reason::TOKEN_INVALID,
                        "the token is not a well-formed JWT",
                    )
                })?;
                set = current.read().unwrap_or_else(|e| e.into_inner()).clone();
                let Some((key, validation)) = set.key(header.kid.as_deref()) else {
                    return Err(AppError::unauthenticated(
                        reason::TOKEN_INVALID,
                        "the token is signed with a key the identity provider does not publish",
                    ));
                };
                (key, validation)
            }
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    AppError::unauthenticated(reason::TOKEN_EXPIRED, "the token has expired")
                }
                ErrorKind::ImmatureSignature => {
                    AppError::unauthenticated(reason::TOKEN_INVALID, "the token is not valid yet")
                }
                // One plain sentence each; never the parser's own text.
                kind => AppError::unauthenticated(reason::TOKEN_INVALID, token_problem(kind)),
            })?;
        let c = data.claims;
        if c.sub.trim().is_empty() || c.unit.trim().is_empty() {
            return Err(AppError::unauthenticated(
                reason::TOKEN_INVALID,
                "the token must name a subject and a unit",
            ));
        }
        let mut roles = Vec::new();
        for r in &c.roles {
            match Role::parse(r) {
                Some(role) if !roles.contains(&role) => roles.push(role),
                Some(_) => {}
                None => {
                    return Err(AppError::unauthenticated(
                        reason::TOKEN_INVALID,
                        format!("unknown role {} in token", crate::error::echo(r)),
                    ));
                }
            }
        }
        if roles.is_empty() {
            return Err(AppError::unauthenticated(
                reason::TOKEN_INVALID,
                "the token carries no role",
            ));
        }
        let caller = Caller {
            sub: c.sub,
            roles,
            unit: c.unit,
        };
        Ok((caller, c.exp))
    }
}

/// What is wrong with a token that did not verify, in one sentence.
fn token_problem(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature => "the token's signature does not match",
        ErrorKind::InvalidIssuer => "the token was issued by someone else",
        ErrorKind::InvalidAudience => "the token is meant for another service",
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
            "the token is signed with an algorithm this server does not accept"
        }
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp, iss, aud)",
        ErrorKind::InvalidClaimFormat(_) | ErrorKind::Json(_) => {
            "the token's claims are not what this server expects"
        }
        _ => "the token is not a well-formed JWT",
    }
}

/// Signs tokens with the HS256 secret (the `token` command and tests).
pub struct Issuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl Issuer {
    pub fn new(secret: &[u8], issuer: &str, audience: &str) -> Issuer {
        Issuer {
            key: EncodingKey::from_secret(secret),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        }
    }

    pub fn issue(
        &self,
        sub: &str,
        roles: &[Role],
        unit: &str,
        ttl: chrono::Duration,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            unit: unit.to_string(),
            exp: now + ttl.num_seconds(),
            nbf: Some(now - 5),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        self.sign(&claims)
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.key,
        )?)
    }
}

pub fn secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join("jwt-secret")
}

/// The secret the server generated into `data_dir`, if there is one.
pub fn load_secret(data_dir: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    let path = secret_path(data_dir);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let secret = text.trim().as_bytes().to_vec();
    anyhow::ensure!(
        secret.len() >= 32,
        "{} is shorter than 32 bytes",
        path.display()
    );
    Ok(Some(secret))
}

/// The HS256 secret kept in the data directory, created (mode 0600) if absent.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use rand::RngCore;
    let path = secret_path(data_dir);
    if let Some(secret) = load_secret(data_dir)? {
        return Ok(secret);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, secret.as_bytes())?;
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Issuer, Verifier) {
        let secret = b"0123456789abcdef0123456789abcdef";
        (
            Issuer::new(secret, "fieldops", "fieldops"),
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(Verifier::load(
                    &KeySource::Secret(secret.to_vec()),
                    "fieldops",
                    "fieldops",
                ))
                .unwrap(),
        )
    }

    /// d1, a dispatcher of the north unit, for an hour.
    fn dispatcher_token(i: &Issuer) -> String {
        i.issue(
            "d1",
            &[Role::Dispatcher],
            "north",
            chrono::Duration::hours(1),
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let (i, v) = pair();
        let t = dispatcher_token(&i);
        let c = v.verify(&t).unwrap();
        assert_eq!(c.sub, "d1");
        assert_eq!(c.roles, vec![Role::Dispatcher]);
    }

    /// A verified token is remembered until its `exp` (plus the leeway),
    /// then checked in full again. The remembered caller is swapped for
    /// another here, so the answer tells which way it was read.
    #[test]
    fn a_remembered_token_is_checked_again_once_expired() {
        let (i, v) = pair();
        let t = dispatcher_token(&i);
        v.verify(&t).unwrap();
        let remember = |exp: i64| {
            let other = Caller {
                sub: "remembered".into(),
                roles: vec![Role::Dispatcher],
                unit: "north".into(),
            };
            v.verified().tokens.insert(t.clone(), (other, exp));
        };
        let now = chrono::Utc::now().timestamp();
        // Within the leeway (a second to spare for the clock's tick).
        remember(now - LEEWAY_SECS as i64 + 1);
        assert_eq!(v.verify(&t).unwrap().sub, "remembered");
        // Past it: decoded again.
        remember(now - LEEWAY_SECS as i64 - 2);
        assert_eq!(v.verify(&t).unwrap().sub, "d1");
    }

    /// A token in use stays remembered when the cache turns over: the
    /// tokens remembered before the turnover are still found (and kept), only
    /// those unused since the turnover before are forgotten, and no more
    /// than twice `RECENT_HELD` are held.
    #[test]
    fn a_token_in_use_survives_the_cache_turning_over() {
        let (i, v) = pair();
        let t = dispatcher_token(&i);
        v.verify(&t).unwrap();
        let exp = chrono::Utc::now().timestamp() + 3600;
        let filler = |n: usize, tag: &str| {
            let mut verified = v.verified();
            for k in 0..n {
                let caller = Caller {
                    sub: format!("{tag}{k}"),
                    roles: vec![Role::Dispatcher],
                    unit: "north".into(),
                };
                verified.tokens.insert(format!("{tag}{k}"), (caller, exp));
            }
        };
        // `tokens` is full: the next token remembered sets it aside.
        filler(RECENT_HELD - 1, "a");
        let token_of = |sub: &str| {
            i.issue(
                sub,
                &[Role::Dispatcher],
                "north",
                chrono::Duration::hours(1),
            )
            .unwrap()
        };
        v.verify(&token_of("d2")).unwrap();
        {
            let mut verified = v.verified();
            assert_eq!(verified.tokens.len(), 1, "turned over");
            // Swapped, so the answer tells whether it was remembered.
            verified.older.get_mut(&t).unwrap().0.sub = "remembered".into();
        }
        assert_eq!(v.verify(&t).unwrap().sub, "remembered");
        // Used, so it is among the recent tokens: a second turnover keeps it
        // and forgets the filler nobody used.
        filler(RECENT_HELD - 2, "b");
        v.verify(&token_of("d3")).unwrap();
        assert_eq!(v.verify(&t).unwrap().sub, "remembered");
        let verified = v.verified();
        assert!(!verified.older.contains_key("a0") && !verified.tokens.contains_key("a0"));
        assert!(verified.tokens.len() + verified.older.len() <= 2 * RECENT_HELD);
    }

    #[test]
    fn rejects_wrong_audience_issuer_and_missing_role() {
        let (_, v) = pair();
        let now = chrono::Utc::now().timestamp();
        let base = Claims {
            sub: "d1".into(),
            roles: vec!["dispatcher".into()],
            unit: "north".into(),
            exp: now + 600,
            nbf: None,
            iat: None,
            iss: "fieldops".into(),
            aud: "fieldops".into(),
        };
        let i = Issuer::new(b"0123456789abcdef0123456789abcdef", "x", "y");
        for claims in [
            Claims {
                aud: "other".into(),
                ..base.clone()
            },
            Claims {
                iss: "other".into(),
                ..base.clone()
            },
            Claims {
                roles: vec![],
                ..base.clone()
            },
            Claims {
                roles: vec!["king".into()],
                ..base.clone()
            },
            Claims {
                unit: "".into(),
                ..base.clone()
            },
            Claims {
                exp: now - 3600,
                ..base.clone()
            },
            Claims {
                nbf: Some(now + 3600),
                ..base.clone()
            },
        ] {
            let t = i.sign(&claims).unwrap();
            assert!(v.verify(&t).is_err(), "{claims:?}");
        }
        assert!(v.verify(&i.sign(&base).unwrap()).is_ok());
    }

    #[test]
    fn secret_file_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("fieldops-secret-{}", uuid::Uuid::new_v4()));
        let a = load_or_create_secret(&dir).unwrap();
        let b = load_or_create_secret(&dir).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(secret_path(&dir))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
