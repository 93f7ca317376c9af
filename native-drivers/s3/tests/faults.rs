//! The public conformance suite on the s3 driver with a fault proxy between the driver and
//! moto: a share of the requests is broken (connections reset before, during and after a
//! request, answers cut in their body, stalls longer than the driver's timeouts, 500s, 503
//! `SlowDown`s), and every check must pass all the same. `WHARF_FAULT_SEED` replays a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_reliability::suite::{RETRIES, run_suite_through, seed};
use wharf_reliability::{Fault, FaultProxy, Plan};
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
                &RETRIES[..],
                &[
                    ("rootdirectory", "/wharf/faults/"),
                    ("chunksize", "5MiB"),
                    ("read_timeout", "1s"),
                ],
            ]
            .concat(),
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

/// Resuming a closed upload reads its saved tail (the bytes after its last full part) back; an
/// answer cut in the middle of that tail is resumed from the byte reached, and the upload
/// commits the exact bytes. (A CI run of the oss suite once failed `writer(path, true)` so.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_tail_cut_while_an_upload_resumes_is_read_to_its_end() {
    let proxy = FaultProxy::in_front_of(&common::moto_endpoint(), Plan::none(), seed())
        .await
        .expect("start the fault proxy");
    let bucket = common::moto_bucket("tailcut").await;
    let mut params =
        common::moto_params(&bucket, &[("chunksize", "5MiB"), ("retry_delay", "20ms")]);
    params.insert("regionendpoint", proxy.url().as_str());
    let driver = common::registry()
        .create("s3", params)
        .await
        .expect("create the s3 driver");
    let first: Bytes = (0..3u32 << 20)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let mut writer = driver.writer("/tail/file", false).await.expect("writer");
    writer.write(first.clone()).await.expect("write");
    writer.close().await.expect("close, saving the tail");
    // The saved tail's GET is answered and its body cut, once.
    proxy.set_plan(
        Plan::always(Fault::ResetDuringResponseBody, Duration::ZERO)
            .only("GET", "~file.upload")
            .at_most(1),
    );
    let mut writer = driver
        .writer("/tail/file", true)
        .await
        .expect("resume the upload");
    assert_eq!(writer.size(), first.len() as u64);
    assert_eq!(proxy.stats().faulted(), 1, "{}", proxy.stats());
    let second = Bytes::from_static(b"and the rest");
    writer.write(second.clone()).await.expect("write more");
    writer.commit().await.expect("commit");
    writer.close().await.expect("close");
    let back = driver.get_content("/tail/file").await.expect("read back");
    assert!(
        back == [first, second].concat(),
        "{} bytes, not the ones written",
        back.len()
    );
}
