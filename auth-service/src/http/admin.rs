//! Administration, for [`Admin`] callers only.
//!
//! `GET /v1/admin/keys` lists the keys and the schedule, `POST /v1/admin/keys/rotate[?emergency=true]`
//! rotates on demand, `DELETE /v1/admin/users/{user_id}/sessions` ends every session of a user.
//!
//! The issuer is the one service that can read its own state, so it does not take an admin
//! token's word for it: the session must still be live and the account still an
//! administrator. A logged-out administrator's token, or one that outlived a demotion, keeps
//! nothing here until it expires.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use http::request::Parts;
use jwt_verifier::{Caller, RequireScope};
use serde::Serialize;
use service_kit::{
    db::now_millis,
    http::{
        error::CommonError,
        openapi::{BadRequest, Forbidden, InternalError, NotFound, Unauthorized, Unavailable},
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    error::{ApiError, Result},
    openapi::RotationConflict,
    rfc3339,
};
use crate::{
    db,
    domain::UserId,
    events::SessionEnd,
    keys::{RotationOutcome, lifecycle, store::KeyRow},
    revocation,
    state::AppState,
};

jwt_verifier::scope!(AuthAdmin, "auth:admin");

/// An administrator acting now: a token with `auth:admin` and role `admin`, from a session
/// that is still live, of an account that is still an administrator.
pub struct Admin(pub Arc<Caller>);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let RequireScope(caller, ..) =
            RequireScope::<AuthAdmin>::from_request_parts(parts, state).await.map_err(ApiError::from)?;
        let session = super::sessions::current_session(state, &caller).await?;
        let still_admin = caller.is_admin()
            && db::find_user(&state.db, &session.user_id).await?.is_some_and(|user| user.role == db::ROLE_ADMIN);
        if !still_admin {
            return Err(ApiError::Forbidden("this endpoint is for administrators"));
        }
        Ok(Self(caller))
    }
}

/// Tag of the administration operations.
const TAG: &str = "admin";

/// Routes of this module, each with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_keys)).routes(routes!(rotate_keys)).routes(routes!(end_user_sessions))
}

/// Ends every session of a user, one security event each (initiated by `admin`): 204, or 404
/// for an unknown user.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{user_id}/sessions",
    tag = TAG,
    security(("bearerAuth" = ["auth:admin"])),
    params(("user_id" = String, Path, description = "The user's id.")),
    responses(
        (status = 204, description = "Every session of the user has ended."),
        BadRequest, Unauthorized, Forbidden, NotFound, InternalError, Unavailable,
    )
)]
async fn end_user_sessions(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(user_id): Path<String>,
) -> Result<Response> {
    let not_found = || ApiError::not_found("no such user");
    let user_id = UserId::parse(&user_id).map_err(|_| not_found())?.to_string();
    db::find_user(&state.db, &user_id).await?.ok_or_else(not_found)?;
    let ended = revocation::end_user_sessions(&state, &user_id, SessionEnd::Admin).await?;
    tracing::warn!(admin.id = %caller.subject, user.id = %user_id, sessions = ended.len(), "admin ended a user's sessions");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One key as the admin listing and the public key states show it (no key material).
#[derive(Serialize, ToSchema)]
pub(super) struct KeyView {
    kid: String,
    /// `pending`, `active`, `retired` or `removed`.
    #[schema(value_type = String)]
    state: &'static str,
    bits: i64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    activate_after: String,
    #[schema(format = DateTime)]
    activated_at: Option<String>,
    #[schema(format = DateTime)]
    retired_at: Option<String>,
    #[schema(format = DateTime)]
    remove_after: Option<String>,
    #[schema(format = DateTime)]
    removed_at: Option<String>,
}

impl From<&KeyRow> for KeyView {
    fn from(key: &KeyRow) -> Self {
        Self {
            kid: key.kid.clone(),
            state: key.state.as_str(),
            bits: key.bits,
            created_at: rfc3339(key.created_at),
            activate_after: rfc3339(key.activate_after),
            activated_at: key.activated_at.map(rfc3339),
            retired_at: key.retired_at.map(rfc3339),
            remove_after: key.remove_after.map(rfc3339),
            removed_at: key.removed_at.map(rfc3339),
        }
    }
}

/// Keys with their states, and the schedule: every key ever created in the admin listing,
/// the published ones in `GET /v1/keys`.
#[derive(Serialize, ToSchema)]
pub(super) struct KeysReport {
    pub(super) keys: Vec<KeyView>,
    /// The `max-age` the JWKS is served with now, in seconds.
    pub(super) jwks_max_age: u64,
    #[schema(format = DateTime)]
    pub(super) next_rotation_at: Option<String>,
}

async fn report(state: &AppState) -> Result<KeysReport> {
    let keys = state.keys.list_all().await?;
    let ring = state.keys.ring();
    Ok(KeysReport {
        keys: keys.iter().map(KeyView::from).collect(),
        jwks_max_age: state.keys.jwks_max_age(now_millis()),
        next_rotation_at: lifecycle::next_rotation_at(&ring.keys, state.keys.schedule()).map(rfc3339),
    })
}

/// Every key ever created (newest first, no private material) and the schedule.
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    tag = TAG,
    security(("bearerAuth" = ["auth:admin"])),
    responses(
        (status = 200, description = "Every key and the schedule.", body = KeysReport),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
async fn list_keys(State(state): State<AppState>, Admin(caller): Admin) -> Result<axum::Json<KeysReport>> {
    tracing::debug!(user.id = %caller.subject, "key listing");
    Ok(axum::Json(report(&state).await?))
}

/// What a rotation did, and the keys after it.
#[derive(Serialize, ToSchema)]
struct RotationReport {
    rotation: RotationOutcome,
    #[serde(flatten)]
    keys: KeysReport,
}

/// Rotates now. Normal: publishes a successor that signs after the pre-publication time.
/// `emergency=true`: the new key signs at once and the old one is removed at once.
#[utoipa::path(
    post,
    path = "/v1/admin/keys/rotate",
    tag = TAG,
    security(("bearerAuth" = ["auth:admin"])),
    params(("emergency" = Option<bool>, Query,
        description = "`true`: the new key signs at once and the old one is removed at once (after a key leak).")),
    responses(
        (status = 200, description = "The rotation, and every key after it.", body = RotationReport),
        BadRequest, Unauthorized, Forbidden, RotationConflict, InternalError, Unavailable,
    )
)]
async fn rotate_keys(
    State(state): State<AppState>,
    Admin(caller): Admin,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<RotationReport>> {
    let emergency = parse_emergency(query.as_deref())?;
    tracing::warn!(user.id = %caller.subject, emergency, "key rotation requested");
    let rotation = state.keys.rotate(emergency).await?;
    Ok(axum::Json(RotationReport { rotation, keys: report(&state).await? }))
}

/// `emergency=true|false` (also 1/0, yes/no); nothing else is accepted.
fn parse_emergency(query: Option<&str>) -> Result<bool> {
    let mut emergency = false;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "emergency" => {
                emergency = service_kit::config::parse_bool(&value)
                    .map_err(|_| CommonError::invalid_parameter("emergency", "must be true or false"))?;
            }
            other => {
                let field = service_kit::text::clip(other, 64);
                return Err(CommonError::invalid_parameter(&field, "unknown query parameter").into());
            }
        }
    }
    Ok(emergency)
}

#[cfg(test)]
mod tests {
    use super::parse_emergency;

    #[test]
    fn emergency_flag_parses_strictly() {
        assert!(!parse_emergency(None).unwrap());
        assert!(parse_emergency(Some("emergency=true")).unwrap());
        assert!(!parse_emergency(Some("emergency=0")).unwrap());
        assert!(parse_emergency(Some("emergency=maybe")).is_err());
        assert!(parse_emergency(Some("force=1")).is_err());
    }
}
