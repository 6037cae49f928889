//! The bearer-token interceptor: every call to our services must carry
//! `authorization: Bearer <JWT>`; the verified caller travels in the
//! request's extensions. Health and reflection are not intercepted.
use crate::auth::Verifier;
use crate::domain::Caller;
use crate::error::{AppError, reason};
use std::sync::Arc;
use tonic::{Request, Status};

#[derive(Clone)]
pub struct AuthInterceptor {
    verifier: Arc<Verifier>,
}

impl AuthInterceptor {
    pub fn new(verifier: Arc<Verifier>) -> AuthInterceptor {
        AuthInterceptor { verifier }
    }
}

impl tonic::service::Interceptor for AuthInterceptor {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let header = req.metadata().get("authorization").ok_or_else(|| {
            AppError::unauthenticated(reason::UNAUTHENTICATED, "missing authorization metadata")
        })?;
        let value = header.to_str().map_err(|_| {
            AppError::unauthenticated(reason::TOKEN_INVALID, "authorization is not valid text")
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::unauthenticated(
                    reason::TOKEN_INVALID,
                    "authorization must be `Bearer <token>`",
                )
            })?;
        let caller = self.verifier.verify(token.trim())?;
        super::guard::note_caller(&caller);
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The verified caller of a request that passed the interceptor.
pub fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| {
        AppError::unauthenticated(reason::UNAUTHENTICATED, "no verified caller").into()
    })
}
