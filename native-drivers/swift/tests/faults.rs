//! The public conformance suite on the swift driver with a fault proxy between the driver and
//! Swift (authentication included: tempauth hands out storage URLs on the host it was asked
//! on, the proxy): a share of the requests is broken (connections reset before, during and
//! after a request, answers cut in their body, stalls longer than the driver's timeouts, 500s,
//! 503s, 498 from rate limiting), and every check must pass all the same. `WHARF_FAULT_SEED`
//! replays a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use wharf_reliability::suite::{FAULT_RATE, RETRIES, run_suite_through, seed};
use wharf_reliability::{Canned, Fault, FaultProxy, Plan};
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

/// What a new file, an overwrite, a small upload and a delete cost on the wire, counted by the
/// proxy: a new file is one conditional PUT; an overwrite is that PUT refused (412), a look at
/// the old object (it may be a large one whose segments must go) and the PUT; a small upload's
/// commit writes as put_content does; a delete looks the path up once. (The reference's put_content is one PUT; without the conditional PUT, each of ours
/// was two HEADs and a PUT.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_a_write_an_overwrite_and_a_delete() {
    let server = common::server();
    let proxy = FaultProxy::in_front_of(&server.auth_url, Plan::none(), seed())
        .await
        .expect("start the proxy");
    let container = common::unique_container("requests");
    let mut params = common::params(&server, &container, &[]);
    params.insert("authurl", proxy.rewrite(&server.auth_url).as_str());
    let driver = common::registry()
        .create(wharf_driver_swift::NAME, params)
        .await
        .expect("create the swift driver");
    let requests = |path: &str| {
        let lines = proxy.requests_naming(path);
        let methods: Vec<String> = lines
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
            .collect();
        (methods, lines)
    };
    driver
        .put_content("/new/file", Bytes::from_static(b"one"))
        .await
        .expect("put a new file");
    let (methods, lines) = requests("/new/file");
    assert_eq!(methods, ["PUT"], "{lines:#?}");
    driver
        .put_content("/new/file", Bytes::from_static(b"two"))
        .await
        .expect("overwrite it");
    let (methods, lines) = requests("/new/file");
    assert_eq!(methods, ["PUT", "PUT", "HEAD", "PUT"], "{lines:#?}");
    assert!(lines[1].contains("answered 412"), "{lines:#?}");
    assert_eq!(&driver.get_content("/new/file").await.unwrap()[..], b"two");

    let mut writer = driver.writer("/streamed", false).await.expect("writer");
    writer
        .write(Bytes::from_static(b"small"))
        .await
        .expect("write");
    writer.commit().await.expect("commit");
    writer.close().await.expect("close");
    let (methods, lines) = requests("/streamed");
    assert_eq!(methods, ["PUT"], "{lines:#?}");
    assert_eq!(
        &driver.get_content("/streamed").await.unwrap()[..],
        b"small"
    );

    // A stream of exactly one segment (the cluster's largest object, below the default
    // chunk size) is written whole at its commit too.
    let segment: usize = std::env::var("WHARF_SWIFT_MAXFILESIZE")
        .expect("WHARF_SWIFT_MAXFILESIZE (from servers/up.sh)")
        .parse()
        .expect("a size");
    let mut writer = driver.writer("/one-segment", false).await.expect("writer");
    writer
        .write(Bytes::from(vec![7u8; segment]))
        .await
        .expect("write");
    writer.commit().await.expect("commit");
    writer.close().await.expect("close");
    let (methods, lines) = requests("/one-segment");
    assert_eq!(methods, ["PUT"], "{lines:#?}");

    // A stat of a file is one look; of a directory, a look and a listing.
    driver.stat("/new/file").await.expect("stat a file");
    driver.stat("/new").await.expect("stat a directory");
    let (methods, lines) = requests("/new");
    assert_eq!(&methods[5..], ["HEAD", "HEAD"], "{lines:#?}");
    assert_eq!(
        proxy.requests_naming("prefix=files%2Fnew%2F").len(),
        1,
        "{:#?}",
        proxy.requests_naming("prefix=")
    );

    driver.delete("/streamed").await.expect("delete");
    let (methods, lines) = requests("/streamed");
    // The put, the get above, then the delete: one look-up and the removal.
    assert_eq!(methods, ["PUT", "GET", "HEAD", "DELETE"], "{lines:#?}");
}

/// A small upload whose commit failed keeps its bytes: the writer stays open, and the commit
/// tried again writes them all (it once wrote an empty file, the buffer spent by the attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_tried_again_writes_every_byte() {
    let server = common::server();
    let proxy = FaultProxy::in_front_of(&server.auth_url, Plan::none(), seed())
        .await
        .expect("start the proxy");
    let container = common::unique_container("recommit");
    let mut params = common::params(&server, &container, &[("max_retries", "0")]);
    params.insert("authurl", proxy.rewrite(&server.auth_url).as_str());
    let driver = common::registry()
        .create(wharf_driver_swift::NAME, params)
        .await
        .expect("create the swift driver");
    let mut writer = driver.writer("/recommit", false).await.expect("writer");
    writer
        .write(Bytes::from_static(b"precious bytes"))
        .await
        .expect("write");
    proxy.set_plan(
        Plan::always(
            Fault::Answer(Canned::internal_error()),
            Duration::from_secs(1),
        )
        .only("PUT", "/recommit"),
    );
    assert!(writer.commit().await.is_err(), "the commit met a 500");
    proxy.set_plan(Plan::none());
    writer.commit().await.expect("the commit, again");
    writer.close().await.expect("close");
    assert_eq!(
        &driver.get_content("/recommit").await.expect("get")[..],
        b"precious bytes"
    );
}
