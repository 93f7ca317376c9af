//! The public conformance suite on the s3 driver with a fault proxy between the driver and
//! moto: a share of the requests is broken (connections reset before, during and after a
//! request, answers cut in their body, stalls longer than the driver's timeouts, 500s, 503
//! `SlowDown`s), and every check must pass all the same. `WHARF_FAULT_SEED` replays a run.

mod common;

use std::sync::Arc;

use wharf_reliability::suite::{run_suite_through, seed};
use wharf_reliability::{FaultProxy, Plan};
use wharf_testsuite::{FactoryFixture, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_through_faults() {
    let proxy = FaultProxy::in_front_of(&common::moto_endpoint(), Plan::s3(), seed())
        .await
        .expect("start the fault proxy");
    let endpoint = proxy.url();
    run_suite_through("s3 on moto", &proxy, 8, || async {
        let bucket = common::moto_bucket("faults").await;
        let mut params = common::moto_params(
            &bucket,
            &[
                ("rootdirectory", "/wharf/faults/"),
                ("chunksize", "5MiB"),
                ("retry_delay", "20ms"),
                ("read_timeout", "1s"),
            ],
        );
        params.insert("regionendpoint", endpoint.as_str());
        Arc::new(
            FactoryFixture::new(common::registry(), "s3", params)
                .await
                .expect("create the s3 driver"),
        ) as Arc<dyn Fixture>
    })
    .await;
}
