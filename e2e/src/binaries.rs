//! Finding the service binaries, building them with cargo first when needed.
//!
//! Tests build once per test process: `$CARGO build -p auth-service -p orders-service
//! -p notifications-service --bins` with the profile and target directory the test binary
//! itself was built with (cargo releases its build lock before it runs tests, so this works from
//! inside `cargo test` and `cargo nextest run`; when everything is fresh it costs a second).
//! The `stack` binary finds them next to its own executable.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use anyhow::{Context, bail};

use crate::service::Service;

/// A directory holding the three service binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

/// When [`Binaries::next_to_current_exe`] runs cargo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Always run `cargo build` (cheap when fresh, so stale binaries are never used).
    Always,
    /// Only when a binary is missing.
    IfMissing,
    /// Never; fail when a binary is missing.
    Never,
}

impl Binaries {
    /// Uses the binaries in `dir` as they are.
    #[must_use]
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The binaries for the running test process, built once per process with the test's own
    /// profile. Blocks while cargo builds; call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// The build failed (its output is in the message) or a binary is still missing after it.
    pub fn for_tests() -> anyhow::Result<Binaries> {
        static BUILT: OnceLock<Result<Binaries, String>> = OnceLock::new();
        BUILT
            .get_or_init(|| {
                let dir = profile_dir().map_err(|e| format!("{e:#}"))?;
                let binaries = Binaries::in_dir(dir);
                binaries.build().map_err(|e| format!("{e:#}"))?;
                binaries.check().map_err(|e| format!("{e:#}"))?;
                Ok(binaries)
            })
            .clone()
            .map_err(anyhow::Error::msg)
    }

    /// The binaries next to the running executable (how `cargo run --bin stack` lays them out),
    /// built with cargo according to `policy`.
    ///
    /// # Errors
    /// The executable's directory cannot be found, the build failed, or a binary is missing.
    pub fn next_to_current_exe(policy: BuildPolicy) -> anyhow::Result<Binaries> {
        let exe = std::env::current_exe().context("cannot find the running executable")?;
        let dir = exe.parent().context("the running executable has no directory")?.to_path_buf();
        let binaries = Binaries::in_dir(dir);
        let build = match policy {
            BuildPolicy::Always => true,
            BuildPolicy::IfMissing => binaries.check().is_err(),
            BuildPolicy::Never => false,
        };
        if build {
            binaries.build()?;
        }
        binaries.check()?;
        Ok(binaries)
    }

    /// Path of `service`'s binary.
    #[must_use]
    pub fn path(&self, service: Service) -> PathBuf {
        self.dir.join(format!("{}{}", service.name(), std::env::consts::EXE_SUFFIX))
    }

    fn check(&self) -> anyhow::Result<()> {
        for service in Service::ALL {
            let path = self.path(service);
            if !path.is_file() {
                bail!("{} not found at {}", service.name(), path.display());
            }
        }
        Ok(())
    }

    /// Runs `cargo build` for the three services so their binaries land in this directory.
    fn build(&self) -> anyhow::Result<()> {
        let profile_dir_name = self.dir.file_name().and_then(|n| n.to_str()).context("binary directory has no name")?;
        // Cargo names the `dev` profile's directory `debug`; every other profile keeps its name.
        let profile = if profile_dir_name == "debug" { "dev" } else { profile_dir_name };
        let target_dir = self.dir.parent().context("binary directory has no parent")?;
        let workspace = workspace_root();
        let cargo = std::env::var("CARGO").ok().or_else(|| option_env!("CARGO").map(str::to_owned));
        let cargo = cargo.unwrap_or_else(|| "cargo".to_owned());
        let mut command = Command::new(&cargo);
        command
            .args(["build", "--profile", profile, "--bins", "--message-format", "short"])
            .args(Service::ALL.iter().flat_map(|s| ["-p", s.name()]))
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(&workspace);
        eprintln!(
            "e2e: building the service binaries: cargo build --profile {profile} -p auth-service -p orders-service -p notifications-service --bins (target dir {})",
            target_dir.display()
        );
        let started = std::time::Instant::now();
        let output = command.output().with_context(|| format!("cannot run `{cargo}`"))?;
        if !output.status.success() {
            bail!(
                "cargo build of the service binaries failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        eprintln!("e2e: service binaries ready after {:.1}s", started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// The workspace root: this crate's parent directory.
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `target/<profile>` of the running test binary, which lives in `target/<profile>/deps/`.
fn profile_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running test executable")?;
    let deps = exe.parent().context("test executable has no directory")?;
    let dir = if deps.file_name().is_some_and(|n| n == "deps") { deps.parent() } else { Some(deps) };
    dir.map(Path::to_path_buf).context("test executable's directory has no parent")
}
