//! `tomoe bench …`: benchmarks that run a named baseline in the same run and report ratios.

use clap::Subcommand;

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCmd {}

/// Runs a benchmark.
pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {}
}
