//! The OpenAPI 3.1 pieces every documented service shares.
//!
//! The `bearerAuth` security scheme, the error responses of the one envelope ([`ErrorBody`])
//! for each status the kit and the verifier answer with, the `GET /openapi.json` route, and
//! [`finish`], which turns a service's `OpenApiRouter` into the axum router and the document
//! at once.
//!
//! A service registers each handler with `utoipa_axum::routes!`, so the route and its
//! operation come from one registration and cannot drift apart. Its handlers list their
//! responses as `(status = 200, body = …)` for success plus the types here for errors:
//!
//! ```ignore
//! #[utoipa::path(get, path = "/v1/things", security(("bearerAuth" = ["things:read"])),
//!     responses((status = 200, body = Thing), BadRequest, Unauthorized, Forbidden, Unavailable))]
//! ```
//!
//! Each error type documents one status with its `ErrorBody` schema, the headers that come
//! with it and an example per way the status arises. A service with an error of its own (a
//! 409, a 422 with its own code) writes its type beside its error enum with
//! [`error_response`].

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Extension, Router,
    handler::Handler,
    response::{IntoResponse, Response},
    routing::MethodRouter,
};
use http::{HeaderValue, header};
use serde_json::json;
use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{
        ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, RefOr, ResponseBuilder,
        example::ExampleBuilder,
        path::Paths,
        response::Response as ResponseDoc,
        schema::{ObjectBuilder, Type},
        security::{Http, HttpAuthScheme, SecurityScheme},
    },
};
use utoipa_axum::{PathItemExt as _, router::OpenApiRouter, routes};

use super::error::{ErrorBody, FieldError};

/// Name of the security scheme every authenticated operation requires: an RS256 JWT access
/// token in `Authorization: Bearer`.
pub const BEARER_AUTH: &str = "bearerAuth";

/// Tag of the operational endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`).
pub const OPERATIONS_TAG: &str = "operations";

/// Adds the [`BEARER_AUTH`] scheme (`http`, `bearer`, `bearerFormat: JWT`) to a document.
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some(
            "An RS256 access token from auth-service, verified locally against its JWKS. A token bound \
             to a key (`cnf.jkt`) must instead be sent as `Authorization: DPoP` with a proof."
                .to_owned(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER_AUTH, SecurityScheme::Http(scheme));
    }
}

/// The serialised document, handed to [`get_openapi`] as a request extension.
#[derive(Clone)]
struct Document(Arc<str>);

/// This service's OpenAPI 3.1 document (`GET /openapi.json`).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = OPERATIONS_TAG,
    responses((status = 200, description = "The OpenAPI 3.1 document of this service.", content_type = "application/json", body = Object))
)]
async fn get_openapi(Extension(Document(json)): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json.to_string()).into_response()
}

/// Completes a service's documented routes into its axum router and its document.
///
/// Adds `GET /openapi.json` (the router serves the document), names the service in `info`
/// (`title` = crate name, `version` = crate version), and adds the [`BEARER_AUTH`] scheme and
/// the error envelope's schemas.
///
/// Call it with `env!("CARGO_PKG_NAME")`, `env!("CARGO_PKG_VERSION")` and
/// `env!("CARGO_PKG_DESCRIPTION")` of the service's crate.
///
/// # Panics
/// If the document cannot be serialised (it is plain data, so this is a bug).
pub fn finish<S>(routes: OpenApiRouter<S>, title: &str, version: &str, description: &str) -> (Router<S>, OpenApi)
where
    S: Clone + Send + Sync + 'static,
{
    let (router, mut openapi) = routes.routes(routes!(get_openapi)).split_for_parts();
    openapi.info = InfoBuilder::new().title(title).version(version).description(Some(description)).build();
    BearerAuth.modify(&mut openapi);
    let components = openapi.components.get_or_insert_with(Default::default);
    let mut schemas = Vec::new();
    <ErrorBody as ToSchema>::schemas(&mut schemas);
    schemas.push((ErrorBody::name().into_owned(), ErrorBody::schema()));
    schemas.push((FieldError::name().into_owned(), FieldError::schema()));
    components.schemas.extend(schemas);
    let json = serde_json::to_string(&openapi).expect("an OpenAPI document serialises");
    (router.layer(Extension(Document(json.into()))), openapi)
}

/// Who a document describes: the name, version and description of the service's crate, as
/// [`this_crate!`](crate::this_crate) gives them.
#[derive(Debug, Clone, Copy)]
pub struct Crate {
    /// `info.title`.
    pub name: &'static str,
    /// `info.version`.
    pub version: &'static str,
    /// `info.description`.
    pub description: &'static str,
}

/// The [`Crate`] of the crate this is written in (its `Cargo.toml` name, version and
/// description).
#[macro_export]
macro_rules! this_crate {
    () => {
        $crate::http::openapi::Crate {
            name: env!("CARGO_PKG_NAME"),
            version: env!("CARGO_PKG_VERSION"),
            description: env!("CARGO_PKG_DESCRIPTION"),
        }
    };
}

/// The router and document of a resource server (a service that verifies tokens).
///
/// Its own `api` routes, the kit's health routes, its RFC 9728 metadata (for `verifier`'s
/// resource, listing `scopes`) and `/openapi.json`, through [`finish`].
pub fn resource_server<S: super::health::Readiness>(
    api: OpenApiRouter<S>,
    verifier: &jwt_verifier::VerifierConfig,
    scopes: &[&str],
    about: Crate,
) -> (Router<S>, OpenApi) {
    let routes = api
        .merge(super::health::openapi_router())
        .merge(super::protected_resource::openapi_router(verifier, about.name, scopes));
    finish(routes, about.name, about.version, about.description)
}

/// What `routes!` does, for a generic handler (`routes!` takes only a plain function name).
///
/// Returns the routed operation that `P` (the `__path_<handler>` type of `#[utoipa::path]`)
/// documents, served by `handler` on exactly the methods it names, such as a handler over the
/// service's state type. Schemas of its bodies are not collected: use inline schemas.
pub fn operation<P, H, T, S>(handler: H) -> utoipa_axum::router::UtoipaMethodRouter<S>
where
    // `Tags` is the hidden trait `routes!` itself reads the `tag = …` of `#[utoipa::path]` from.
    P: utoipa::Path + for<'t> utoipa::__dev::Tags<'t>,
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    let methods = P::methods();
    let router = methods
        .iter()
        .fold(MethodRouter::new(), |router, method| router.on(method.to_method_filter(), handler.clone()));
    let mut operation = P::operation();
    let tags = P::tags();
    if !tags.is_empty() {
        operation.tags.get_or_insert_with(Vec::new).extend(tags.iter().map(ToString::to_string));
    }
    let mut paths = Paths::new();
    paths.add_path_operation(P::path(), methods, operation);
    (Vec::new(), paths, router)
}

/// One documented error status: `description`, the `ErrorBody` schema, `headers` (name and
/// description) and one named example per way the status arises.
#[must_use]
pub fn error_response(description: &str, headers: &[(&str, &str)], examples: &[(&str, ErrorBody)]) -> ResponseDoc {
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(ErrorBody::name()))))
        .examples_from_iter(examples.iter().map(|(name, body)| {
            let value = serde_json::to_value(body).unwrap_or_else(|_| json!({}));
            ((*name).to_owned(), ExampleBuilder::new().summary(body.error.clone()).value(Some(value)).build())
        }))
        .build();
    let mut response = ResponseBuilder::new().description(description).content("application/json", content);
    for (name, description) in headers {
        let header = HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(*description))
            .build();
        response = response.header(*name, header);
    }
    response.build()
}

/// What [`IntoResponses::responses`] returns: documented responses by status.
pub type Responses = BTreeMap<String, RefOr<ResponseDoc>>;

pub use utoipa::IntoResponses;

/// A response map of one status, for an [`IntoResponses`] impl.
#[must_use]
pub fn single(status: u16, response: ResponseDoc) -> Responses {
    BTreeMap::from([(status.to_string(), RefOr::T(response))])
}

fn body(error: &str, description: &str) -> ErrorBody {
    ErrorBody::new(error, description)
}

/// The challenge header of 401 and 403, as documents name it.
pub const WWW_AUTHENTICATE: &str = "WWW-Authenticate";
/// The header of 429 and 503 saying when to retry.
pub const RETRY_AFTER: &str = "Retry-After";

/// Declares a unit struct documenting one status through `$build` (a
/// [`ResponseDoc`], usually from [`error_response`]), for a handler's `responses(…)`.
///
/// ```ignore
/// service_kit::error_status!(
///     /// 409 `conflict`: the name is taken.
///     NameTaken, 409, error_response("The name is taken.", &[], &[("taken", ErrorBody::new("conflict", "…"))])
/// );
/// ```
#[macro_export]
macro_rules! error_status {
    ($(#[$doc:meta])* $name:ident, $status:literal, $build:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;

        impl $crate::http::openapi::IntoResponses for $name {
            fn responses() -> $crate::http::openapi::Responses {
                $crate::http::openapi::single($status, $build)
            }
        }
    };
}

error_status!(
    /// 400 `invalid_request`: a malformed `Authorization` header (with `WWW-Authenticate`), a
    /// malformed query parameter, path segment or header, or a body that is not JSON.
    BadRequest,
    400,
    error_response(
        "Malformed request: `Authorization` is not one well-formed credential (the challenge says so in \
         `WWW-Authenticate`), a parameter or header is malformed (`details` names it), or the body is not JSON.",
        &[(WWW_AUTHENTICATE, "Sent when the `Authorization` header is malformed: `Bearer error=\"invalid_request\"`.")],
        &[
            ("malformed_authorization", body("invalid_request", "the Authorization header is not a single Bearer or DPoP credential")),
            (
                "invalid_parameter",
                ErrorBody::validation(vec![FieldError::new("limit", "must be an integer between 1 and 100")]),
            ),
            ("invalid_json", body("invalid_json", "request body is not valid JSON: EOF while parsing an object")),
        ],
    )
);

error_status!(
    /// 401: no token, or a token that failed verification; always with `WWW-Authenticate`.
    Unauthorized,
    401,
    error_response(
        "No access token, or one that failed verification (signature, issuer, audience, expiry, revocation…).",
        &[(
            WWW_AUTHENTICATE,
            "RFC 6750 challenge: `Bearer realm=\"…\"` when no token was sent (plus a `DPoP algs=\"…\"` offer), \
             `Bearer realm=\"…\", error=\"invalid_token\", error_description=\"…\"` for a bad token.",
        )],
        &[
            ("missing_token", body("unauthorized", "a bearer token is required")),
            ("invalid_token", body("invalid_token", "the token has expired")),
        ],
    )
);

error_status!(
    /// 403 `insufficient_scope`: the token lacks the operation's scope (with
    /// `WWW-Authenticate`), or a cookie token came on a cross-site unsafe request.
    Forbidden,
    403,
    error_response(
        "The token is valid but lacks the scope this operation requires, the operation accepts service \
         (client-credentials) tokens only, or a cookie token came on a cross-site request (no challenge then).",
        &[(
            WWW_AUTHENTICATE,
            "`Bearer realm=\"…\", error=\"insufficient_scope\", scope=\"…\"`, naming the missing scope.",
        )],
        &[
            ("insufficient_scope", body("insufficient_scope", "the token lacks the scope orders:read")),
            ("cross_site_request", body("cross_site_request", "cookie-authenticated requests must come from the same origin")),
        ],
    )
);

error_status!(
    /// 404 `not_found`: no such resource for this caller (another user's looks the same).
    NotFound,
    404,
    error_response(
        "No such resource for this caller; another user's resource answers the same, so ids cannot be probed.",
        &[],
        &[("not_found", body("not_found", "no such resource"))],
    )
);

error_status!(
    /// 413 `payload_too_large`: the body is over the 64 KiB limit.
    PayloadTooLarge,
    413,
    error_response(
        "The request body is larger than the limit.",
        &[],
        &[("payload_too_large", body("payload_too_large", "request body is larger than 65536 bytes"))],
    )
);

error_status!(
    /// 415 `unsupported_media_type`: the body is not `application/json`.
    UnsupportedMediaType,
    415,
    error_response(
        "The body was not sent with `Content-Type: application/json`.",
        &[],
        &[(
            "unsupported_media_type",
            body("unsupported_media_type", "expected a body with Content-Type: application/json"),
        )],
    )
);

error_status!(
    /// 422 `invalid_request`: well-formed JSON of the wrong shape or breaking a rule, each field
    /// named in `details`.
    UnprocessableEntity,
    422,
    error_response(
        "The body is JSON but of the wrong shape, or breaks a rule: `details` names each field.",
        &[],
        &[validation_example()],
    )
);

/// The example of [`UnprocessableEntity`], for a service whose 422 also has codes of its own.
#[must_use]
pub fn validation_example() -> (&'static str, ErrorBody) {
    ("validation", ErrorBody::validation(vec![FieldError::new("items[0].quantity", "must be between 1 and 1000")]))
}

error_status!(
    /// 500 `internal_error`: an unexpected failure; the body is opaque, the cause is logged.
    InternalError,
    500,
    error_response(
        "An unexpected failure. The body says nothing more; the cause is in the service's log.",
        &[],
        &[("internal_error", body("internal_error", "internal error"))],
    )
);

error_status!(
    /// 503 `temporarily_unavailable` with `Retry-After`: the database or the issuer's keys
    /// cannot be reached.
    Unavailable,
    503,
    error_response(
        "The database or the issuer's signing keys are unreachable right now; retry after `Retry-After` seconds.",
        &[(RETRY_AFTER, "Seconds to wait before retrying.")],
        &[
            ("database", body("temporarily_unavailable", "the database is unreachable; retry shortly")),
            ("keys", body("temporarily_unavailable", "the token issuer keys are temporarily unavailable")),
        ],
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_names_the_service_and_adds_the_scheme_and_the_envelope() {
        let (_, openapi) = finish(OpenApiRouter::<()>::new(), "demo-service", "1.2.3", "A demo.");
        assert_eq!(openapi.info.title, "demo-service");
        assert_eq!(openapi.info.version, "1.2.3");
        let value = serde_json::to_value(&openapi).unwrap();
        assert!(value["openapi"].as_str().unwrap().starts_with("3.1"), "{value}");
        assert_eq!(value["components"]["securitySchemes"][BEARER_AUTH]["scheme"], "bearer");
        assert_eq!(value["components"]["securitySchemes"][BEARER_AUTH]["bearerFormat"], "JWT");
        assert!(value["components"]["schemas"]["ErrorBody"].is_object(), "{value}");
        assert!(value["components"]["schemas"]["FieldError"].is_object(), "{value}");
        assert!(value["paths"]["/openapi.json"]["get"].is_object(), "{value}");
    }

    #[test]
    fn error_statuses_carry_their_headers() {
        let unauthorized = serde_json::to_value(Unauthorized::responses()).unwrap();
        assert!(unauthorized["401"]["headers"][WWW_AUTHENTICATE].is_object(), "{unauthorized}");
        let forbidden = serde_json::to_value(Forbidden::responses()).unwrap();
        assert!(forbidden["403"]["headers"][WWW_AUTHENTICATE].is_object(), "{forbidden}");
        let unavailable = serde_json::to_value(Unavailable::responses()).unwrap();
        assert!(unavailable["503"]["headers"][RETRY_AFTER].is_object(), "{unavailable}");
        let schema = &unavailable["503"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/ErrorBody");
    }
}
