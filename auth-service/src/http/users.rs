//! `POST /v1/users`: registration.

use axum::{Router, extract::State, http::StatusCode, routing::post};
use serde::{Deserialize, Serialize};
use service_kit::{
    db::now_millis,
    http::{error::FieldError, json::AppJson},
};

use super::{
    error::{ApiError, Result},
    rfc3339,
};
use crate::{
    db::{self, InsertUserError, UserRow},
    domain::{Email, Password, UserId},
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

/// Creates an account: 201, 409 when the (normalised) email is taken, 422 for a bad email
/// or a password outside 8–128 characters.
async fn create_user(
    State(state): State<AppState>,
    AppJson(body): AppJson<CreateUser>,
) -> Result<(StatusCode, AppJson<CreatedUser>)> {
    let new_user = NewUser::try_from(body)?;
    let password_hash = state.passwords.hash(&new_user.password).await?;
    let user = UserRow {
        id: UserId::new().to_string(),
        email: new_user.email.as_ref().to_owned(),
        password_hash,
        created_at: now_millis(),
    };
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
