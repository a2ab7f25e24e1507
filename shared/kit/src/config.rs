//! Typed settings from environment variables, checked once at start.
//!
//! [`Env`] reads variables and collects one message per bad value instead of stopping at the
//! first, so an operator fixes every mistake in one go. Services build their `Settings` from it
//! and call [`Env::finish`]; `main` prints the combined error and exits.
//!
//! Variables every service shares live in [`CommonSettings`]; the verifier's `AUTH_*`
//! variables are read by [`verifier_config`]. Development-only fallbacks are refused unless
//! `DEV_MODE=true`: the rule is in [`dev_mode`], applied by [`Env::finish`].

use std::{collections::HashMap, fmt, net::SocketAddr, str::FromStr, time::Duration};

use crate::telemetry::LogFormat;

pub mod dev_mode;
pub mod verifier;

pub use self::dev_mode::{DEV_MODE, DevDefault};
pub use self::verifier::{DEV_ISSUER, resource_url, verifier_config};

/// Every bad value found while reading the configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.0.len())?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A source of variables plus the problems found so far.
#[derive(Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<String>,
    dev_defaults: Vec<DevDefault>,
}

impl Env {
    /// Reads the process environment.
    #[must_use]
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// Uses the given pairs only (tests, or an embedding application).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(), ..Self::default() }
    }

    /// The raw value, `None` when unset or empty.
    #[must_use]
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// Records a problem with `name` found by the caller.
    pub fn problem(&mut self, name: &str, message: impl fmt::Display) {
        self.problems.push(format!("{name}: {message}"));
    }

    /// Records that `name` was unset and fell back to a default meant only for local
    /// development. [`finish`](Self::finish) refuses it unless `DEV_MODE` is true.
    pub fn note_dev_default(&mut self, name: &str) {
        self.note(DevDefault::unset(name));
    }

    /// Records that `name` holds a development-only value, refused like
    /// [`note_dev_default`](Self::note_dev_default).
    ///
    /// For a fallback with more to say than "set it", or a configured value known to be
    /// public. `advice` says what is wrong and what to set instead; it never contains the value.
    pub fn note_dev_value(&mut self, name: &str, advice: impl fmt::Display) {
        self.note(DevDefault { variable: name.to_owned(), advice: advice.to_string() });
    }

    fn note(&mut self, dev_default: DevDefault) {
        // A variable can be caught twice (unset here, a public value there); once is enough.
        if !self.dev_defaults.iter().any(|d| d.variable == dev_default.variable) {
            self.dev_defaults.push(dev_default);
        }
    }

    /// The development defaults recorded so far.
    #[must_use]
    pub fn dev_defaults(&self) -> &[DevDefault] {
        &self.dev_defaults
    }

    /// A string, or `default` when unset.
    pub fn string(&mut self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or(default).to_owned()
    }

    /// A string that may be absent.
    pub fn optional(&mut self, name: &str) -> Option<String> {
        self.raw(name).map(str::to_owned)
    }

    /// A value parsed with [`FromStr`], or `default` when unset.
    pub fn parse<T>(&mut self, name: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.parse_with(name, default, |raw| raw.parse::<T>().map_err(|e| e.to_string()))
    }

    /// A value parsed by `parse`, or `default` when unset; a parse failure is recorded and the
    /// default returned so reading can go on.
    pub fn parse_with<T>(&mut self, name: &str, default: T, parse: impl FnOnce(&str) -> Result<T, String>) -> T {
        let Some(raw) = self.raw(name).map(str::to_owned) else {
            return default;
        };
        match parse(&raw) {
            Ok(value) => value,
            Err(message) => {
                self.problem(name, format!("{message} (got `{raw}`)"));
                default
            }
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    pub fn bool(&mut self, name: &str, default: bool) -> bool {
        self.parse_with(name, default, parse_bool)
    }

    /// A duration: plain seconds (`600`) or with a unit (`500ms`, `30s`, `10m`, `1h`, `7d`).
    pub fn duration(&mut self, name: &str, default: Duration) -> Duration {
        self.parse_with(name, default, parse_duration)
    }

    /// Ends reading, applying the development-defaults rule: without `DEV_MODE=true`, every
    /// development default is one more problem (naming the variable and what to set instead).
    ///
    /// # Errors
    /// Every problem recorded, when there was at least one.
    pub fn finish(mut self) -> Result<Vec<String>, ConfigError> {
        let allowed = self.bool(DEV_MODE, false);
        if !allowed && !self.dev_defaults.is_empty() {
            let refusals: Vec<String> = self.dev_defaults.iter().map(DevDefault::refusal).collect();
            self.problems.extend(refusals);
            self.problems.push(dev_mode::switch_hint());
        }
        if self.problems.is_empty() {
            Ok(self.dev_defaults.into_iter().map(|d| d.variable).collect())
        } else {
            Err(ConfigError(self.problems))
        }
    }
}

/// Parses `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.
///
/// # Errors
/// Any other value.
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Parses `600`, `500ms`, `30s`, `10m`, `1h`, `7d`.
///
/// # Errors
/// Anything else, including negative or overflowing values.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let amount: u64 =
        digits.parse().map_err(|_| "expected a duration such as 30s, 10m, 1h or a number of seconds".to_owned())?;
    let millis_per_unit: u64 = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1_000,
        "ms" => 1,
        "m" | "min" | "mins" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(format!("unknown duration unit `{other}` (use ms, s, m, h or d)")),
    };
    amount.checked_mul(millis_per_unit).map(Duration::from_millis).ok_or_else(|| "duration too large".to_owned())
}

/// A name: letters, digits and `- _ . : /` only (client ids, audiences, scopes).
///
/// # Errors
/// Anything else, or an empty value.
pub fn parse_name(raw: &str) -> Result<&str, String> {
    if !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
    {
        Ok(raw)
    } else {
        Err("expected letters, digits and - _ . : / only".to_owned())
    }
}

/// A list separated by spaces or commas, each item checked by `valid`, duplicates dropped
/// (first occurrence kept).
///
/// # Errors
/// The first invalid item, named as a `what`.
pub fn parse_list(raw: &str, what: &str, valid: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let mut items: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in raw.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !valid(item) {
            return Err(format!("`{item}` is not a valid {what}"));
        }
        if seen.insert(item) {
            items.push(item.to_owned());
        }
    }
    Ok(items)
}

/// Parses 32 secret bytes given as 64 hex digits or base64 (standard or URL-safe, padding
/// optional). The message never repeats the value: it is a secret.
///
/// # Errors
/// A message saying what shape is expected.
pub fn parse_secret_32(raw: &str) -> Result<[u8; 32], String> {
    use base64::{
        Engine,
        engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    };
    let raw = raw.trim();
    let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
    } else {
        STANDARD.decode(raw).ok().or_else(|| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).ok())
    };
    let bytes = bytes
        .ok_or_else(|| "expected 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)".to_owned())?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!("expected 32 bytes, got {} (generate one with `openssl rand -base64 32`)", b.len())
    })
}

/// Parses a connection-pool size: 1–1000 connections.
///
/// # Errors
/// Anything else.
pub fn parse_pool_size(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(size) if (1..=1000).contains(&size) => Ok(size),
        _ => Err("expected a number of connections between 1 and 1000".to_owned()),
    }
}

/// Settings every service reads: where to listen, which database, how to log.
#[derive(Debug, Clone)]
pub struct CommonSettings {
    /// `LISTEN_ADDR`; port 0 picks a free port (the bound address is logged).
    pub listen_addr: SocketAddr,
    /// `DATABASE_URL`; defaults to a `SQLite` file under `./data/`.
    pub database_url: String,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
}

impl CommonSettings {
    /// Reads `LISTEN_ADDR`, `DATABASE_URL` and `LOG_FORMAT`. `sqlite_file` is the default
    /// database file name under `./data/` (for example `auth.db`).
    pub fn read(env: &mut Env, default_listen_addr: SocketAddr, sqlite_file: &str) -> Self {
        let listen_addr = env.parse_with("LISTEN_ADDR", default_listen_addr, |raw| {
            raw.parse::<SocketAddr>()
                .map_err(|_| "expected host:port with a numeric IP, such as 127.0.0.1:8081 or 0.0.0.0:8080".to_owned())
        });
        let database_url = env.parse_with("DATABASE_URL", format!("sqlite://data/{sqlite_file}"), |raw| {
            if raw.starts_with("sqlite:") || raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
                Ok(raw.to_owned())
            } else {
                Err("expected a sqlite:// or postgres:// URL".to_owned())
            }
        });
        let log_format = env.parse_with("LOG_FORMAT", LogFormat::Human, LogFormat::parse);
        Self { listen_addr, database_url, log_format }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let mut env =
            Env::from_pairs([("LISTEN_ADDR", "localhost"), ("DATABASE_URL", "mysql://x"), ("LOG_FORMAT", "xml")]);
        let _ = CommonSettings::read(&mut env, "127.0.0.1:1".parse().unwrap(), "x.db");
        let error = env.finish().unwrap_err();
        assert_eq!(error.0.len(), 3, "{error}");
        assert!(error.0[0].starts_with("LISTEN_ADDR:"));
        assert!(error.0[1].starts_with("DATABASE_URL:"));
        assert!(error.0[2].starts_with("LOG_FORMAT:"));
    }

    #[test]
    fn defaults_apply_when_unset() {
        let mut env = Env::from_pairs(Vec::<(String, String)>::new());
        let common = CommonSettings::read(&mut env, "127.0.0.1:8081".parse().unwrap(), "auth.db");
        assert_eq!(common.listen_addr.port(), 8081);
        assert_eq!(common.database_url, "sqlite://data/auth.db");
        assert!(env.finish().is_ok());
    }

    #[test]
    fn a_dev_default_without_the_switch_is_refused_by_name() {
        let mut env = Env::from_pairs([("UNRELATED", "x")]);
        env.note_dev_default("SOME_SECRET");
        env.note_dev_value("OTHER_SECRET", "is the public development secret; set a private one");
        let problems = env.finish().unwrap_err().0;
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].starts_with("SOME_SECRET: unset") && problems[0].ends_with("set SOME_SECRET"),
            "{problems:?}"
        );
        assert_eq!(problems[1], "OTHER_SECRET: is the public development secret; set a private one");
        assert!(problems[2].starts_with("DEV_MODE:") && problems[2].contains("DEV_MODE=true"), "{problems:?}");
    }

    #[test]
    fn the_switch_allows_dev_defaults_and_returns_them_for_the_log() {
        let mut env = Env::from_pairs([("DEV_MODE", "true")]);
        env.note_dev_default("SOME_SECRET");
        env.note_dev_value("SOME_SECRET", "caught twice, reported once");
        assert_eq!(env.finish().unwrap(), ["SOME_SECRET"]);

        // Off, or not a boolean: refused (the bad value is a problem of its own).
        for value in ["false", "development"] {
            let mut env = Env::from_pairs([("DEV_MODE", value)]);
            env.note_dev_default("SOME_SECRET");
            let problems = env.finish().unwrap_err().0;
            assert!(problems.iter().any(|p| p.starts_with("SOME_SECRET:")), "{value}: {problems:?}");
        }
    }

    #[test]
    fn without_dev_defaults_the_switch_changes_nothing() {
        assert_eq!(Env::from_pairs(Vec::<(String, String)>::new()).finish(), Ok(Vec::new()));
        assert_eq!(Env::from_pairs([("DEV_MODE", "true")]).finish(), Ok(Vec::new()));
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("600").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("5 fortnights").is_err());
    }
}
