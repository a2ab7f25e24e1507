"""Schemathesis checks of our own, loaded through SCHEMATHESIS_HOOKS by the api_fuzz scenario.

RFC 9110 §11.6.1 and RFC 6750 §3: every 401 and 403 carries a `WWW-Authenticate` challenge,
and (RFC 9728 §5.1) it names the resource's metadata, unless SCHEMATHESIS_RESOURCE_METADATA=0
says the service is no protected resource (auth-service, the issuer). Schemathesis's own checks only compare headers with the document, so an
undocumented missing challenge would pass them.
"""

import os

import schemathesis

RESOURCE_SERVER = os.environ.get("SCHEMATHESIS_RESOURCE_METADATA") != "0"


@schemathesis.check
def challenge_on_401_and_403(ctx, response, case):
    if response.status_code not in (401, 403):
        return None
    challenges = response.headers.get("www-authenticate") or response.headers.get("WWW-Authenticate")
    if isinstance(challenges, list):
        challenges = ", ".join(challenges)
    if not challenges:
        raise AssertionError(f"{response.status_code} without a WWW-Authenticate challenge")
    if RESOURCE_SERVER and "resource_metadata=" not in challenges:
        raise AssertionError(f"{response.status_code} challenge names no resource_metadata: {challenges}")
    return None

