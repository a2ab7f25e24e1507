//! `REPORT.md`, `results.json` and the charts, from one run's [`Results`].
//!
//! Every figure in the report comes from the run; the prose around a figure that misses its
//! target is chosen by the figure, and says why and what would close the gap.
//!
//! This module assembles the document; its sections are modules of their own, in the
//! report's order: [`headline`], [`machine`] (the machine and the method), one a comparison
//! ([`verifier`] for verifier overhead and vs jwt-authorizer, [`sessions`], [`gateway`],
//! [`minting`]), each drawing its own charts, and [`targets`] (the closing notes).

mod gateway;
mod headline;
mod machine;
mod minting;
mod sessions;
mod targets;
#[cfg(test)]
mod tests;
mod verifier;

use std::{fmt::Write as _, path::Path};

use anyhow::Context;
use plotters::style::RGBColor;

use crate::{
    Results,
    charts::{self, Bar, Line, grouped},
    comparisons::Comparison,
    lab::Measured,
    stats::Spread,
};

fn rps(spread: &Spread) -> String {
    format!("{} ({}–{})", grouped(spread.median), grouped(spread.min), grouped(spread.max))
}

fn ms(spread: &Spread) -> String {
    format!("{:.2} ({:.2}–{:.2})", spread.median, spread.min, spread.max)
}

fn ratio(spread: &Spread) -> String {
    format!("{:.2}× ({:.2}–{:.2})", spread.median, spread.min, spread.max)
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value >= target { "**met**" } else { "**missed**" }
}

/// The verdict of a target that is a ceiling (a lag).
fn verdict_at_most(value: f64, target: f64) -> &'static str {
    if value <= target { "**met**" } else { "**missed**" }
}

/// The table of measured variants every comparison section starts with.
fn table(out: &mut String, rows: &[&Measured], cache: bool) {
    let cpu = rows.iter().any(|m| m.cpu_us_per_request.is_some());
    let _ = writeln!(
        out,
        "| variant | req/s, median (min–max) | p50 ms | p99 ms | errors |{}{}",
        if cpu { " server CPU µs/request | server cores busy |" } else { "" },
        if cache { " token-cache hits |" } else { "" }
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|{}{}",
        if cpu { "---:|---:|" } else { "" },
        if cache { "---:|" } else { "" }
    );
    for m in rows {
        let cpu_cells = match (cpu, &m.cpu_us_per_request, &m.cpu_cores) {
            (true, Some(per), Some(busy)) => {
                format!(" {:.1} ({:.1}–{:.1}) | {:.2} |", per.median, per.min, per.max, busy.median)
            }
            (true, _, _) => " – | – |".to_owned(),
            (false, _, _) => String::new(),
        };
        let hits = match (cache, m.cache_hit_rate) {
            (true, Some(rate)) => format!(" {:.1} % |", rate * 100.0),
            (true, None) => " – |".to_owned(),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |{cpu_cells}{hits}",
            m.label,
            rps(&m.rps),
            ms(&m.p50_ms),
            ms(&m.p99_ms),
            m.status_errors + m.socket_errors
        );
    }
    out.push('\n');
}

/// A throughput bar of `m`.
fn bar(m: &Measured, label: &str, color: RGBColor) -> Bar {
    Bar { label: label.to_owned(), value: m.rps, color }
}

/// The report's charts: drawn into one directory by the sections' `charts` functions, then
/// embedded by the sections that drew them.
struct Charts<'a> {
    dir: &'a Path,
    written: Vec<&'static str>,
}

impl Charts<'_> {
    fn bars(&mut self, name: &'static str, title: &str, y_label: &str, bars: &[Bar]) -> anyhow::Result<()> {
        charts::bars(&self.dir.join(name), title, y_label, bars)?;
        self.written.push(name);
        Ok(())
    }

    fn timeline(&mut self, name: &'static str, title: &str, y_label: &str, lines: &[Line]) -> anyhow::Result<()> {
        charts::timeline(&self.dir.join(name), title, y_label, lines)?;
        self.written.push(name);
        Ok(())
    }

    /// Links chart `name` into `out`, if it was drawn.
    fn embed(&self, out: &mut String, name: &str, alt: &str) {
        if self.written.contains(&name) {
            let _ = writeln!(out, "![{alt}]({name})\n");
        }
    }
}

/// Writes `REPORT.md`, `results.json` and the SVG charts into `out`.
///
/// # Errors
/// A file cannot be written.
pub fn write(results: &Results, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(results)? + "\n")?;
    let mut charts = Charts { dir: out, written: Vec::new() };
    if let Some(v) = &results.verifier {
        verifier::charts(&mut charts, v)?;
    }
    if let Some(s) = &results.sessions {
        sessions::charts(&mut charts, s)?;
    }
    if let Some(g) = &results.gateway {
        gateway::charts(&mut charts, g)?;
    }
    if let Some(m) = &results.minting {
        minting::charts(&mut charts, m, results.openssl.as_ref())?;
    }
    std::fs::write(out.join("REPORT.md"), render(results, &charts))?;
    Ok(())
}

fn render(r: &Results, charts: &Charts) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Produced by `{}` on {} ({} run, {:.0} s). Every figure below comes from that run; the raw numbers \
         are in [`results.json`](results.json). Re-run it on your own machine to get yours.\n",
        r.command, r.date, r.plan.mode, r.elapsed_s
    );
    headline::section(&mut out, r);
    machine::machine(&mut out, r);
    machine::method(&mut out, r);
    if let Some(v) = &r.verifier {
        verifier::section(&mut out, r, v, charts);
    }
    if let Some(s) = &r.sessions {
        sessions::section(&mut out, s, charts);
    }
    if let Some(g) = &r.gateway {
        let server_cores = r.pinning.as_ref().map_or(r.machine.cores, |p| p.server_cores);
        gateway::section(&mut out, g, server_cores, charts);
    }
    if let Some(m) = &r.minting {
        minting::section(&mut out, r, m, charts);
    }
    targets::section(&mut out, r);
    commands(&mut out, r);
    out
}

fn commands(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Exact commands\n");
    let _ = writeln!(out, "```text");
    let _ = writeln!(out, "{}", r.command);
    let _ = writeln!(out, "cargo build --release --manifest-path bench-peer/Cargo.toml    # by the runner");
    let _ = writeln!(out, "openssl speed -seconds 1 rsa2048");
    let _ = writeln!(out, "openssl speed -seconds 1 -multi {} rsa2048", r.machine.cores);
    for line in &r.wrk_commands {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "```\n");
    let _ = writeln!(
        out,
        "`$RUN_DIR` is the run's temporary directory (token files, databases, logs; `--keep` keeps it); the Lua \
         scripts are in `bench/lua/`."
    );
}

/// A few lines for the console at the end of a run.
#[must_use]
pub fn summary(r: &Results) -> String {
    let mut out = String::from("bench: summary\n");
    if let Some(v) = &r.verifier {
        let _ = writeln!(
            out,
            "  {}: hot/plain {}  cold/plain {}",
            Comparison::VerifierOverhead.title(),
            ratio(&v.hot_vs_plain),
            ratio(&v.cold_vs_plain)
        );
        if let (Some(h), Some(c)) = (&v.hot_vs_peer, &v.cold_vs_peer) {
            let _ = writeln!(out, "  {}: hot {}  cold {}", Comparison::JwtAuthorizer.title(), ratio(h), ratio(c));
        }
    }
    if let Some(s) = &r.sessions {
        let name = Comparison::StatelessVsStateful.title();
        let _ = writeln!(
            out,
            "  {name}: local (feed on)/introspect {}  feed on/off {}",
            ratio(&s.local_vs_introspect),
            ratio(&s.feed_on_vs_off)
        );
        for l in &s.revocation.lags {
            let _ = writeln!(
                out,
                "  {name}: revocation lag, {}: {}",
                sessions::mode_name(l.mode),
                sessions::lags(l, s.revocation.deadline_s)
            );
        }
    }
    if let Some(g) = &r.gateway
        && let Some(m) = g.variants.iter().find(|m| m.key == "gateway-orders")
    {
        let _ = writeln!(out, "  {}: {} req/s", Comparison::Gateway.title(), grouped(m.rps.median));
    }
    if let Some(m) = &r.minting {
        for g in &m.grants {
            let _ = writeln!(out, "  {}: {} {} tokens/s", Comparison::Minting.title(), g.key, grouped(g.rps.median));
        }
    }
    out
}
