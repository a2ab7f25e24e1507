//! `POST /v1/users`: registration.
//!
//! Registrations are throttled per client address with the login throttle's table and
//! window (bucket `register:<address>`): each attempt that passes validation is reserved
//! before its password is hashed, a taken email included (it cost a hash, and it tells the
//! caller the email exists). A request the password hasher has no room for gets 503 and its
//! reservation back.

use std::net::IpAddr;

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use service_kit::{
    db::now_millis,
    http::{
        error::FieldError,
        json::AppJson,
        openapi::{BadRequest, InternalError, PayloadTooLarge, Unavailable, UnprocessableEntity, UnsupportedMediaType},
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ClientAddr,
    error::{ApiError, Result},
    openapi::{EmailTaken, TooManyRegistrations},
    rfc3339,
    sessions::{client_key, window_ms},
};
use crate::{
    db::{self, InsertUserError, Reservation, UserRow},
    domain::{Email, Password},
    passwords::HashError,
    state::AppState,
};

/// Tag of the account operations.
pub(super) const TAG: &str = "users";

/// Routes of this module, each with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_user))
}

/// Body of `POST /v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct horse battery"}))]
struct CreateUser {
    /// `local@domain.tld` in printable ASCII (at most 254 characters, a local part of at most 64),
    /// compared without case and surrounding spaces.
    // Stricter than `Email::parse` only where a pattern cannot count (a local part of at most
    // 64 characters is written as at most three dot-separated atoms of 32, 15 and 15) and in
    // the top-level label, which must start with a letter: whatever matches is accepted.
    #[schema(
        max_length = 254,
        pattern = r"^[ \t\r\n]*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9]{0,62}[ \t\r\n]*$"
    )]
    email: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
}

/// The parsed request: every field problem is reported at once.
struct NewUser {
    email: Email,
    password: Password,
}

impl TryFrom<CreateUser> for NewUser {
    type Error = ApiError;

    fn try_from(body: CreateUser) -> Result<Self> {
        let email = Email::parse(&body.email);
        let password = Password::parse(body.password);
        match (email, password) {
            (Ok(email), Ok(password)) => Ok(Self { email, password }),
            (email, password) => {
                let mut details = Vec::new();
                if let Err(error) = email {
                    details.push(FieldError::new("email", error.to_string()));
                }
                if let Err(error) = password {
                    details.push(FieldError::new("password", error.to_string()));
                }
                Err(ApiError::validation(details))
            }
        }
    }
}

/// A new account.
#[derive(Serialize, ToSchema)]
struct CreatedUser {
    /// The user's id (a UUID), the `sub` of their tokens.
    id: String,
    /// The email as stored: trimmed and lowercase.
    email: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    created_at: String,
}

/// Reserves a registration from `client` (none when its address is unknown): the bucket and
/// the anchor to give it back with.
async fn reserve_registration(state: &AppState, client: Option<IpAddr>) -> Result<Option<(String, i64)>> {
    let Some(ip) = client else { return Ok(None) };
    let login = &state.settings.login;
    let bucket = format!("register:{}", client_key(ip));
    let max = login.max_registrations_per_address;
    match db::reserve_attempt(&state.db, &bucket, max, now_millis(), window_ms(login)).await? {
        Reservation::Granted { anchor } => Ok(Some((bucket, anchor))),
        Reservation::Refused { retry_after_secs } => {
            metrics::counter!("auth_registrations_throttled_total").increment(1);
            tracing::info!(retry_after_secs, "registration refused: too many from this address");
            Err(ApiError::Throttled { what: "registrations from this address", retry_after_secs })
        }
    }
}

/// Creates an account: 201, 409 when the (normalised) email is taken, 422 for a bad email
/// or a password outside 8–128 characters, 429 past the address's registrations, 503 when
/// password hashing is at capacity.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = TAG,
    request_body(content = CreateUser, content_type = "application/json"),
    responses(
        (status = 201, description = "The account was created.", body = CreatedUser),
        BadRequest, EmailTaken, PayloadTooLarge, UnsupportedMediaType, UnprocessableEntity,
        TooManyRegistrations, InternalError, Unavailable,
    )
)]
async fn create_user(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    AppJson(body): AppJson<CreateUser>,
) -> Result<(StatusCode, AppJson<CreatedUser>)> {
    let new_user = NewUser::try_from(body)?;
    let reserved = reserve_registration(&state, client).await?;
    let password_hash = match state.passwords.hash(&new_user.password).await {
        Ok(hash) => hash,
        Err(HashError::Busy) => {
            if let Some((bucket, anchor)) = &reserved {
                db::release_attempt(&state.db, bucket, *anchor).await?;
            }
            return Err(ApiError::HasherBusy);
        }
        Err(error) => return Err(error.into()),
    };
    let user = UserRow::new(&new_user.email, password_hash, db::ROLE_USER);
    db::insert_user(&state.db, &user).await.map_err(|error| match error {
        InsertUserError::EmailTaken => ApiError::conflict("an account with this email already exists"),
        InsertUserError::Database(error) => error.into(),
    })?;
    tracing::info!(user.id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        AppJson(CreatedUser { id: user.id, email: user.email, created_at: rfc3339(user.created_at) }),
    ))
}
