//! `POST /v1/users`: registration.
//!
//! Registrations are throttled per client address with the login throttle's table and
//! window (bucket `register:<address>`): each attempt that passes validation is reserved
//! before its password is hashed, a taken email included (it cost a hash, and it tells the
//! caller the email exists). A request the password hasher has no room for gets 503 and its
//! reservation back.

use std::net::IpAddr;

use axum::{Router, extract::State, http::StatusCode, routing::post};
use serde::{Deserialize, Serialize};
use service_kit::{
    db::now_millis,
    http::{error::FieldError, json::AppJson},
};

use super::{
    ClientAddr,
    error::{ApiError, Result},
    rfc3339,
    sessions::{client_key, window_ms},
};
use crate::{
    db::{self, InsertUserError, Reservation, UserRow},
    domain::{Email, Password},
    passwords::HashError,
    state::AppState,
};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/users", post(create_user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
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

#[derive(Serialize)]
struct CreatedUser {
    id: String,
    email: String,
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
