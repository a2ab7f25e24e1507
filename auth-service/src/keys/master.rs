//! The master key that encrypts signing keys at rest (AES-256-GCM).
//!
//! It comes from `AUTH_MASTER_KEY` (or `AUTH_MASTER_KEY_FILE`, for Docker/Kubernetes secrets).
//! Without one, an embedded `SQLite` deployment gets a key file created beside the database
//! (mode 0600), so `DEV_MODE=true cargo run` works with no set-up. That fallback is a
//! development default (the configuration refuses it unless `DEV_MODE=true`, see
//! `service_kit::config::dev_mode`): the key would sit on the same disk as what it protects.
//! `PostgreSQL` deployments must provide one even in development, because a key file on one
//! replica's disk would leave the others unable to sign.
//!
//! Each ciphertext is bound to its key id through the AEAD's associated data, so a row's
//! private key cannot be swapped into another row.

use std::path::{Path, PathBuf};

use aes_gcm::{
    Aes256Gcm, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use service_kit::db::Backend;

/// Format tag of stored ciphertexts, so the scheme can change without guessing.
const FORMAT: &str = "v1.";
/// The master key the repository's development secrets used to carry (its bytes spell this).
///
/// It is public, so a deployment configured with it is refused like any other development
/// default.
const PUBLIC_DEVELOPMENT_KEY: &[u8; 32] = b"DEVELOPMENT ONLY - NOT A SECRET!";
const NONCE_LEN: usize = 12;

/// The AES-256-GCM key that wraps signing keys.
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Where the master key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `AUTH_MASTER_KEY` or `AUTH_MASTER_KEY_FILE`.
    Configured,
    /// An existing key file beside the `SQLite` database.
    ExistingFile(PathBuf),
    /// A key file created just now beside the `SQLite` database.
    CreatedFile(PathBuf),
    /// An in-memory `SQLite` database: a throwaway key, as throwaway as the keys it protects.
    Ephemeral,
}

impl MasterKey {
    /// Wraps 32 key bytes.
    #[must_use]
    pub fn new(key: &SecretBox<[u8; 32]>) -> Self {
        Self { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.expose_secret())) }
    }

    /// The configured key, or the `SQLite` key file (created when missing).
    ///
    /// # Errors
    /// `PostgreSQL` without a configured key, or a key file that cannot be read or created.
    pub fn resolve(
        configured: Option<&SecretBox<[u8; 32]>>,
        database_url: &str,
    ) -> anyhow::Result<(Self, MasterKeySource)> {
        if let Some(key) = configured {
            return Ok((Self::new(key), MasterKeySource::Configured));
        }
        if Backend::of(database_url) == Backend::Postgres {
            bail!(
                "AUTH_MASTER_KEY (or AUTH_MASTER_KEY_FILE) is required with PostgreSQL: every replica must decrypt the same \
                 signing keys (generate one with `openssl rand -base64 32`)"
            );
        }
        let Some(db_path) = service_kit::db::sqlite_path(database_url) else {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            return Ok((Self::new(&SecretBox::new(Box::new(bytes))), MasterKeySource::Ephemeral));
        };
        let path = key_file_beside(db_path);
        let (key, created) = load_or_create_key_file(&path)?;
        let source = if created { MasterKeySource::CreatedFile(path) } else { MasterKeySource::ExistingFile(path) };
        Ok((Self::new(&key), source))
    }

    /// Encrypts a PKCS#8 private key for the row of `kid`.
    ///
    /// # Errors
    /// Only if the cipher fails, which AES-GCM does not for inputs of this size.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: kid.as_bytes() })
            .map_err(|_| anyhow::anyhow!("AES-GCM encryption failed"))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(format!("{FORMAT}{}", STANDARD.encode(blob)))
    }

    /// Decrypts what [`seal`](Self::seal) produced for `kid`.
    ///
    /// # Errors
    /// A different master key, a ciphertext from another row, or a damaged value.
    pub fn open(&self, kid: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let encoded = sealed.strip_prefix(FORMAT).context("unknown private-key format")?;
        let blob = STANDARD.decode(encoded).context("private key is not valid base64")?;
        if blob.len() <= NONCE_LEN {
            bail!("private key ciphertext is truncated");
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: kid.as_bytes() }).map_err(|_| {
            anyhow::anyhow!("cannot decrypt the private half of signing key {kid}: wrong AUTH_MASTER_KEY?")
        })
    }
}

/// `data/auth.db` -> `data/auth.db.master-key`.
fn key_file_beside(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "auth.db".into());
    name.push(".master-key");
    db_path.with_file_name(name)
}

/// Reads the key file, or creates it atomically: written to a private temporary file first
/// and then hard-linked into place, so a second process starting at the same moment either
/// wins the link or reads the complete file, never a half-written one.
fn load_or_create_key_file(path: &Path) -> anyhow::Result<(SecretBox<[u8; 32]>, bool)> {
    if let Some(key) = read_key_file(path)? {
        return Ok((key, false));
    }
    // First run in an empty directory: the database (and its directory) is created later, at
    // connect time, but the key file beside it is needed first.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory of the master key file {}", parent.display()))?;
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    write_private_file(&temporary, STANDARD.encode(bytes).as_bytes())
        .with_context(|| format!("cannot write the master key file {}", temporary.display()))?;
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok((SecretBox::new(Box::new(bytes)), true)),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let key = read_key_file(path)?.context("the master key file vanished while starting")?;
            Ok((key, false))
        }
        Err(error) => Err(error).with_context(|| format!("cannot create the master key file {}", path.display())),
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<Option<SecretBox<[u8; 32]>>> {
    match std::fs::read_to_string(path) {
        Ok(contents) => {
            warn_if_readable_by_others(path);
            parse_master_key(contents.trim())
                .map(Some)
                .map_err(|message| anyhow::anyhow!("master key file {}: {message}", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read the master key file {}", path.display())),
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the master key file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// `true` for the public development key, which protects nothing.
#[must_use]
pub fn is_public_development_key(key: &SecretBox<[u8; 32]>) -> bool {
    key.expose_secret() == PUBLIC_DEVELOPMENT_KEY
}

/// Parses a 32-byte master key written as 64 hex digits or as base64 (standard or URL-safe).
///
/// # Errors
/// Any other encoding or length; the message never contains the value.
pub fn parse_master_key(raw: &str) -> Result<SecretBox<[u8; 32]>, String> {
    service_kit::config::parse_secret_32(raw).map(|key| SecretBox::new(Box::new(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::new(&SecretBox::new(Box::new([byte; 32])))
    }

    #[test]
    fn sealed_keys_open_only_with_the_same_master_key_and_kid() {
        let sealed = key(1).seal("kid-a", b"private").unwrap();
        assert_eq!(key(1).open("kid-a", &sealed).unwrap(), b"private");
        assert!(key(2).open("kid-a", &sealed).is_err(), "other master key");
        assert!(key(1).open("kid-b", &sealed).is_err(), "ciphertext moved to another row");
        assert!(key(1).open("kid-a", "v1.AAAA").is_err(), "truncated");
        assert!(key(1).open("kid-a", "v0.whatever").is_err(), "unknown format");
    }

    #[test]
    fn postgres_requires_a_configured_key() {
        let error = MasterKey::resolve(None, "postgres://u:p@localhost/db").unwrap_err();
        assert!(error.to_string().contains("AUTH_MASTER_KEY"));
    }

    #[test]
    fn sqlite_key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/auth.db", dir.path().display());
        let (first, source) = MasterKey::resolve(None, &url).unwrap();
        let path = dir.path().join("auth.db.master-key");
        assert_eq!(source, MasterKeySource::CreatedFile(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let (second, source) = MasterKey::resolve(None, &url).unwrap();
        assert_eq!(source, MasterKeySource::ExistingFile(path));
        let sealed = first.seal("k", b"x").unwrap();
        assert_eq!(second.open("k", &sealed).unwrap(), b"x");
    }

    #[test]
    fn first_run_creates_the_missing_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/auth.db", dir.path().display());
        let (_, source) = MasterKey::resolve(None, &url).unwrap();
        assert_eq!(source, MasterKeySource::CreatedFile(dir.path().join("data/auth.db.master-key")));
    }

    #[test]
    fn the_public_development_key_is_recognised() {
        let encoded = STANDARD.encode(PUBLIC_DEVELOPMENT_KEY);
        assert!(is_public_development_key(&parse_master_key(&encoded).unwrap()));
        assert!(!is_public_development_key(&SecretBox::new(Box::new([7u8; 32]))));
    }

    #[test]
    fn master_keys_parse_from_hex_and_base64() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_master_key(&hex).unwrap().expose_secret()[31], 0xff);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(*parse_master_key(&b64).unwrap().expose_secret(), [7u8; 32]);
        assert!(parse_master_key(&base64::engine::general_purpose::STANDARD.encode([7u8; 16])).is_err());
        assert!(parse_master_key("not a key").is_err());
    }
}
