//! DPoP proofs at the endpoints that issue tokens (RFC 9449 §5): `POST /oauth/token` and
//! `POST /v1/login` accept one `DPoP` header; a valid proof binds what they issue to its key.

use http::HeaderMap;
use jwt_verifier::{
    AuthError,
    dpop::ProofRequest,
    extract::binding::{check_proof, proof_header, request_uri},
};

use super::error::{ApiError, OAuthCode, Result};
use crate::{state::AppState, tokens};

/// The RFC 7638 thumbprint of the key the request's proof proves, `None` without a proof.
///
/// # Errors
/// `invalid_dpop_proof` (400) for a proof that fails a check, `use_dpop_nonce` (400 with
/// `DPoP-Nonce`) when nonces are required and the proof has no fresh one.
pub fn proven_key(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Option<String>> {
    let Some(proof) = proof_header(headers).map_err(refusal)? else { return Ok(None) };
    let Some(uri) = request_uri(headers, path, state.settings.dpop.trust_forwarded) else {
        return Err(ApiError::oauth(
            OAuthCode::InvalidDpopProof,
            "the request has no usable Host to check htu against",
        ));
    };
    let request = ProofRequest { method: "POST", uri: &uri, access_token: None, bound_to: None };
    let verified = check_proof(&state.proofs, proof, &request, tokens::now_secs()).map_err(refusal)?;
    Ok(Some(verified.thumbprint))
}

fn refusal(error: AuthError) -> ApiError {
    match error {
        AuthError::UseDpopNonce { nonce } => ApiError::UseDpopNonce { nonce },
        AuthError::DpopReplayCacheFull => ApiError::Auth(error),
        other => ApiError::oauth(OAuthCode::InvalidDpopProof, other.description()),
    }
}
