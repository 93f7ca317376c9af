//! The random model checker checked against itself: a small in-memory driver that follows the
//! contract agrees with the model over thousands of operations, and the same driver with one
//! deliberate bug — the kind real drivers had — is caught and shrunk to a handful of steps that
//! replay to the same disagreement.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{Bug, fixture as memory};
use wharf_testsuite::Fixture;
use wharf_testsuite::random::{self, Mismatch, Options, parse_steps};

/// The in-memory driver with `bug`, reading in small odd-sized chunks.
fn fixture(bug: Bug) -> Arc<dyn Fixture> {
    memory(bug, 1009)
}

/// The first of seeds 1, 2, … whose sequence catches `bug`.
async fn caught(bug: Bug) -> Mismatch {
    for seed in 1..=20 {
        let options = Options {
            seed,
            ..Options::default()
        };
        if let Err(mismatch) = random::run(fixture(bug), options).await {
            return mismatch;
        }
    }
    panic!("{bug:?}: 20 runs of 300 operations found nothing");
}

/// `bug` is caught, shrunk to at most `steps` steps that end with `op`, and the printed
/// sequence replays to the same disagreement.
async fn caught_and_shrunk(bug: Bug, steps: usize, op: &str) {
    let mismatch = caught(bug).await;
    let text = mismatch.to_string();
    println!("{bug:?}: {text}");
    assert!(mismatch.steps.len() <= steps, "{bug:?}: {text}");
    assert!(mismatch.call.contains(op), "{bug:?}: {text}");
    assert!(text.contains("seed "), "{text}");
    let printed: String = text
        .lines()
        .filter(|l| l.starts_with("    ") && !l.trim_start().starts_with("driver:"))
        .filter(|l| !l.trim_start().starts_with("model:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let steps = parse_steps(&printed).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(steps, mismatch.steps);
    let again = random::replay(fixture(bug), steps, 0)
        .await
        .expect_err("the shrunk sequence replays to a disagreement");
    assert_eq!(again.call, mismatch.call, "{again}");
    assert_eq!(again.driver, mismatch.driver, "{again}");
    // Only the bug makes the difference.
    let fine = random::replay(fixture(Bug::None), mismatch.steps.clone(), 0).await;
    assert!(
        fine.is_ok(),
        "{bug:?}: the sequence fails without the bug too: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_that_follows_the_contract_agrees() {
    for seed in 1..=10 {
        let options = Options {
            ops: 1000,
            seed,
            ..Options::default()
        };
        if let Err(mismatch) = random::run(fixture(Bug::None), options).await {
            panic!("{mismatch}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_drops_an_entry_is_caught() {
    caught_and_shrunk(Bug::ListDropsLast, 4, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_prefix_siblings_is_caught() {
    caught_and_shrunk(Bug::DeletePrefixSiblings, 4, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_of_prefix_siblings_is_caught() {
    caught_and_shrunk(Bug::MovePrefixSiblings, 4, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_size_that_lies_is_caught() {
    caught_and_shrunk(Bug::ResumeSizeOffByOne, 4, "writer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disagreement_that_does_not_come_back_is_not_shrunk() {
    let mismatch = caught(Bug::StatLiesOnce).await;
    let text = mismatch.to_string();
    assert!(!mismatch.reproducible, "{text}");
    assert_eq!(mismatch.replays, 1, "{text}");
    assert!(text.contains("did not fail the same way"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_finds_the_same_sequence() {
    let a = caught(Bug::DeletePrefixSiblings).await;
    let b = caught(Bug::DeletePrefixSiblings).await;
    assert_eq!(a.to_string(), b.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_that_is_not_empty_is_refused() {
    let fx = fixture(Bug::None);
    fx.driver()
        .put_content("/existing", Bytes::from_static(b"data"))
        .await
        .expect("put_content");
    let mismatch = random::run(fx, Options::default())
        .await
        .expect_err("a run over existing data");
    assert!(mismatch.to_string().contains("/existing"), "{mismatch}");
}
