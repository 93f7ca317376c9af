//! The public conformance suite on the bundled S3 guest with the fault proxy between the sandbox
//! and moto: the guest's outbound HTTP (through `wasi:http`, under the operator's allow-list,
//! which names the proxy) meets the same faults as the native drivers' fault suites, on at least
//! 5 % of its requests, and every check must pass all the same. `WHARF_FAULT_SEED` replays a run.

use std::sync::Arc;
use std::time::Duration;

use wharf::{DriverRegistry, Params, WithBuiltin};
use wharf_driver_s3::testing as s3;
use wharf_reliability::suite::{run_suite_through, seed};
use wharf_reliability::{Canned, FaultProxy, Plan};
use wharf_testsuite::{FactoryFixture, Fixture};

/// Faults on 8 % of the requests, so that at least 5 % are broken in any run.
fn plan() -> Plan {
    Plan::every_fault(
        0.08,
        Duration::from_secs(3),
        &[Canned::s3_slow_down(), Canned::s3_internal_error()],
    )
}

// Ignored until a guest's reader can be resumed: a reader's body is a stream the host reads
// itself, and when it breaks off the host has no way yet to ask the guest for the rest pinned
// to the same version (`wharf:storage` needs a `reopen` for that), so a racing reader fails
// (1 run in 3 here: `put_is_atomic_for_readers`, seed 3928445596803299424). Everything else
// passes: `cargo test -p wharf-reliability --test guest_faults -- --include-ignored`.
#[ignore = "a guest reader's broken body cannot be resumed yet (docs/RELIABILITY.md)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_s3_suite_through_faults() {
    let proxy = FaultProxy::in_front_of(&s3::moto_endpoint(), plan(), seed())
        .await
        .expect("start the fault proxy");
    let endpoint = proxy.url();
    run_suite_through("guest-s3 on moto", &proxy, 8, || async {
        let bucket = s3::unique_bucket("guestfaults");
        s3::create_bucket(&s3::moto_endpoint(), &bucket, s3::MOTO_KEY, s3::MOTO_KEY).await;
        let params = Params::from_pairs([
            ("bucket", bucket),
            ("regionendpoint", endpoint.clone()),
            ("region", "us-east-1".into()),
            ("forcepathstyle", "true".into()),
            ("accesskey", s3::MOTO_KEY.into()),
            ("secretkey", s3::MOTO_KEY.into()),
            ("rootdirectory", "/wharf/guestfaults/".into()),
            ("chunksize", "5MiB".into()),
        ]);
        Arc::new(
            FactoryFixture::new(DriverRegistry::with_builtin(), wharf::guests::S3, params)
                .await
                .expect("create the S3 guest driver"),
        ) as Arc<dyn Fixture>
    })
    .await;
}
