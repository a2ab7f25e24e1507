//! `bench`: puts numbers on the sessions-vs-JWT argument and on the workspace's verifier.
//!
//! ```text
//! cargo run --release -p bench -- all      # every comparison, full length; writes docs/benchmarks/
//! cargo run -p bench -- smoke              # every comparison for a second or so; writes nothing
//! cargo run -p bench -- smoke --report --out /tmp/bench   # ... and a report of that
//! cargo run --release -p bench -- all --only verifier-overhead,minting   # a subset
//! ```
//!
//! Everything measured runs on loopback, started by the runner: the verifier target and the
//! orders target are this binary again (`bench serve …`), the peer is `bench-peer/` (its own
//! cargo project), auth-service and the gateway stack are the real binaries started through
//! the e2e harness. Load comes from wrk. All variants of a comparison are measured in the
//! same run, interleaved round by round, so their ratios hold on a noisy machine.
//!
//! # Layout
//!
//! - [`lab`]: the plan (full or smoke), the working directory, the interleaved rounds.
//! - [`wrk`]: the Lua scripts and parsing wrk's output.
//! - [`child`]: child processes (our targets, the peer) and building the peer.
//! - [`serve`]: the `serve` subcommands, the targets themselves.
//! - [`comparisons`]: the five comparisons, named by [`Comparison`].
//! - [`machine`]: what the machine is, and `openssl speed`.
//! - [`stats`]: medians, spreads, paired ratios.
//! - [`report`] and [`charts`]: `REPORT.md`, `results.json` and the SVG charts.

mod charts;
mod child;
mod comparisons;
mod lab;
mod machine;
mod report;
mod serve;
mod stats;
mod wrk;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use comparisons::Comparison;
use e2e::{
    binaries::{Binaries, BuildPolicy},
    service::Topology,
};
use lab::{Lab, Plan};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Benchmarks: verifier overhead, jwt-authorizer, introspection, the gateway stack, minting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every comparison at full length; writes the report and charts.
    All(RunArgs),
    /// Every comparison for about a second each (CI); writes a report only with --report.
    Smoke(RunArgs),
    /// Runs one of the servers under test (started by the runner itself).
    #[command(subcommand, hide = true)]
    Serve(ServeCommand),
}

#[derive(Subcommand)]
enum ServeCommand {
    /// The target of verifier overhead.
    Verifier(serve::verifier::VerifierArgs),
    /// The target of stateless vs stateful (boxed: its settings are most of the command line's
    /// size).
    Orders(Box<serve::orders::OrdersArgs>),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Where REPORT.md, results.json and the SVG charts go.
    #[arg(long, default_value = "docs/benchmarks")]
    out: PathBuf,
    /// Write the report (always on for `all`).
    #[arg(long)]
    report: bool,
    /// Comparisons to run, such as `verifier-overhead,minting` (default: all five). The old
    /// numbers 1 to 5 still work.
    #[arg(long, value_delimiter = ',', value_enum)]
    only: Vec<Comparison>,
    /// Measured rounds per variant.
    #[arg(long)]
    rounds: Option<u32>,
    /// Seconds per measured run.
    #[arg(long)]
    duration: Option<u64>,
    /// Logouts whose revocation lag is measured (stateless vs stateful; full: 30, smoke: 5).
    #[arg(long)]
    revocations: Option<usize>,
    /// wrk threads.
    #[arg(long)]
    threads: Option<u32>,
    /// wrk connections.
    #[arg(long)]
    connections: Option<u32>,
    /// Replicas of the gateway stack, such as `auth=2,orders=3,notifications=2`.
    #[arg(long)]
    topology: Option<String>,
    /// Keep the working directory (logs, databases, token files) and print its path.
    #[arg(long)]
    keep: bool,
    /// Do not pin wrk and the servers to separate CPUs.
    #[arg(long)]
    no_pin: bool,
}

/// What the comparisons need built before the CPUs are pinned (builds get every core).
struct Built {
    peer: Option<PathBuf>,
    binaries: Option<Binaries>,
}

async fn build(lab: &Lab) -> anyhow::Result<Built> {
    let plan = &lab.plan;
    let peer = if plan.runs(Comparison::JwtAuthorizer) { Some(child::build_peer(lab.release).await?) } else { None };
    let binaries = if plan.runs_any(&[Comparison::StatelessVsStateful, Comparison::Gateway, Comparison::Minting]) {
        // Under `cargo run`, rebuild the services too (a no-op when fresh) so stale binaries
        // are never measured; elsewhere, build only what is missing.
        let policy = if std::env::var_os("CARGO").is_some() { BuildPolicy::Always } else { BuildPolicy::IfMissing };
        eprintln!("bench: building the service binaries if needed");
        Some(tokio::task::spawn_blocking(move || Binaries::next_to_current_exe(policy)).await??)
    } else {
        None
    };
    Ok(Built { peer, binaries })
}

/// Everything one run measured; `results.json` is this, serialised.
#[derive(Debug, Serialize)]
pub struct Results {
    /// When the run started (RFC 3339, UTC).
    pub date: String,
    /// The command that produced it.
    pub command: String,
    /// The plan it followed.
    pub plan: Plan,
    /// The machine.
    pub machine: machine::Machine,
    /// `openssl speed rsa2048`.
    pub openssl: Option<machine::OpenSslSpeed>,
    /// Verifier overhead and vs jwt-authorizer.
    pub verifier: Option<comparisons::verifier::VerifierResults>,
    /// Stateless vs stateful.
    pub sessions: Option<comparisons::sessions::SessionsResults>,
    /// Through the gateway.
    pub gateway: Option<comparisons::gateway::GatewayResults>,
    /// Minting.
    pub minting: Option<comparisons::minting::MintingResults>,
    /// CPU pinning of wrk and the servers.
    pub pinning: Option<lab::Pinning>,
    /// Wall-clock length of the run.
    pub elapsed_s: f64,
    /// Every distinct wrk command line.
    pub wrk_commands: Vec<String>,
}

fn plan_for(full: bool, args: &RunArgs) -> anyhow::Result<Plan> {
    let mut plan = if full { Plan::full() } else { Plan::smoke() };
    if let Some(rounds) = args.rounds {
        plan.rounds = rounds.max(1);
    }
    if let Some(duration) = args.duration {
        plan.load.duration = Duration::from_secs(duration.max(1));
    }
    if let Some(revocations) = args.revocations {
        plan.revocations = revocations.max(1);
    }
    if let Some(threads) = args.threads {
        plan.load.threads = threads.max(1);
    }
    if let Some(connections) = args.connections {
        plan.load.connections = connections.max(1);
    }
    plan.load.connections = plan.load.connections.max(plan.load.threads);
    if let Some(raw) = &args.topology {
        plan = plan.with_topology(Topology::parse(raw).map_err(anyhow::Error::msg).context("--topology")?);
    }
    if !args.only.is_empty() {
        plan.only = args.only.clone();
    }
    Ok(plan)
}

async fn run_all(full: bool, args: RunArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let plan = plan_for(full, &args)?;
    let wrk_version = wrk::check_installed().await?;
    let temp = tempfile::Builder::new().prefix("bench-").tempdir()?;
    let mut lab = Lab::new(plan, temp.path())?;
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    eprintln!("bench: {} run, working directory {}", lab.plan.mode, temp.path().display());
    let mut results = Results {
        date: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        command: format!("cargo run {}-p bench -- {command}", if lab.release { "--release " } else { "" }),
        machine: machine::describe(wrk_version).await,
        openssl: None,
        verifier: None,
        sessions: None,
        gateway: None,
        minting: None,
        elapsed_s: 0.0,
        pinning: None,
        wrk_commands: Vec::new(),
        plan: lab.plan.clone(),
    };
    eprintln!("bench: openssl speed rsa2048 (the physical limit)");
    results.openssl = machine::openssl_speed(results.machine.cores).await;

    let outcome = match build(&lab).await {
        Ok(built) => {
            if !args.no_pin {
                lab.pinning = lab::Pinning::apply().await;
                if let (Some(pin), None) = (&lab.pinning, args.threads) {
                    lab.plan.load.threads = u32::try_from(pin.load_cores).unwrap_or(1);
                    lab.plan.load.connections = lab.plan.load.connections.max(lab.plan.load.threads);
                    results.plan.load = lab.plan.load;
                }
                results.pinning.clone_from(&lab.pinning);
            }
            run_comparisons(&lab, built, &mut results).await
        }
        Err(error) => Err(error),
    };
    results.machine.load_end = machine::load_average();
    results.elapsed_s = started.elapsed().as_secs_f64();
    results.wrk_commands = lab.commands.lock().map(|c| c.clone()).unwrap_or_default();
    if args.keep {
        let kept = temp.keep();
        eprintln!("bench: kept the working directory {}", kept.display());
    }
    outcome?;
    if full || args.report {
        report::write(&results, &args.out)?;
        eprintln!("bench: wrote {}", args.out.join("REPORT.md").display());
    }
    eprintln!("{}", report::summary(&results));
    eprintln!("bench: done in {:.0}s", results.elapsed_s);
    Ok(())
}

async fn run_comparisons(lab: &Lab, built: Built, results: &mut Results) -> anyhow::Result<()> {
    let plan = &lab.plan;
    if plan.runs_any(&[Comparison::VerifierOverhead, Comparison::JwtAuthorizer]) {
        let context = format!("{} and {}", Comparison::VerifierOverhead.title(), Comparison::JwtAuthorizer.title());
        results.verifier = Some(Box::pin(comparisons::verifier::run(lab, built.peer)).await.context(context)?);
    }
    let Some(binaries) = built.binaries else {
        return Ok(());
    };
    if plan.runs_any(&[Comparison::StatelessVsStateful, Comparison::Minting]) {
        Box::pin(sessions_and_minting(lab, binaries.clone(), results)).await?;
    }
    if plan.runs(Comparison::Gateway) {
        let gateway = Box::pin(comparisons::gateway::run(lab, binaries)).await.context(Comparison::Gateway.title())?;
        results.gateway = Some(gateway);
    }
    Ok(())
}

/// Stateless vs stateful and minting share one auth-service: throughput (feed on, feed off,
/// introspection), minting, the outage runs, and last (after a restart with short-lived
/// access tokens) the revocation lags.
async fn sessions_and_minting(lab: &Lab, binaries: Binaries, results: &mut Results) -> anyhow::Result<()> {
    use comparisons::{auth_service::AuthLab, minting, sessions};
    let plan = &lab.plan;
    let sessions_title = Comparison::StatelessVsStateful.title();
    let normal_ttl = Duration::from_secs(600);
    let mut auth = AuthLab::start(lab, binaries, normal_ttl, plan.users).await.context("auth-service")?;
    let outcome = async {
        let target = if plan.runs(Comparison::StatelessVsStateful) {
            Some(sessions::OrdersTarget::start(lab, &auth).await?)
        } else {
            None
        };
        let mut part = None;
        if let Some(target) = &target {
            let throughput = sessions::throughput(lab, &auth, target, 3).await;
            part = Some(throughput.with_context(|| format!("{sessions_title}, throughput"))?);
        }
        if plan.runs(Comparison::Minting) {
            results.minting = Some(minting::run(lab, &auth).await.context(Comparison::Minting.title())?);
        }
        if let (Some(target), Some(throughput)) = (&target, part) {
            let (outage, restarts) =
                sessions::outage(lab, &mut auth, target, &throughput.tokens, normal_ttl, plan.access_ttl)
                    .await
                    .with_context(|| format!("{sessions_title}, outage"))?;
            let revocation = sessions::revocation::run(lab, &auth, target)
                .await
                .with_context(|| format!("{sessions_title}, revocation"))?;
            results.sessions = Some(sessions::SessionsResults {
                throughput: throughput.measured,
                local_vs_introspect: throughput.local_vs_introspect,
                local_no_feed_vs_introspect: throughput.local_no_feed_vs_introspect,
                feed_on_vs_off: throughput.feed_on_vs_off,
                cpu_feed_on_vs_off: throughput.cpu_feed_on_vs_off,
                outage,
                revocation,
                revocation_ttl_s: plan.access_ttl.as_secs(),
                leeway_s: plan.leeway.as_secs(),
                orders_per_user: 3,
                restart_s: restarts,
            });
        }
        if let Some(target) = target {
            target.stop().await;
        }
        anyhow::Ok(())
    }
    .await;
    auth.stop().await;
    outcome
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::All(args) => run_all(true, args).await,
            Command::Smoke(args) => run_all(false, args).await,
            Command::Serve(ServeCommand::Verifier(args)) => serve::verifier::run(args).await,
            Command::Serve(ServeCommand::Orders(args)) => {
                service_kit::telemetry::init("orders_service");
                serve::orders::run(*args).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn only(args: &[&str]) -> Vec<Comparison> {
        match Cli::try_parse_from(args).unwrap().command {
            Command::All(run) | Command::Smoke(run) => run.only,
            Command::Serve(_) => unreachable!(),
        }
    }

    #[test]
    fn comparisons_go_by_name_and_by_their_old_numbers() {
        Cli::command().debug_assert();
        let by_name = only(&["bench", "all", "--only", "verifier-overhead,jwt-authorizer,stateless-vs-stateful"]);
        assert_eq!(by_name, only(&["bench", "all", "--only", "1,2,3"]));
        assert_eq!(only(&["bench", "smoke", "--only", "gateway,minting"]), only(&["bench", "smoke", "--only", "4,5"]));
        assert_eq!(only(&["bench", "all"]), Vec::new());
        assert!(Cli::try_parse_from(["bench", "all", "--only", "6"]).is_err());
    }
}
