//! The public conformance suite on the oss driver with a fault proxy between the driver and
//! moto (OSS's S3 protocol, as the driver speaks it to OSS): a share of the requests is broken
//! (connections reset before, during and after a request, answers cut in their body, stalls
//! longer than the driver's timeouts, 500s, 503s), and every check must pass all the same.
//! `WHARF_FAULT_SEED` replays a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use wharf_reliability::suite::{FAULT_RATE, RETRIES, run_suite_through, seed};
use wharf_reliability::{Canned, FaultProxy, Plan};
use wharf_testsuite::{FactoryFixture, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_through_faults() {
    let plan = Plan::every_fault(
        FAULT_RATE,
        Duration::from_secs(3),
        &[Canned::s3_slow_down()],
    );
    let proxy = FaultProxy::in_front_of(&common::moto_endpoint(), plan, seed())
        .await
        .expect("start the fault proxy");
    let endpoint = proxy.url();
    run_suite_through("oss on moto", &proxy, 8, || async {
        let bucket = common::moto_bucket("faults").await;
        let params = common::oss_params(
            &endpoint,
            &bucket,
            common::MOTO_KEY,
            common::MOTO_KEY,
            &[
                &RETRIES[..],
                &[
                    ("rootdirectory", "/wharf/oss-faults/"),
                    ("chunksize", "5MiB"),
                    ("read_timeout", "1s"),
                ],
            ]
            .concat(),
        );
        Arc::new(
            FactoryFixture::new(common::registry(), "oss", params)
                .await
                .expect("create the oss driver"),
        ) as Arc<dyn Fixture>
    })
    .await;
}
