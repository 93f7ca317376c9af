//! The public conformance suite on the gcs driver with a fault proxy between the driver and
//! fake-gcs-server: a share of the requests is broken (connections reset before, during and after
//! a request, answers cut in their body, stalls longer than the driver's timeouts, 500s, 503s,
//! 429 `rateLimitExceeded`), and every check must pass all the same. The chunks of a resumable
//! upload go to the session URL the server hands out, which names the server itself: those pass
//! beside the proxy. `WHARF_FAULT_SEED` replays a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use wharf_reliability::suite::{FAULT_RATE, RETRIES, run_suite_through, seed};
use wharf_reliability::{Canned, FaultProxy, Plan};
use wharf_testsuite::{FactoryFixture, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_through_faults() {
    //
    // The chunks of a resumable upload get only error answers. A chunk whose answer is lost
    // is not sent again (some servers would store it twice); GCS then tells what the session
    // holds in answer to `Content-Range: bytes */*`, but fake-gcs-server takes that query for
    // the end of the upload and commits the object with what it has, so against it the
    // writer fails such a chunk, safely, instead of asking (docs/RELIABILITY.md).
    let plan = Plan::every_fault(
        FAULT_RATE,
        Duration::from_secs(8),
        &[Canned::gcs_rate_limited()],
    )
    .sparing("PUT", "upload_id=");
    let proxy = FaultProxy::in_front_of(&common::endpoint(), plan, seed())
        .await
        .expect("start the fault proxy")
        // fake-gcs-server routes by Host: it must see its own.
        .upstream_host();
    let endpoint = proxy.url();
    run_suite_through("gcs on fake-gcs-server", &proxy, 8, || async {
        let bucket = common::unique_bucket("faults");
        common::create_bucket(&bucket).await;
        let mut params =
            common::key_params(&bucket, &[&RETRIES[..], &[("read_timeout", "4s")]].concat());
        params.insert("endpoint", endpoint.as_str());
        Arc::new(
            FactoryFixture::new(common::registry(), wharf_driver_gcs::NAME, params)
                .await
                .expect("create the gcs driver"),
        ) as Arc<dyn Fixture>
    })
    .await;
}
