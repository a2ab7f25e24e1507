//! The development switch, `DEV_MODE`, and the one rule about development defaults.
//!
//! Every service can start with no configuration at all on a development machine: an
//! unset client secret falls back to a value written in this repository, an unset issuer to
//! `http://127.0.0.1:8081`, an unset master key to a key file generated beside the `SQLite`
//! database. Such values are public or tied to one disk, so a deployment that runs on one
//! unknowingly is open (anyone can mint service tokens with the public client secret). Each
//! place that falls back, or that recognises a configured value as one of the public ones,
//! records a [`DevDefault`] with [`Env::note_dev_default`](super::Env::note_dev_default).
//!
//! The rule, applied once by [`Env::finish`](super::Env::finish) for every service: a
//! development default is a configuration problem unless `DEV_MODE` is true. With the
//! switch, the defaults are returned so the service logs each one at start; without it, the
//! service refuses to start and the error names each variable and what to set instead.
//! `DEV_MODE` changes nothing else, so a development run behaves like production.

/// The switch's variable name: `DEV_MODE=true` allows development defaults.
pub const DEV_MODE: &str = "DEV_MODE";

/// A variable that fell back to (or was set to) a value meant only for local development.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevDefault {
    /// The variable, such as `AUTH_CLIENTS`.
    pub variable: String,
    /// What is wrong with its value and what to set instead, as one sentence.
    pub advice: String,
}

impl DevDefault {
    /// An unset variable whose fallback is for development only.
    #[must_use]
    pub fn unset(variable: &str) -> Self {
        Self {
            variable: variable.to_owned(),
            advice: format!("unset, which falls back to a development value; set {variable}"),
        }
    }

    /// The configuration problem it is when `DEV_MODE` is not set.
    pub(super) fn refusal(&self) -> String {
        format!("{}: {}", self.variable, self.advice)
    }
}

/// The closing line of a refusal: how to allow development defaults on purpose.
pub(super) fn switch_hint() -> String {
    format!(
        "{DEV_MODE}: not true, so the development defaults above are refused; on a development machine, \
         {DEV_MODE}=true allows them"
    )
}
