//! The client registry: the confidential clients of `AUTH_CLIENTS`, and how their secrets are
//! kept (SHA-256 digests only) and checked (in constant time).

use secrecy::{ExposeSecret, SecretString};
use service_kit::config::Env;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::is_scope_token;
use service_kit::config::{parse_list, parse_name};

/// The development default for `AUTH_CLIENTS`: orders-service may ask for
/// `notifications:write` on notifications-service (orders-service has the same default).
pub const DEV_CLIENTS: &str = "orders-service|orders-dev-secret|notifications:write|notifications-service";

/// Whether a client's tokens must be bound to its DPoP key (RFC 9449).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DpopPolicy {
    /// Bound when the request carries a proof, bearer otherwise.
    #[default]
    Optional,
    /// Refused without a proof.
    Required,
}

impl DpopPolicy {
    /// `optional` or `required`.
    ///
    /// # Errors
    /// A message for anything else.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err("expected optional or required".to_owned()),
        }
    }
}

/// A confidential client that authenticates at the token endpoint with HTTP Basic
/// (`client_credentials` grant), limited to its scopes and audiences.
pub struct ServiceClient {
    /// `client_id`, also the `sub` of its tokens.
    pub id: String,
    /// SHA-256 of the secret: compared in constant time, and the plain secret is not kept.
    secret_digest: [u8; 32],
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Audiences its tokens may name.
    pub audiences: Vec<String>,
    /// Whether its tokens must be DPoP-bound.
    pub dpop: DpopPolicy,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

impl ServiceClient {
    /// A registration; `secret` is hashed at once.
    #[must_use]
    pub fn new(id: String, secret: &SecretString, scopes: Vec<String>, audiences: Vec<String>) -> Self {
        let secret_digest = Sha256::digest(secret.expose_secret().as_bytes()).into();
        Self { id, secret_digest, scopes, audiences, dpop: DpopPolicy::Optional }
    }

    /// Compares a presented secret in constant time. Hashing first makes the comparison
    /// independent of the secrets' lengths too.
    #[must_use]
    pub fn secret_matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.secret_digest.ct_eq(&presented))
    }
}

/// Every registered client (`AUTH_CLIENTS`), each id once.
#[derive(Debug, Default)]
pub struct ClientRegistry(Vec<ServiceClient>);

impl ClientRegistry {
    /// Parses `AUTH_CLIENTS`: entries separated by `;` or new lines, each
    /// `client_id|client_secret|scope scope…|audience audience…`, optionally followed by
    /// `|dpop=required` (or `|dpop=optional`, the default).
    ///
    /// # Errors
    /// A malformed entry, named by its client id or position (never by its secret).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut clients: Vec<ServiceClient> = Vec::new();
        for (index, entry) in raw.split([';', '\n']).map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let fields: Vec<&str> = entry.split('|').map(str::trim).collect();
            let (id, secret, scopes, audiences, dpop) = match fields[..] {
                [id, secret, scopes, audiences] => (id, secret, scopes, audiences, None),
                [id, secret, scopes, audiences, dpop] => (id, secret, scopes, audiences, Some(dpop)),
                _ => {
                    return Err(format!(
                        "entry {} must have 4 or 5 `|`-separated fields: \
                         client_id|client_secret|scopes|audiences[|dpop=required]",
                        index + 1
                    ));
                }
            };
            parse_name(id).map_err(|m| format!("entry {}: client id: {m}", index + 1))?;
            if secret.is_empty() {
                return Err(format!("client `{id}`: empty secret"));
            }
            let scopes = parse_list(scopes, "scope", is_scope_token).map_err(|m| format!("client `{id}`: {m}"))?;
            let audiences = parse_list(audiences, "audience", |a| parse_name(a).is_ok())
                .map_err(|m| format!("client `{id}`: {m}"))?;
            if audiences.is_empty() {
                return Err(format!("client `{id}`: needs at least one audience"));
            }
            if clients.iter().any(|c| c.id == id) {
                return Err(format!("client `{id}` is listed twice"));
            }
            let dpop = match dpop {
                None => DpopPolicy::Optional,
                Some(field) => field
                    .strip_prefix("dpop=")
                    .ok_or_else(|| "expected dpop=required or dpop=optional".to_owned())
                    .and_then(DpopPolicy::parse)
                    .map_err(|m| format!("client `{id}`: fifth field: {m}"))?,
            };
            let mut client =
                ServiceClient::new(id.to_owned(), &SecretString::from(secret.to_owned()), scopes, audiences);
            client.dpop = dpop;
            clients.push(client);
        }
        Ok(Self(clients))
    }

    /// Reads `AUTH_CLIENTS` (default [`DEV_CLIENTS`], flagged as a development default),
    /// refusing a client that takes the login client's id.
    pub(super) fn read(env: &mut Env, user_client_id: &str) -> Self {
        let raw = match env.optional("AUTH_CLIENTS") {
            Some(raw) => raw,
            None => {
                env.note_dev_default("AUTH_CLIENTS");
                DEV_CLIENTS.to_owned()
            }
        };
        match Self::parse(&raw) {
            Ok(clients) => {
                if clients.get(user_client_id).is_some() {
                    env.problem(
                        "AUTH_CLIENTS",
                        format!("`{user_client_id}` is the login client id (AUTH_USER_CLIENT_ID)"),
                    );
                }
                clients
            }
            Err(message) => {
                env.problem("AUTH_CLIENTS", message);
                Self::default()
            }
        }
    }

    /// The client with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&ServiceClient> {
        self.0.iter().find(|c| c.id == id)
    }

    /// The client with this id, if `secret` is its secret.
    #[must_use]
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<&ServiceClient> {
        self.get(id).filter(|c| c.secret_matches(secret))
    }

    /// Every client, in registration order.
    pub fn iter(&self) -> std::slice::Iter<'_, ServiceClient> {
        self.0.iter()
    }

    /// How many clients are registered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no client is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ClientRegistry {
    type Item = &'a ServiceClient;
    type IntoIter = std::slice::Iter<'a, ServiceClient>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_parse_with_scopes_and_audiences() {
        let clients = ClientRegistry::parse(
            "orders-service|s3cret|notifications:write|notifications-service; billing|x|a:b c:d|orders-service notifications-service",
        )
        .unwrap();
        assert_eq!(clients.len(), 2);
        let billing = clients.get("billing").unwrap();
        assert_eq!(billing.scopes, ["a:b", "c:d"]);
        assert_eq!(billing.audiences, ["orders-service", "notifications-service"]);
        assert!(ClientRegistry::parse("a|b|c|").is_err(), "no audience");
        assert!(ClientRegistry::parse("a||c|d").is_err(), "empty secret");
        assert!(ClientRegistry::parse("a|b|c|d;a|b|c|d").is_err(), "duplicate");
        assert_eq!(billing.dpop, DpopPolicy::Optional);
        let bound = ClientRegistry::parse("a|b|c|d|dpop=required").unwrap();
        assert_eq!(bound.get("a").unwrap().dpop, DpopPolicy::Required);
        assert!(ClientRegistry::parse("a|b|c|d|required").is_err(), "the field names itself");
        assert!(ClientRegistry::parse("a|b|c|d|dpop=always").is_err());
        assert!(ClientRegistry::parse("a|b|c|d|dpop=required|x").is_err());
        assert!(format!("{:?}", clients.get("orders-service").unwrap()).find("s3cret").is_none());
    }

    #[test]
    fn clients_authenticate_only_with_their_secret() {
        let clients = ClientRegistry::parse(DEV_CLIENTS).unwrap();
        assert!(clients.authenticate("orders-service", "orders-dev-secret").is_some());
        assert!(clients.authenticate("orders-service", "orders-dev-secreT").is_none());
        assert!(clients.authenticate("nobody", "orders-dev-secret").is_none());
    }
}
