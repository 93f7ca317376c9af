//! Host-side streams (`wharf:storage@0.2.0`) handed over by a hostile guest: a stream is only
//! what the guest opened under its grants (here, response and request bodies of a granted
//! backend on loopback), and the host's own reads and writes of it keep the sandbox's bounds —
//! a stalled stream ends in `Timeout` at the call deadline, an endless one costs the host no
//! more than the answer bound or one chunk, a part whose body backs up ends in `Timeout`.

use bytes::Bytes;
use futures::StreamExt;

use super::bounds::{Backend, Behaviour};
use super::*;

async fn streaming(
    backend: &Backend,
    mode: &str,
    extra: &[(&str, &str)],
) -> Arc<dyn StorageDriver> {
    let mut p = policy(None);
    p.http_hosts = vec![backend.addr.clone()];
    let mut params = vec![("mode", mode), ("authority", backend.addr.as_str())];
    params.extend_from_slice(extra);
    hostile_with(p, &params).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stalls_ends_in_timeout_at_the_deadline() {
    let _shared = SERIAL.read().await;
    let backend = Backend::new(Behaviour::Stall);
    let driver = streaming(&backend, "http-stream", &[]).await;

    // A reader: the first bytes arrive, then the stall meets the deadline.
    let (mut stream, _) = bounded("open a stalled reader", driver.reader("/hostile", 0)).await;
    let stream = stream.as_mut().expect("the reader opens");
    let (first, _) = bounded("first chunk", stream.next()).await;
    assert_eq!(
        first.expect("a chunk").expect("bytes").as_ref(),
        b"0123456789"
    );
    let (next, took) = bounded("stalled chunk", stream.next()).await;
    let text = failed("stalled chunk", next.expect("an item"), &ErrorKind::Timeout);
    assert!(text.contains("no progress"), "{text}");
    assert!(
        took >= DEADLINE,
        "gave up after {took:?}, before the deadline"
    );

    // `get_content`, whose content arrives as a stream, likewise.
    let (result, _) = bounded("stalled content", driver.get_content("/hostile")).await;
    failed("stalled content", result, &ErrorKind::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stream_costs_the_host_one_bound_at_most() {
    let _alone = SERIAL.write().await;
    let backend = Backend::new(Behaviour::Flood);
    let driver = streaming(&backend, "http-stream", &[]).await;
    let bound = SandboxPolicy::default().answers.bytes;

    // `get_content` reads a content stream whole, as the caller asked, up to the answer bound.
    let (result, grown) = growth(async {
        bounded("flooded content", driver.get_content("/hostile"))
            .await
            .0
    })
    .await;
    let text = failed(
        "flooded content",
        result,
        &ErrorKind::Backend { temporary: false },
    );
    assert!(text.contains("answers.bytes"), "{text}");
    assert!(
        grown < bound + (32 << 20),
        "a content stream grew the host by {} MiB (bound {} MiB)",
        grown >> 20,
        bound >> 20
    );

    // A reader hands over chunk by chunk: 256 MiB read and dropped hold nothing.
    let (read, grown) = growth(async {
        let mut stream = driver
            .reader("/hostile", 0)
            .await
            .expect("the reader opens");
        let mut read = 0u64;
        while read < 256 << 20 {
            let chunk: Bytes = bounded("flooded chunk", stream.next())
                .await
                .0
                .expect("an item")
                .expect("bytes");
            assert!(chunk.len() <= 1 << 20, "a chunk of {} bytes", chunk.len());
            read += chunk.len() as u64;
        }
        read
    })
    .await;
    assert!(read >= 256 << 20);
    assert!(
        grown < 32 << 20,
        "reading a stream grew the host by {} MiB",
        grown >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_whose_body_backs_up_ends_in_timeout() {
    let _shared = SERIAL.read().await;
    let backend = Backend::new(Behaviour::Silent);
    let sandbox = Sandbox::new();
    let mut p = policy(Some(&sandbox.data()));
    p.http_hosts = vec![backend.addr.clone()];
    // Parts as large as the guest may ask for (it asks for `u64::MAX`: the host gathers 64 MiB).
    let (_registry, driver) = hostile_with(
        p,
        &[
            ("mode", "http-part"),
            ("authority", &backend.addr),
            ("size", "0"),
        ],
    )
    .await;
    let mut writer = driver.writer("/hostile", false).await.expect("writer");
    let data = Bytes::from(vec![7u8; 80 << 20]);
    let (result, took) = bounded("backed-up part", writer.write(data)).await;
    let text = failed("backed-up part", result, &ErrorKind::Timeout);
    assert!(text.contains("no progress"), "{text}");
    assert!(took >= DEADLINE, "gave up after {took:?}");
    // Nothing was acknowledged, and the writer refuses more rather than lose bytes silently.
    assert_eq!(writer.size(), 0);
    let (again, _) = bounded(
        "after the failed part",
        writer.write(Bytes::from_static(b"x")),
    )
    .await;
    assert!(again.is_err(), "a writer whose part failed took more bytes");
}
