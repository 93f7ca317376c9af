//! Randomized model checking: a seeded sequence of operations — every operation of the
//! contract, over a small crowded tree with prefix siblings and deep paths, writers resumed from
//! the second instance, batches of concurrent calls — runs against a driver and against a
//! reference model of CONTRACT.md, and a disagreement is shrunk to a short sequence that shows
//! it.
//!
//! ```ignore
//! let report = wharf_testsuite::random::run(fixture, Options { ops: 300, seed: 7, ..Options::default() }).await?;
//! ```
//!
//! Outcomes are compared on what the contract fixes: error kinds (never messages), contents
//! byte for byte, `stat`'s size and `is_dir`, `list`'s set and order, `walk`'s order and
//! entries; where the contract lets a driver choose, every allowed answer passes (`model.rs`
//! lists the choices). Calls in one batch touch paths that cannot interfere, so their outcomes
//! do not depend on timing. The run ends with the storage empty: open writers are cancelled,
//! parked uploads resumed and cancelled, and every child of `/` deleted — and a file left behind
//! is a disagreement too.
//!
//! A [`Mismatch`] prints the seed, the shrunk sequence one step per line (the form
//! [`parse_steps`] reads back, for [`replay`]) and what the driver and the model said.

mod exec;
mod generate;
mod model;
mod ops;
mod shrink;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_runtime::{StorageDriver, WalkControl, WalkOptions};

pub use ops::{Call, Content, Instance, Op, Step, WalkEnd, parse_steps};

use crate::Fixture;
use exec::{Drivers, HUNG, Shown, Writers, cancel_all, limited, run_calls};
use generate::{Generator, interfere};
use model::Model;

/// The seed the generated `random_operations` tests use unless `WHARF_SEED` names another.
pub const DEFAULT_SEED: u64 = 1;

/// How many operations the generated tests run unless `WHARF_RANDOM_OPS` says otherwise.
pub const DEFAULT_OPS: usize = 300;

/// How a random run is configured.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Operations to run (each call of a batch counts).
    pub ops: usize,
    /// The generator's seed: the same seed gives the same sequence.
    pub seed: u64,
    /// The most calls in one batch (1: no concurrent calls).
    pub concurrency: usize,
    /// The most replays shrinking may spend on a failing sequence.
    pub shrink_replays: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ops: DEFAULT_OPS,
            seed: DEFAULT_SEED,
            concurrency: 4,
            shrink_replays: 500,
        }
    }
}

impl Options {
    /// The defaults, with `WHARF_SEED` (decimal or `0x` hexadecimal), `WHARF_RANDOM_OPS` and
    /// `WHARF_RANDOM_SHRINK` (the replay budget of shrinking) from the environment when set.
    pub fn from_env() -> Result<Self, String> {
        let mut options = Self::default();
        if let Ok(seed) = std::env::var("WHARF_SEED") {
            options.seed = parse_seed(&seed).ok_or_else(|| {
                format!("WHARF_SEED: expected a number (e.g. 7 or 0x1f), got {seed:?}")
            })?;
        }
        if let Ok(ops) = std::env::var("WHARF_RANDOM_OPS") {
            options.ops = ops
                .trim()
                .parse()
                .map_err(|_| format!("WHARF_RANDOM_OPS: expected a number, got {ops:?}"))?;
        }
        if let Ok(replays) = std::env::var("WHARF_RANDOM_SHRINK") {
            options.shrink_replays = replays
                .trim()
                .parse()
                .map_err(|_| format!("WHARF_RANDOM_SHRINK: expected a number, got {replays:?}"))?;
        }
        Ok(options)
    }
}

/// Reads a seed: decimal, or hexadecimal after `0x`.
pub fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// A fresh random seed, for a run that names none (print it: it reproduces the run).
pub fn random_seed() -> u64 {
    rand::random::<u64>() >> 16
}

/// The sequence `seed` names: steps holding at least `ops` calls, batches of at most
/// `concurrency`.
pub fn generate(seed: u64, ops: usize, concurrency: usize) -> Vec<Step> {
    Generator::new(seed, concurrency).steps(ops)
}

/// What a run that found no disagreement did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed, when the sequence was generated.
    pub seed: Option<u64>,
    /// Calls run.
    pub ops: usize,
    /// Steps in the sequence.
    pub steps: usize,
    /// Steps that were batches of concurrent calls.
    pub batches: usize,
    /// Steps left out because an earlier answer (one the contract allows) made them
    /// undecided by the contract.
    pub skipped: usize,
    /// Calls per operation (`put_content`, `walk`, …): how many succeeded and how many failed
    /// (as the model expected them to).
    pub by_operation: BTreeMap<&'static str, (usize, usize)>,
    /// How long the run took, clean-up included.
    pub elapsed: Duration,
}

impl Report {
    /// The calls per operation on one line: `put_content 52+3, …` (succeeded + failed).
    pub fn operations(&self) -> String {
        let parts: Vec<String> = self
            .by_operation
            .iter()
            .map(|(op, (ok, failed))| format!("{op} {ok}+{failed}"))
            .collect();
        parts.join(", ")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} operations in {} steps ({} concurrent batches, {} skipped)",
            self.ops, self.steps, self.batches, self.skipped
        )?;
        if let Some(seed) = self.seed {
            write!(f, ", seed {seed}")?;
        }
        write!(
            f,
            ": the driver agrees with the model ({:.2?})",
            self.elapsed
        )
    }
}

/// A disagreement between the driver and the model, shrunk.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// The seed of the generated sequence (none for [`replay`]).
    pub seed: Option<u64>,
    /// The shortest sequence found that fails the same way; the last step disagrees, unless
    /// the clean-up after it did ([`Mismatch::call`] says which).
    pub steps: Vec<Step>,
    /// Steps of the sequence before shrinking.
    pub original_steps: usize,
    /// Replays spent shrinking.
    pub replays: usize,
    /// False when the sequence, replayed from empty storage, did not fail the same way again:
    /// the disagreement depends on more than the steps (timing, or what the failing run left in
    /// the backend), and the sequence is not shrunk.
    pub reproducible: bool,
    /// The call that disagreed (or `clean-up`).
    pub call: String,
    /// What the driver answered.
    pub driver: String,
    /// What the contract allows there.
    pub model: String,
}

impl Mismatch {
    fn setup(seed: Option<u64>, driver: String, model: &str) -> Self {
        Self {
            seed,
            steps: Vec::new(),
            original_steps: 0,
            replays: 0,
            reproducible: true,
            call: "setting up".into(),
            driver,
            model: model.into(),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("random operations")?;
        if let Some(seed) = self.seed {
            write!(f, ", seed {seed}")?;
        }
        f.write_str(": the driver disagrees with the model\n")?;
        if !self.steps.is_empty() {
            writeln!(
                f,
                "shortest sequence found ({} of {} steps, {} replays):",
                self.steps.len(),
                self.original_steps,
                self.replays
            )?;
            for step in &self.steps {
                writeln!(f, "    {step}")?;
            }
            if !self.reproducible {
                writeln!(
                    f,
                    "(replayed from empty storage, this sequence did not fail the same way \
                     again, so it is not shrunk: the disagreement depends on timing or on what \
                     the first run left in the backend)"
                )?;
            }
        }
        writeln!(f, "at {}:", self.call)?;
        writeln!(f, "    driver: {}", self.driver)?;
        write!(f, "    model:  {}", self.model)
    }
}

impl std::error::Error for Mismatch {}

/// Generates the sequence of `options.seed`, runs it on `fixture` (which must be empty) and
/// against the model, and shrinks a disagreement. The storage is left empty.
pub async fn run(fixture: Arc<dyn Fixture>, options: Options) -> Result<Report, Mismatch> {
    let steps = generate(options.seed, options.ops, options.concurrency);
    check(fixture, steps, Some(options.seed), options.shrink_replays).await
}

/// Runs a given sequence (say, one a [`Mismatch`] printed, read with [`parse_steps`]) on
/// `fixture` and against the model, shrinking a disagreement within `shrink_replays`.
pub async fn replay(
    fixture: Arc<dyn Fixture>,
    steps: Vec<Step>,
    shrink_replays: usize,
) -> Result<Report, Mismatch> {
    check(fixture, steps, None, shrink_replays).await
}

async fn check(
    fixture: Arc<dyn Fixture>,
    steps: Vec<Step>,
    seed: Option<u64>,
    shrink_replays: usize,
) -> Result<Report, Mismatch> {
    let started = Instant::now();
    let second = fixture.second_instance().await.map_err(|e| {
        Mismatch::setup(
            seed,
            format!("{e:#}"),
            "a second instance of the same configuration",
        )
    })?;
    let runner = Runner {
        drivers: Drivers {
            first: fixture.driver(),
            second,
        },
    };
    match first_file(runner.drivers.first.as_ref()).await {
        Ok(None) => {}
        Ok(Some(found)) => {
            return Err(Mismatch::setup(
                seed,
                format!("the storage holds {found}"),
                "empty storage to start from",
            ));
        }
        Err(e) => {
            return Err(Mismatch::setup(
                seed,
                format!("walk(\"/\") failed: {e}"),
                "empty storage to start from",
            ));
        }
    }
    match runner.replay(&steps).await {
        Ok(stats) => Ok(Report {
            seed,
            ops: stats.ops,
            steps: steps.len(),
            batches: stats.batches,
            skipped: stats.skipped,
            by_operation: stats.by_operation,
            elapsed: started.elapsed(),
        }),
        Err(failure) => {
            let original_steps = steps.len();
            // A hung call is not shrunk: every replay would wait out the limit again.
            let budget = if failure.hung { 0 } else { shrink_replays };
            let shrunk = shrink::shrink(&runner, steps, failure, budget).await;
            Err(Mismatch {
                seed,
                steps: shrunk.steps,
                original_steps,
                replays: shrunk.replays,
                reproducible: shrunk.reproducible,
                call: shrunk.failure.call,
                driver: shrunk.failure.got,
                model: shrunk.failure.expected,
            })
        }
    }
}

/// Runs a random test for a driver crate's tests ([`conformance_tests!`](crate::conformance_tests)
/// generates one): options from the environment, a fixture from `make`, a panic with the
/// mismatch on failure.
#[doc(hidden)]
pub async fn run_test<F, Fut>(make: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Arc<dyn Fixture>>,
{
    let options = Options::from_env().unwrap_or_else(|e| panic!("{e}"));
    let fixture = make().await;
    match run(fixture, options).await {
        Ok(report) => println!("{report}\n{}", report.operations()),
        Err(mismatch) => panic!("{mismatch}"),
    }
}

/// Where and how a replay disagreed.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The step (the sequence's length for the clean-up after it).
    pub(crate) index: usize,
    /// The call, as text.
    pub(crate) call: String,
    /// What the shrinker keeps constant: the operation that disagreed.
    pub(crate) signature: String,
    /// The call never answered: shrinking (replaying again and again) would only wait more.
    pub(crate) hung: bool,
    pub(crate) got: String,
    pub(crate) expected: String,
}

/// What a replay that agreed ran.
pub(crate) struct Stats {
    ops: usize,
    batches: usize,
    skipped: usize,
    by_operation: BTreeMap<&'static str, (usize, usize)>,
}

/// Replays sequences on one fixture's two instances.
pub(crate) struct Runner {
    drivers: Drivers,
}

impl Runner {
    /// Runs `steps` from empty storage against a fresh model and empties the storage again.
    pub(crate) async fn replay(&self, steps: &[Step]) -> Result<Stats, Failure> {
        self.clear_leftovers().await;
        let mut model = Model::default();
        let mut writers = Writers::new();
        let mut stats = Stats {
            ops: 0,
            batches: 0,
            skipped: 0,
            by_operation: BTreeMap::new(),
        };
        let mut outcome = Ok(());
        'steps: for (index, step) in steps.iter().enumerate() {
            let calls = step.calls();
            if !allowed(&model, calls) {
                stats.skipped += 1;
                continue;
            }
            let outcomes = run_calls(&self.drivers, &mut writers, calls).await;
            stats.ops += calls.len();
            stats.batches += usize::from(calls.len() > 1);
            for (call, got) in calls.iter().zip(&outcomes) {
                let count = stats.by_operation.entry(call.op.name()).or_default();
                match got {
                    Ok(exec::Answer::Walked { error: Some(_), .. }) | Err(_) => count.1 += 1,
                    Ok(_) => count.0 += 1,
                }
                if let Err(expected) = model.apply(call, Some(got)) {
                    outcome = Err(Failure {
                        index,
                        call: if calls.len() > 1 {
                            format!("`{call}` (in step {}: `{step}`)", index + 1)
                        } else {
                            format!("`{call}` (step {})", index + 1)
                        },
                        signature: call.op.name().to_owned(),
                        hung: matches!(got, Err(f) if f.text == HUNG),
                        got: Shown(got).to_string(),
                        expected,
                    });
                    break 'steps;
                }
            }
        }
        let cleaned = self.clean_up(&mut writers, steps).await;
        outcome?;
        cleaned.map_err(|got| Failure {
            index: steps.len(),
            call: "the clean-up after the last step (cancel uploads, delete every child of /)"
                .into(),
            signature: "clean-up".into(),
            hung: got.contains(HUNG),
            got,
            expected: "no file left".into(),
        })?;
        Ok(stats)
    }

    /// Cancels open writers and every upload the sequence may have parked, deletes every child
    /// of `/`, and fails with what is left if any file remains.
    async fn clean_up(&self, writers: &mut Writers, steps: &[Step]) -> Result<(), String> {
        cancel_all(writers).await;
        let d = self.drivers.first.as_ref();
        let uploads: BTreeSet<&str> = steps
            .iter()
            .flat_map(Step::calls)
            .filter_map(|c| match &c.op {
                Op::OpenWriter { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        for path in uploads {
            if let Ok(mut w) = limited(d.writer(path, true)).await {
                let _ = limited(w.cancel()).await;
            }
        }
        let children = limited(d.list("/"))
            .await
            .map_err(|e| format!("list(\"/\") failed: {e:#}"))?;
        for child in &children {
            match limited(d.delete(child)).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(format!("delete({child}) failed: {e:#}")),
            }
        }
        match first_file(d).await {
            Ok(None) => Ok(()),
            Ok(Some(found)) => Err(format!(
                "after deleting {children:?}, walk(\"/\") still finds {found}"
            )),
            Err(e) => Err(format!("walk(\"/\") failed: {e:#}")),
        }
    }

    /// Deletes what an earlier replay that went wrong may have left.
    async fn clear_leftovers(&self) {
        let d = self.drivers.first.as_ref();
        if let Ok(Some(_)) = first_file(d).await
            && let Ok(children) = limited(d.list("/")).await
        {
            for child in children {
                let _ = limited(d.delete(&child)).await;
            }
        }
    }
}

/// Whether the model lets a step run: each call decided by the contract in this state, no two
/// calls interfering, no writer number opened twice.
fn allowed(model: &Model, calls: &[Call]) -> bool {
    calls.iter().all(|c| model.allows(c))
        && calls
            .iter()
            .enumerate()
            .all(|(i, a)| calls[i + 1..].iter().all(|b| !interfere(model, a, b)))
}

/// The first file in walk order, if any.
async fn first_file(driver: &dyn StorageDriver) -> wharf_runtime::Result<Option<String>> {
    let mut found = None;
    limited(driver.walk("/", &WalkOptions::default(), &mut |info| {
        if info.is_dir {
            Ok(WalkControl::Continue)
        } else {
            found = Some(info.path.clone());
            Ok(WalkControl::Stop)
        }
    }))
    .await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let a = generate(7, 300, 4);
        let b = generate(7, 300, 4);
        assert_eq!(a, b);
        let c = generate(8, 300, 4);
        assert_ne!(a, c);
        let calls: usize = a.iter().map(|s| s.calls().len()).sum();
        assert!(calls >= 300, "{calls}");
    }

    #[test]
    fn sequences_read_back_from_their_text() {
        let steps = generate(11, 500, 4);
        let text: String = steps.iter().map(|s| format!("{s}\n")).collect();
        assert_eq!(parse_steps(&text).unwrap(), steps);
    }

    #[test]
    fn every_operation_is_generated() {
        let steps = generate(3, 3000, 4);
        let names: BTreeSet<&str> = steps
            .iter()
            .flat_map(Step::calls)
            .map(|c| c.op.name())
            .collect();
        for name in [
            "put_content",
            "get_content",
            "read",
            "stat",
            "list",
            "walk",
            "move",
            "delete",
            "redirect_url",
            "writer",
            "write",
            "commit",
            "close",
            "cancel",
        ] {
            assert!(names.contains(name), "{name} never generated");
        }
        assert!(steps.iter().any(|s| matches!(s, Step::Batch(_))));
        assert!(
            steps
                .iter()
                .flat_map(Step::calls)
                .any(|c| c.on == Instance::Second)
        );
        let appends = steps
            .iter()
            .flat_map(Step::calls)
            .filter(|c| matches!(c.op, Op::OpenWriter { append: true, .. }))
            .count();
        assert!(appends > 10, "{appends} appends");
    }

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("7"), Some(7));
        assert_eq!(parse_seed(" 0x1f "), Some(31));
        assert_eq!(parse_seed("seven"), None);
    }
}
