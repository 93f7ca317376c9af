//! `wharf check`: runs the conformance suite on a driver created through the factory, one line
//! per check and a closing `N passed, M failed`. Each check gets fresh, empty storage: a new
//! namespace or temporary directory where Wharf can make one, otherwise the storage the
//! parameters name, which must be empty to begin with (so a check never touches real data).
//!
//! `wharf check file.wasm` runs the suite on a guest component: each check gets a fresh
//! registration (so a stateful guest starts empty) and, for every directory the guest's manifest
//! requests and no `--allow-dir` grants, a fresh temporary directory granted at that path.
//!
//! `wharf check DRIVER --random N [--seed S]` runs N random operations against the contract's
//! model instead of the checks (`wharf_testsuite::random`), on storage made the same way, and
//! prints the seed first so that a disagreement, shrunk to a short sequence, can be replayed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use wharf::{DriverRegistry, WithBuiltin};
use wharf_testsuite::random;
use wharf_testsuite::{Check, FactoryFixture, Fixture, RunOptions};

use crate::guest::SandboxArgs;
use crate::progress;
use crate::storage::{self, Storage, clear};
use crate::target::parse_param;

/// Arguments of `wharf check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The driver to check; without one, every built-in driver that needs no server.
    pub driver: Option<String>,
    /// A driver parameter, `key=value` (repeatable).
    #[arg(long = "param", short = 'p', value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Also run the long checks (5 GiB stream, 32 × 32 MiB writers, 128 MiB readers).
    #[arg(long)]
    pub long: bool,
    /// Run only the checks whose `group/name` contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Instead of the checks, run N random operations against the contract's model; a
    /// disagreement is shrunk to a short sequence of steps and printed.
    #[arg(long, value_name = "N", conflicts_with_all = ["long", "filter"])]
    pub random: Option<usize>,
    /// The seed of `--random` (default: a fresh one; the seed used is always printed).
    #[arg(long, value_name = "S", requires = "random", value_parser = parse_seed)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let registry = DriverRegistry::with_builtin();
    let drivers: Vec<String> = match &args.driver {
        Some(d) => vec![d.clone()],
        None => wharf::serverless_drivers()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    if args.driver.is_none() && !args.params.is_empty() {
        bail!("-p needs a driver name: wharf check DRIVER -p key=value");
    }
    if let Some(ops) = args.random {
        return run_random(&registry, &drivers, &args, ops).await;
    }
    let options = RunOptions {
        long: args.long || RunOptions::from_env().long,
        ..RunOptions::default()
    };
    let checks: Vec<Check> = wharf_testsuite::checks()
        .into_iter()
        .filter(|c| {
            args.filter
                .as_deref()
                .is_none_or(|f| format!("{}/{}", c.group, c.name).contains(f))
        })
        .collect();
    if checks.is_empty() {
        bail!("no check matches the filter");
    }
    let (mut passed, mut failed) = (0usize, 0usize);
    for name in &drivers {
        let storage = open_storage(&registry, name, &args).await?;
        let (p, f) = run_driver(&storage, &checks, options).await?;
        passed += p;
        failed += f;
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Where the checks (or random operations) of the driver or component `name` run.
async fn open_storage(
    registry: &DriverRegistry,
    name: &str,
    args: &CheckArgs,
) -> anyhow::Result<Storage> {
    storage::open(registry, name, &args.params, &args.sandbox).await
}

/// `--random N`: N random operations per driver against the contract's model, on fresh (or
/// required empty) storage as the checks get it; one line per driver, then `N passed, M failed`.
async fn run_random(
    registry: &DriverRegistry,
    drivers: &[String],
    args: &CheckArgs,
    ops: usize,
) -> anyhow::Result<ExitCode> {
    let seed = args.seed.unwrap_or_else(random::random_seed);
    println!("random operations: seed {seed}, {ops} operations per driver");
    let options = random::Options {
        ops,
        seed,
        ..random::Options::default()
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for name in drivers {
        let storage = open_storage(registry, name, args).await?;
        let (registry, params, guard) = storage.for_check()?;
        let fixture: Arc<dyn Fixture> = Arc::new(
            FactoryFixture::new(registry, &storage.name, params)
                .await
                .with_context(|| format!("cannot create the driver {name}"))?
                .keep(guard),
        );
        let bar = progress::checks(1);
        bar.set_message(format!("{name}: {ops} random operations"));
        let result = random::run(fixture.clone(), options).await;
        bar.finish_and_clear();
        match result {
            Ok(report) => {
                passed += 1;
                println!("ok    {name:<11} {report}");
                println!("      {:<11} {}", "", report.operations());
            }
            Err(mismatch) => {
                failed += 1;
                println!("FAIL  {name:<11} {mismatch}");
                println!("replay: wharf check {name} --random {ops} --seed {seed}");
                if storage.shared {
                    clear(fixture.driver().as_ref()).await;
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_seed(text: &str) -> Result<u64, String> {
    random::parse_seed(text)
        .ok_or_else(|| format!("expected a number (e.g. 7 or 0x1f), got {text:?}"))
}

async fn run_driver(
    storage: &Storage,
    checks: &[Check],
    options: RunOptions,
) -> anyhow::Result<(usize, usize)> {
    let name = storage.name.as_str();
    let bar = progress::checks(checks.len() as u64);
    let (mut passed, mut failed) = (0, 0);
    for check in checks {
        bar.set_message(format!("{name}: {}/{}", check.group, check.name));
        let started = Instant::now();
        let (registry, params, guard) = storage.for_check()?;
        let result = match FactoryFixture::new(registry, name, params).await {
            Ok(fixture) => {
                let fixture: Arc<dyn Fixture> = Arc::new(fixture.keep(guard));
                let result = wharf_testsuite::run_check(check, fixture.clone(), options).await;
                if result.is_err() && storage.shared {
                    // The next check needs empty storage; everything here was made by checks.
                    clear(fixture.driver().as_ref()).await;
                }
                result.map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("cannot create the driver: {e:#}")),
        };
        let took = started.elapsed();
        let line = match &result {
            Ok(()) => {
                passed += 1;
                format!(
                    "ok    {name:<11} {}/{} ({took:.2?})",
                    check.group, check.name
                )
            }
            Err(e) => {
                failed += 1;
                format!("FAIL  {name:<11} {}/{}: {e}", check.group, check.name)
            }
        };
        bar.suspend(|| println!("{line}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((passed, failed))
}
