//! Accounts the operator provisions: administrators.
//!
//! Registration proves nothing about an email address, so a role that grants power over other
//! users can never follow from one (whoever registers a listed address first would hold it).
//! `auth-service create-admin --email <address>` creates a new account with role `admin`
//! straight in the database; it refuses an address that is already registered, so an account
//! someone squatted is reported, not promoted.

use anyhow::Context;
use service_kit::db::Pool;

use crate::{
    db::{self, InsertUserError, ROLE_ADMIN, UserRow},
    domain::{Email, Password},
    passwords::PasswordHasher,
};

/// Why no administrator was created.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The email or password breaks the registration rules.
    #[error("{0}")]
    Invalid(String),
    /// The address already has an account, which this command never promotes.
    #[error("an account with this email already exists; it was not made an administrator")]
    EmailTaken,
    /// Hashing or the database failed.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Creates an administrator account; returns its user id.
///
/// # Errors
/// [`ProvisionError`].
pub async fn create_admin(
    pool: &Pool,
    hasher: &PasswordHasher,
    email: &str,
    password: String,
) -> Result<String, ProvisionError> {
    let email = Email::parse(email).map_err(|error| ProvisionError::Invalid(format!("email {}", error.0)))?;
    let password =
        Password::parse(password).map_err(|error| ProvisionError::Invalid(format!("password {}", error.0)))?;
    let password_hash = hasher.hash(&password).await.context("cannot hash the password")?;
    let user = UserRow::new(&email, password_hash, ROLE_ADMIN);
    db::insert_user(pool, &user).await.map_err(|error| match error {
        InsertUserError::EmailTaken => ProvisionError::EmailTaken,
        InsertUserError::Database(error) => ProvisionError::Internal(anyhow::Error::new(error)),
    })?;
    tracing::warn!(user.id = %user.id, "administrator provisioned");
    Ok(user.id)
}
