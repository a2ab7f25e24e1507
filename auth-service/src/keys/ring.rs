//! [`KeyRing`]: the keys as one replica last read them, and the JWKS document derived from
//! them (identical bytes, and so an identical `ETag`, on every replica for the same table).

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use service_kit::db::now_millis;
use sha2::{Digest, Sha256};

use super::{
    signing::{Jwk, SigningKey},
    store::KeyRow,
};

/// The keys as one replica last read them, plus everything derived from them.
#[derive(Debug)]
pub struct KeyRing {
    /// Published keys (pending, active, retired), oldest first, without private halves.
    pub keys: Vec<KeyRow>,
    /// The active key, parsed and ready to sign.
    signer: Option<Arc<SigningKey>>,
    /// The pending key, parsed ahead of its activation.
    successor: Option<Arc<SigningKey>>,
    /// The JWKS document: identical bytes on every replica for the same key table.
    pub jwks: Arc<[u8]>,
    /// Strong `ETag` of [`jwks`](Self::jwks).
    pub etag: String,
    /// Unix ms when this ring was read from the database.
    pub loaded_at: i64,
}

impl KeyRing {
    /// The ring before the first read: no keys, an empty JWKS.
    pub(super) fn empty() -> Self {
        Self {
            keys: Vec::new(),
            signer: None,
            successor: None,
            jwks: Arc::from(&b"{\"keys\":[]}"[..]),
            etag: etag_of(b"{\"keys\":[]}"),
            loaded_at: 0,
        }
    }

    /// The ring of the published `rows`, read now, with their parsed signer and successor.
    /// Private halves are dropped from the rows.
    pub(super) fn new(
        rows: Vec<KeyRow>,
        signer: Option<Arc<SigningKey>>,
        successor: Option<Arc<SigningKey>>,
    ) -> anyhow::Result<Self> {
        let keys: Vec<KeyRow> = rows.into_iter().map(|row| KeyRow { private_key: None, ..row }).collect();
        let jwks = jwks_document(&keys)?;
        Ok(Self { etag: etag_of(&jwks), jwks: Arc::from(jwks), signer, successor, keys, loaded_at: now_millis() })
    }

    /// The key that signs now, if any.
    #[must_use]
    pub fn signer(&self) -> Option<&Arc<SigningKey>> {
        self.signer.as_ref()
    }

    /// The parsed keys (signer and successor), for reuse by the next ring.
    pub(super) fn parsed_keys(&self) -> impl Iterator<Item = &Arc<SigningKey>> {
        self.signer.iter().chain(self.successor.iter())
    }

    /// `kid`s of the published keys.
    pub fn published_kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.kid.as_str())
    }
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// `{"keys":[…]}` with public members only, in table order.
fn jwks_document(keys: &[KeyRow]) -> anyhow::Result<Vec<u8>> {
    let jwks: Vec<Jwk<'_>> = keys.iter().map(|k| Jwk::rs256(&k.kid, &k.n, &k.e)).collect();
    Ok(serde_json::to_vec(&serde_json::json!({ "keys": jwks }))?)
}
