//! auth-service's OpenAPI 3.1 document: the answers only this service gives, and the client
//! authentication scheme of its OAuth endpoints.
//!
//! The statuses every service answers alike (`BadRequest`, `Unauthorized`, `Forbidden`,
//! `NotFound`, `PayloadTooLarge`, `UnsupportedMediaType`, `UnprocessableEntity`,
//! `InternalError`, `Unavailable`) are the kit's (`service_kit::http::openapi`); the types
//! here document what [`ApiError`](super::error::ApiError) adds: wrong credentials, throttling,
//! the RFC 6749 §5.2 codes, DPoP nonces and conflicts.

use service_kit::http::{
    error::{ErrorBody, FieldError},
    openapi::{RETRY_AFTER, WWW_AUTHENTICATE, error_response},
};
use utoipa::{
    Modify,
    openapi::{
        OpenApi, RefOr,
        schema::{AdditionalProperties, ObjectBuilder, Schema, Type},
        security::{ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Scopes, SecurityScheme},
    },
};

use super::error::{basic_challenge, login_challenge};

/// Name of the security scheme of confidential clients at the OAuth endpoints: HTTP Basic
/// with the client id and secret (`client_secret_basic`, RFC 6749 §2.3.1).
pub const CLIENT_BASIC: &str = "clientBasic";

/// Tag of the OAuth 2.0 endpoints.
pub const OAUTH_TAG: &str = "oauth";

/// The schemas of the OAuth forms, whose other parameters are ignored (RFC 6749 §3.1).
pub const FORMS: [&str; 2] = ["TokenForm", "TokenParameter"];

/// What auth-service's document adds to the kit's.
///
/// The [`CLIENT_BASIC`] and [`SERVICE_CLIENT`] schemes, and the rule of the OAuth [`FORMS`] that any other parameter is
/// one string (each parameter may appear at most once, RFC 6749 §3.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct OAuthSurface;

impl Modify for OAuthSurface {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in FORMS {
            if let Some(RefOr::T(Schema::Object(form))) = components.schemas.get_mut(name) {
                let scalar = ObjectBuilder::new().schema_type(Type::String).build();
                form.additional_properties =
                    Some(Box::new(AdditionalProperties::RefOr(RefOr::T(Schema::Object(scalar)))));
            }
        }
        let mut scheme = Http::new(HttpAuthScheme::Basic);
        scheme.description = Some(
            "A confidential client's id and secret, each form-encoded first (`client_secret_basic`, \
             RFC 6749 §2.3.1). Requests without it act for the public user client."
                .to_owned(),
        );
        components.add_security_scheme(CLIENT_BASIC, SecurityScheme::Http(scheme));
        // The flow a service client uses, so that generated clients know where tokens come from.
        let flow = Flow::ClientCredentials(ClientCredentials::new("/oauth/token", Scopes::new()));
        let mut oauth2 = OAuth2::new([flow]);
        oauth2.description = Some(
            "Service tokens: `client_credentials` at `/oauth/token` with `clientBasic`. The scopes a client may \
             ask for are configured per client (`AUTH_CLIENTS`)."
                .to_owned(),
        );
        components.add_security_scheme(SERVICE_CLIENT, SecurityScheme::OAuth2(oauth2));
    }
}

/// Name of the OAuth 2.0 scheme describing how service clients obtain tokens.
pub const SERVICE_CLIENT: &str = "serviceClient";

/// How RFC 9449 spells the nonce header (`jwt_verifier::dpop::DPOP_NONCE_HEADER` is its
/// lowercase wire form).
const DPOP_NONCE: &str = "DPoP-Nonce";

fn body(error: &str, description: &str) -> ErrorBody {
    ErrorBody::new(error, description)
}

/// A header's documentation: "`value`." for a header whose value is fixed.
fn exactly(value: &str) -> String {
    format!("`{value}`.")
}

service_kit::error_status!(
    /// 401 `invalid_credentials` of `POST /v1/login`.
    InvalidCredentials,
    401,
    error_response(
        "The email or password is wrong, or there is no such account: one answer for all, after the same work.",
        &[(WWW_AUTHENTICATE, &exactly(&login_challenge()))],
        &[("invalid_credentials", body("invalid_credentials", "the email or password is wrong"))],
    )
);

service_kit::error_status!(
    /// 429 `too_many_requests` of `POST /v1/login`, with `Retry-After`.
    TooManyLogins,
    429,
    error_response(
        "Too many failed logins for the account or from the client address: even the right password is \
         refused until `Retry-After` seconds have passed.",
        &[(RETRY_AFTER, "Seconds until a retry can succeed.")],
        &[("failed_logins", body("too_many_requests", "too many failed logins; retry in 60 s"))],
    )
);

service_kit::error_status!(
    /// 429 `too_many_requests` of `POST /v1/users`, with `Retry-After`.
    TooManyRegistrations,
    429,
    error_response(
        "Too many registrations from the client address; retry after `Retry-After` seconds.",
        &[(RETRY_AFTER, "Seconds until a retry can succeed.")],
        &[(
            "registrations",
            body("too_many_requests", "too many registrations from this address; retry in 900 s"),
        )],
    )
);

service_kit::error_status!(
    /// 409 `conflict` of `POST /v1/users`: the email is taken.
    EmailTaken,
    409,
    error_response(
        "An account with this email (trimmed, without case) exists.",
        &[],
        &[("email_taken", body("conflict", "an account with this email already exists"))],
    )
);

service_kit::error_status!(
    /// 409 `conflict` of a key rotation that raced another.
    RotationConflict,
    409,
    error_response(
        "Another rotation changed the keys at the same moment; read the keys and retry if still needed.",
        &[],
        &[("rotation_raced", body("conflict", "another rotation changed the keys at the same time; retry"))],
    )
);

service_kit::error_status!(
    /// 400 of `POST /v1/login`: a body that is not JSON, or a refused DPoP proof.
    LoginBadRequest,
    400,
    error_response(
        "The body is not JSON, the `DPoP` proof was refused (`invalid_dpop_proof`), or it needs the server's \
         nonce (`use_dpop_nonce`, with the nonce in `DPoP-Nonce`).",
        &[(DPOP_NONCE, "With `use_dpop_nonce`: the nonce to put in the next proof.")],
        &[
            ("invalid_json", body("invalid_json", "request body is not valid JSON: EOF while parsing an object")),
            ("invalid_dpop_proof", body("invalid_dpop_proof", "the DPoP proof is not a JWT")),
            ("use_dpop_nonce", body("use_dpop_nonce", "a DPoP nonce is required: retry with the one in DPoP-Nonce")),
        ],
    )
);

service_kit::error_status!(
    /// 422 of `POST /v1/login`: an empty field, or cookie delivery for a DPoP-bound session.
    LoginRejected,
    422,
    error_response(
        "The body is JSON of the wrong shape, a field is empty, or cookie delivery was asked for a DPoP-bound \
         session: `details` names each field.",
        &[],
        &[
            ("empty_field", ErrorBody::validation(vec![FieldError::new("password", "must not be empty")])),
            (
                "cookie_for_bound_session",
                ErrorBody::validation(vec![FieldError::new(
                    "token_delivery",
                    "a DPoP-bound session delivers its tokens in the body",
                )]),
            ),
        ],
    )
);

/// The 400 every OAuth endpoint answers to a body that is not a form.
fn not_a_form() -> (&'static str, ErrorBody) {
    ("not_a_form", body("invalid_request", "expected a body with Content-Type: application/x-www-form-urlencoded"))
}

/// The 400 every OAuth endpoint answers to a repeated parameter.
fn repeated() -> (&'static str, ErrorBody) {
    ("repeated_parameter", body("invalid_request", "parameter `token` is repeated"))
}

const PRAGMA: (&str, &str) = ("Pragma", "`no-cache`.");
const NONCE: (&str, &str) = (DPOP_NONCE, "With `use_dpop_nonce`: the nonce to put in the next proof.");

service_kit::error_status!(
    /// 400 of `POST /oauth/token`: the RFC 6749 §5.2 codes (and RFC 8707's, RFC 9449's).
    TokenBadRequest,
    400,
    error_response(
        "An RFC 6749 §5.2 error: `invalid_request` (not a form, or a parameter missing, repeated or malformed), \
         `invalid_grant` (the refresh token is unknown, expired, spent or its session ended), \
         `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, `invalid_target` (RFC 8707), \
         `invalid_dpop_proof` or `use_dpop_nonce` (RFC 9449, with `DPoP-Nonce`).",
        &[NONCE, PRAGMA],
        &[
            ("invalid_request", body("invalid_request", "`grant_type` is required")),
            not_a_form(),
            ("invalid_grant", body("invalid_grant", "the refresh token is unknown")),
            ("unsupported_grant_type", body("unsupported_grant_type", "grant type `password` is not supported")),
            ("invalid_scope", body("invalid_scope", "scope `admin` is not allowed for client `c`")),
        ],
    )
);

service_kit::error_status!(
    /// 400 of `POST /oauth/revoke`: a malformed request or a refused DPoP proof.
    RevokeBadRequest,
    400,
    error_response(
        "`invalid_request` (not a form, `token` missing, a parameter repeated), or a refused `DPoP` proof \
         (`invalid_dpop_proof`, or `use_dpop_nonce` with `DPoP-Nonce`). Never whether the token was known.",
        &[NONCE, PRAGMA],
        &[
            ("invalid_request", body("invalid_request", "`token` is required")),
            not_a_form(),
            repeated(),
            ("invalid_dpop_proof", body("invalid_dpop_proof", "the DPoP proof is not a JWT")),
        ],
    )
);

service_kit::error_status!(
    /// 400 of `POST /oauth/introspect`: a malformed request.
    IntrospectBadRequest,
    400,
    error_response(
        "`invalid_request`: not a form, `token` missing, or a parameter repeated.",
        &[PRAGMA],
        &[("invalid_request", body("invalid_request", "`token` is required")), not_a_form(), repeated()],
    )
);

service_kit::error_status!(
    /// 401 `invalid_client` with a `Basic` challenge (RFC 6749 §5.2).
    InvalidClient,
    401,
    error_response(
        "Client authentication failed: malformed or wrong Basic credentials, a secret in the form, or none \
         where the operation needs them.",
        &[(WWW_AUTHENTICATE, &exactly(&basic_challenge())), PRAGMA],
        &[("invalid_client", body("invalid_client", "client authentication failed"))],
    )
);
