//! auth-service's OpenAPI 3.1 document: the answers only this service gives, and the client
//! authentication scheme of its OAuth endpoints.
//!
//! The statuses every service answers alike (`BadRequest`, `Unauthorized`, `Forbidden`,
//! `NotFound`, `PayloadTooLarge`, `UnsupportedMediaType`, `UnprocessableEntity`,
//! `InternalError`, `Unavailable`) are the kit's (`service_kit::http::openapi`); the types
//! here document what [`ApiError`](super::error::ApiError) adds: wrong credentials, throttling,
//! the RFC 6749 §5.2 codes, DPoP nonces and conflicts.

use std::collections::BTreeMap;

use service_kit::http::{
    error::ErrorBody,
    openapi::{error_response, single, validation_example},
};
use utoipa::{
    IntoResponses, Modify,
    openapi::{
        OpenApi, RefOr,
        response::Response as ResponseDoc,
        schema::{AdditionalProperties, ObjectBuilder, Schema, Type},
        security::{ClientCredentials, Flow, Http, HttpAuthScheme, OAuth2, Scopes, SecurityScheme},
    },
};

/// Name of the security scheme of confidential clients at the OAuth endpoints: HTTP Basic
/// with the client id and secret (`client_secret_basic`, RFC 6749 §2.3.1).
pub const CLIENT_BASIC: &str = "clientBasic";

/// Tag of the OAuth 2.0 endpoints.
pub const OAUTH_TAG: &str = "oauth";

/// The challenge of a refused login.
///
/// A login is not HTTP authentication, so no registered scheme applies; RFC 9110 §11.6.1 still asks every 401 for one, and this names how to
/// authenticate instead (not `Basic`, which would make browsers prompt for a password).
pub const LOGIN_CHALLENGE: &str = r#"Login realm="auth-service", login_uri="/v1/login""#;

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

const WWW_AUTHENTICATE: &str = "WWW-Authenticate";
const RETRY_AFTER: &str = "Retry-After";
const DPOP_NONCE: &str = "DPoP-Nonce";

fn body(error: &str, description: &str) -> ErrorBody {
    ErrorBody::new(error, description)
}

/// Declares a unit struct documenting one status through `$build`.
macro_rules! documented_status {
    ($(#[$doc:meta])* $name:ident, $status:literal, $build:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
                single($status, $build)
            }
        }
    };
}

documented_status!(
    /// 401 `invalid_credentials` of `POST /v1/login`.
    InvalidCredentials,
    401,
    error_response(
        "The email or password is wrong, or there is no such account: one answer for all, after the same work.",
        &[(WWW_AUTHENTICATE, "`Login realm=\"auth-service\", login_uri=\"/v1/login\"`.")],
        &[("invalid_credentials", body("invalid_credentials", "the email or password is wrong"))],
    )
);

documented_status!(
    /// 429 `too_many_requests` with `Retry-After`: failed logins or registrations.
    TooManyRequests,
    429,
    error_response(
        "Too many failed logins for the account or from the client address, or too many registrations from \
         the address; even the right password is refused until `Retry-After` seconds have passed.",
        &[(RETRY_AFTER, "Seconds until a retry can succeed.")],
        &[("failed_logins", body("too_many_requests", "too many failed logins; retry in 60 s"))],
    )
);

documented_status!(
    /// 409 `conflict`: the email is taken, or a key rotation raced another.
    Conflict,
    409,
    error_response(
        "The request conflicts with the current state: an account with this email exists, or another \
         rotation is in progress.",
        &[],
        &[("email_taken", body("conflict", "an account with this email already exists"))],
    )
);

documented_status!(
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

documented_status!(
    /// 422 of `POST /v1/login`: an empty field, or cookie delivery for a DPoP-bound session.
    LoginRejected,
    422,
    error_response(
        "The body is JSON of the wrong shape, a field is empty, or cookie delivery was asked for a DPoP-bound \
         session: `details` names each field.",
        &[],
        &[validation_example()],
    )
);

documented_status!(
    /// 400 at the OAuth endpoints: the RFC 6749 §5.2 codes (and RFC 8707's, RFC 9449's).
    OAuthBadRequest,
    400,
    error_response(
        "An RFC 6749 §5.2 error: `invalid_request` (a parameter missing, repeated or malformed), `invalid_grant` \
         (the refresh token is unknown, expired, spent or its session ended), `unauthorized_client`, \
         `unsupported_grant_type`, `invalid_scope`, `invalid_target` (RFC 8707), `invalid_dpop_proof` or \
         `use_dpop_nonce` (RFC 9449, with `DPoP-Nonce`).",
        &[
            (DPOP_NONCE, "With `use_dpop_nonce`: the nonce to put in the next proof."),
            ("Pragma", "`no-cache`."),
        ],
        &[
            ("invalid_request", body("invalid_request", "`grant_type` is required")),
            ("invalid_grant", body("invalid_grant", "the refresh token is unknown")),
            ("unsupported_grant_type", body("unsupported_grant_type", "grant type `password` is not supported")),
            ("invalid_scope", body("invalid_scope", "scope `admin` is not allowed for client `c`")),
        ],
    )
);

documented_status!(
    /// 401 `invalid_client` with a `Basic` challenge (RFC 6749 §5.2).
    InvalidClient,
    401,
    error_response(
        "Client authentication failed: malformed or wrong Basic credentials, a secret in the form, or none \
         where the operation needs them.",
        &[(WWW_AUTHENTICATE, "`Basic realm=\"auth-service\", charset=\"UTF-8\"`."), ("Pragma", "`no-cache`.")],
        &[("invalid_client", body("invalid_client", "client authentication failed"))],
    )
);
