//! The public conformance suite on the swift driver with a fault proxy between the driver and
//! Swift (authentication included: tempauth hands out storage URLs on the host it was asked
//! on, the proxy): a share of the requests is broken (connections reset before, during and
//! after a request, answers cut in their body, stalls longer than the driver's timeouts, 500s,
//! 503s, 498 from rate limiting), and every check must pass all the same. `WHARF_FAULT_SEED`
//! replays a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use wharf_reliability::suite::{FAULT_RATE, RETRIES, run_suite_through, seed};
use wharf_reliability::{Canned, FaultProxy, Plan};
use wharf_testsuite::{FactoryFixture, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_through_faults() {
    let server = common::server();
    let plan = Plan::every_fault(
        FAULT_RATE,
        Duration::from_secs(8),
        &[Canned::swift_rate_limited(), Canned::too_many_requests()],
    );
    let proxy = FaultProxy::in_front_of(&server.auth_url, plan, seed())
        .await
        .expect("start the fault proxy");
    let auth_url = proxy.rewrite(&server.auth_url);
    run_suite_through("swift", &proxy, 8, || async {
        let container = common::unique_container("faults");
        let mut params = common::params(
            &server,
            &container,
            &[&RETRIES[..], &[("read_timeout", "4s")]].concat(),
        );
        params.insert("authurl", auth_url.as_str());
        Arc::new(
            FactoryFixture::new(common::registry(), wharf_driver_swift::NAME, params)
                .await
                .expect("create the swift driver"),
        ) as Arc<dyn Fixture>
    })
    .await;
}
