//! The public conformance suite on the bundled S3 guest with the fault proxy between the sandbox
//! and moto: the guest's outbound HTTP (through `wasi:http`, under the operator's allow-list,
//! which names the proxy) meets the same faults as the native drivers' fault suites, on at least
//! 5 % of its requests, and every check must pass all the same. `WHARF_FAULT_SEED` replays a run.
//! Then a reader whose body breaks off, resumed through the guest's `resume.reopen`: to its last
//! byte, or, when the object was replaced meanwhile, ended by an error rather than spliced.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use wharf::{DriverRegistry, Params, StorageDriver, WithBuiltin};
use wharf_driver_s3::testing as s3;
use wharf_reliability::suite::{RETRIES, run_suite_through, seed};
use wharf_reliability::{Fault, FaultProxy, Plan};
use wharf_testsuite::{FactoryFixture, Fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_s3_suite_through_faults() {
    let proxy = FaultProxy::in_front_of(&s3::moto_endpoint(), Plan::s3(), seed())
        .await
        .expect("start the fault proxy");
    let endpoint = proxy.url();
    run_suite_through("guest-s3 on moto", &proxy, 8, || async {
        Arc::new(
            FactoryFixture::new(
                DriverRegistry::with_builtin(),
                wharf::guests::S3,
                params(&endpoint).await,
            )
            .await
            .expect("create the S3 guest driver"),
        ) as Arc<dyn Fixture>
    })
    .await;
}

/// The guest's parameters for a fresh bucket on moto, reached at `endpoint`.
async fn params(endpoint: &str) -> Params {
    let bucket = s3::unique_bucket("guestfaults");
    s3::create_bucket(&s3::moto_endpoint(), &bucket, s3::MOTO_KEY, s3::MOTO_KEY).await;
    Params::from_pairs(
        [
            ("bucket", bucket),
            ("regionendpoint", endpoint.to_owned()),
            ("region", "us-east-1".into()),
            ("forcepathstyle", "true".into()),
            ("accesskey", s3::MOTO_KEY.into()),
            ("secretkey", s3::MOTO_KEY.into()),
            ("rootdirectory", "/wharf/guestfaults/".into()),
            ("chunksize", "5MiB".into()),
        ]
        .into_iter()
        .chain(RETRIES.map(|(key, value)| (key, value.to_owned()))),
    )
}

/// 8 MiB that tell their offsets apart.
fn content(seed: u8) -> Bytes {
    (0..8u32 << 20)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

/// A guest-s3 driver behind a fault proxy that breaks nothing yet, and `content(1)` at `path`.
async fn driver_with_a_file(path: &str) -> (FaultProxy, Arc<dyn StorageDriver>) {
    let proxy = FaultProxy::in_front_of(&s3::moto_endpoint(), Plan::none(), seed())
        .await
        .expect("start the fault proxy");
    let driver = DriverRegistry::with_builtin()
        .create(wharf::guests::S3, params(&proxy.url()).await)
        .await
        .expect("create the S3 guest driver");
    driver.put_content(path, content(1)).await.expect("put");
    (proxy, driver)
}

/// Reads `stream` to its end or its first error: the bytes, and the error.
async fn drain(mut stream: wharf::ByteStream) -> (Vec<u8>, Option<wharf::Error>) {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(e) => return (bytes, Some(e)),
        }
    }
    (bytes, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_whose_body_breaks_off_is_resumed_to_its_last_byte() {
    let (proxy, driver) = driver_with_a_file("/resumed").await;
    for offset in [0u64, 3 << 20] {
        // The reader's GET is answered and its body cut somewhere; the requests after it,
        // the guest's `reopen` among them, pass.
        proxy.set_plan(Plan::always(Fault::ResetDuringResponseBody, Duration::ZERO));
        let stream = driver
            .reader("/resumed", offset)
            .await
            .expect("open a reader");
        proxy.set_plan(Plan::none());
        let (bytes, error) = drain(stream).await;
        assert!(error.is_none(), "offset {offset}: {error:?}");
        assert!(
            bytes == content(1)[offset as usize..],
            "offset {offset}: {} bytes, not the file's rest",
            bytes.len()
        );
    }
    assert_eq!(proxy.stats().faulted(), 2, "{}", proxy.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_whose_file_was_replaced_ends_instead_of_splicing() {
    let (proxy, driver) = driver_with_a_file("/replaced").await;
    proxy.set_plan(Plan::always(Fault::ResetDuringResponseBody, Duration::ZERO));
    let stream = driver.reader("/replaced", 0).await.expect("open a reader");
    proxy.set_plan(Plan::none());
    driver
        .put_content("/replaced", content(2))
        .await
        .expect("replace the file");
    let (bytes, error) = drain(stream).await;
    let error = error.expect("the read must fail: the rest belongs to another version");
    assert!(
        error.to_string().contains("replaced while it was read") && !error.is_temporary(),
        "{error}"
    );
    assert!(
        bytes.len() < content(1).len() && bytes == content(1)[..bytes.len()],
        "{} bytes read before the error, not a prefix of the first version",
        bytes.len()
    );
}
