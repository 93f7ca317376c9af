//! The conformance suite through a [`FaultProxy`]: every check, each on a fixture of its own,
//! several at once, and a report of what failed and of the faults the proxy injected.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use wharf_testsuite::{Fixture, RunOptions};

use crate::FaultProxy;

/// The longest a check may take through the proxy before it counts as hung.
pub const CHECK_LIMIT: Duration = Duration::from_secs(180);

/// The least share of requests that must have been broken for a run to count.
pub const LEAST_FAULT_RATE: f64 = 0.05;

/// The share of requests the fault suites break: 8 %, so that at least [`LEAST_FAULT_RATE`]
/// are broken in any run.
pub const FAULT_RATE: f64 = 0.08;

/// The retry parameters every fault suite gives its driver: 10 retries from 20 ms, at most
/// 320 ms apart (±25 %). An operation fails only when every one of its attempts is broken; at
/// [`FAULT_RATE`] that is 0.08¹¹ ≈ 10⁻¹² per request with 11 attempts, where a driver's default
/// 5 attempts (0.08⁵ ≈ 3·10⁻⁶ per request, some 26 000 requests in the six suites) failed
/// about one CI run in twelve — a check that had simply run out of attempts.
pub const RETRIES: [(&str, &str); 3] = [
    ("max_retries", "10"),
    ("retry_delay", "20ms"),
    ("max_retry_delay", "320ms"),
];

/// Runs every conformance check on a fixture from `make` (whose driver sends its requests
/// through `proxy`), `parallel` checks at a time, and panics with every failure, the proxy's
/// seed and its statistics if any check failed or if fewer than [`LEAST_FAULT_RATE`] of the
/// requests were broken.
pub async fn run_suite_through<F, Fut>(label: &str, proxy: &FaultProxy, parallel: usize, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Fixture>>,
{
    let options = RunOptions {
        faults: true,
        ..RunOptions::from_env()
    };
    let make = &make;
    let trace = std::env::var_os("WHARF_FAULT_TRACE").is_some();
    if trace {
        eprintln!("{label}: seed {}", proxy.seed());
    }
    let failures: Vec<String> = futures::stream::iter(wharf_testsuite::checks())
        .map(|check| async move {
            if trace {
                eprintln!("{label}: {}/{} starts", check.group, check.name);
            }
            let began = proxy.now();
            let run = async {
                let fixture = make().await;
                if trace {
                    eprintln!("{label}: {}/{} has its fixture", check.group, check.name);
                }
                wharf_testsuite::run_check(&check, fixture, options).await
            };
            let outcome = tokio::time::timeout(CHECK_LIMIT, run).await;
            if trace {
                eprintln!("{label}: {}/{} ends", check.group, check.name);
            }
            match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => {
                    let e = e.to_string();
                    let failure = format!("{}/{}: {e}", check.group, check.name);
                    explain(label, proxy, &failure, root_named_in(&e), began);
                    Some(failure)
                }
                Err(_) => {
                    let failure = format!(
                        "{}/{}: not finished after {CHECK_LIMIT:?} (a hang)",
                        check.group, check.name
                    );
                    explain(label, proxy, &failure, None, began);
                    Some(failure)
                }
            }
        })
        .buffer_unordered(parallel.max(1))
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    let stats = proxy.stats();
    eprintln!(
        "{label} through the fault proxy (seed {}): {stats}",
        proxy.seed()
    );
    assert!(
        failures.is_empty(),
        "{label}: {} checks failed through the fault proxy (seed {}; {stats}):\n{}",
        failures.len(),
        proxy.seed(),
        failures.join("\n")
    );
    assert!(
        stats.rate() >= LEAST_FAULT_RATE,
        "{label}: only {:.1} % of the requests were broken ({stats})",
        100.0 * stats.rate()
    );
}

/// The most requests of each kind a failed check prints.
const SHOWN_REQUESTS: usize = 200;

/// Prints what the proxy did to the requests of a failed check, so that a failure seen once (in
/// CI) can be explained from its output alone: the requests naming the check's tree (`root`),
/// and every troubled request (faulted, failed, slow, still in flight) since the check `began`,
/// which covers requests that name no path of it (segments, upload sessions) and its
/// neighbours' that shared the machine.
fn explain(label: &str, proxy: &FaultProxy, failure: &str, root: Option<&str>, began: Duration) {
    let last = |lines: Vec<String>| {
        let total = lines.len();
        let shown = lines[total.saturating_sub(SHOWN_REQUESTS)..].join("\n  ");
        (total.min(SHOWN_REQUESTS), total, shown)
    };
    let mut text = format!("{label}: {failure}");
    if let Some(root) = root {
        let (n, total, shown) = last(proxy.requests_naming(root));
        text += &format!("\n  the last {n} of {total} requests naming {root}:\n  {shown}");
    }
    let (n, total, shown) = last(proxy.troubled_since(began));
    text += &format!(
        "\n  the last {n} of {total} troubled requests since the check began (+{:.3}s):\n  {shown}",
        began.as_secs_f64()
    );
    eprintln!("{text}");
}

/// The first part of the first contract path `error` names (`/x7k2_p.q-9/a/b` → `x7k2_p.q-9`): the
/// random root of the check that failed, which every request of its tree names. None when the
/// error names no path, or only ones too short to pick out its requests.
fn root_named_in(error: &str) -> Option<&str> {
    error.match_indices('/').find_map(|(i, _)| {
        let rest = &error[i + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
            .unwrap_or(rest.len());
        let root = &rest[..end];
        (root.len() >= 8).then_some(root)
    })
}

/// The seed for a run: `WHARF_FAULT_SEED` if set, else one drawn at random (the report prints
/// it, so a failure can be run again).
pub fn seed() -> u64 {
    std::env::var("WHARF_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

#[cfg(test)]
mod tests {
    use super::root_named_in;

    #[test]
    fn a_failure_names_its_check_root() {
        let e = "writer(true) failed: oss: load upload of /vil5_4qdn-zm/upload: reading the answer failed: streaming error";
        assert_eq!(root_named_in(e), Some("vil5_4qdn-zm"));
        assert_eq!(
            root_named_in("stat(/x.y-z_1234): not found"),
            Some("x.y-z_1234")
        );
        assert_eq!(
            root_named_in("list(/a/b) failed"),
            None,
            "too short to pick out"
        );
        assert_eq!(root_named_in("no path here"), None);
        assert_eq!(
            root_named_in("1/3 writers failed: write(/abcdefgh12/w-1): reset"),
            Some("abcdefgh12"),
            "the first long enough"
        );
    }
}
