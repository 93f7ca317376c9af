//! The public conformance suite on the bundled guest drivers, created through the factory
//! exactly as an operator would: each runs sandboxed in wasmtime behind the same base layer as
//! the native drivers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf::{DriverRegistry, Params, WithBuiltin};
use wharf_testsuite::{FactoryFixture, Fixture};

static NEXT: AtomicU64 = AtomicU64::new(0);

mod guest_inmemory {
    use super::*;

    async fn make_fixture() -> Arc<dyn Fixture> {
        let namespace = format!("guest-conformance-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        Arc::new(
            FactoryFixture::new(
                DriverRegistry::with_builtin(),
                wharf::guests::INMEMORY,
                Params::from_pairs([("namespace", namespace)]),
            )
            .await
            .expect("create the in-memory guest driver"),
        )
    }

    wharf_testsuite::conformance_tests!(make_fixture);
}

#[cfg(feature = "js-guest")]
mod guest_js_inmemory {
    use super::*;

    async fn make_fixture() -> Arc<dyn Fixture> {
        let namespace = format!("js-conformance-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        Arc::new(
            FactoryFixture::new(
                DriverRegistry::with_builtin(),
                wharf::guests::JS_INMEMORY,
                Params::from_pairs([("namespace", namespace)]),
            )
            .await
            .expect("create the JavaScript in-memory guest driver"),
        )
    }

    wharf_testsuite::conformance_tests!(make_fixture);
}

mod guest_filesystem {
    use super::*;

    async fn make_fixture() -> Arc<dyn Fixture> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let params =
            Params::from_pairs([("rootdirectory", dir.path().to_string_lossy().into_owned())]);
        Arc::new(
            FactoryFixture::new(
                DriverRegistry::with_builtin(),
                wharf::guests::FILESYSTEM,
                params,
            )
            .await
            .expect("create the filesystem guest driver")
            .keep(dir),
        )
    }

    wharf_testsuite::conformance_tests!(make_fixture);
}

/// A caller that stops waiting (a client hanging up, a request timeout) must not cost a stateful
/// guest its data: the call it left behind finishes on its own, and the instance stays whole.
mod callers_that_go_away {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stateful_guest_keeps_its_data() {
        let registry = DriverRegistry::with_builtin();
        let params = Params::from_pairs([("namespace", "callers-that-go-away")]);
        let driver = registry
            .create(wharf::guests::INMEMORY, params)
            .await
            .expect("create the in-memory guest driver");
        driver
            .put_content("/keep", Bytes::from_static(b"kept"))
            .await
            .expect("put /keep");
        // Copying 32 MiB into the guest and storing it spans several epoch ticks, at each of
        // which the call yields: a timeout of a few milliseconds leaves it mid-call.
        let big = Bytes::from(vec![7u8; 32 << 20]);
        let mut abandoned = 0;
        for ms in 1..=12 {
            let put = driver.put_content("/big", big.clone());
            if tokio::time::timeout(Duration::from_millis(ms), put)
                .await
                .is_err()
            {
                abandoned += 1;
            }
        }
        assert!(
            abandoned > 0,
            "no call was abandoned; the test proves nothing"
        );
        let kept = driver.get_content("/keep").await.expect("get /keep");
        assert_eq!(&kept[..], b"kept", "the instance lost its data");
        driver
            .put_content("/big", big.clone())
            .await
            .expect("a last put");
        let got = driver.get_content("/big").await.expect("get /big");
        assert_eq!(got.len(), big.len());
        assert!(got.iter().all(|&b| b == 7));
    }
}

/// A guest with a directory does its file I/O on the calling thread. Called straight from a
/// `Runtime::block_on` (a `#[tokio::test]` body, a registry's main), the call must not nest a
/// second `block_on` there: that one would take the wake-ups of the futures beside it (the
/// timer below) and leave them asleep for good. The runtime runs on a thread of its own so that
/// a lost wake-up fails the test instead of hanging it.
#[test]
fn a_guest_call_with_a_directory_loses_no_wake_up_of_its_neighbours() {
    use std::time::Duration;

    let outcome = wharf_testsuite::block_on_within(Duration::from_secs(60), || async {
        let dir = tempfile::tempdir().expect("temporary directory");
        let params =
            Params::from_pairs([("rootdirectory", dir.path().to_string_lossy().into_owned())]);
        let driver = DriverRegistry::with_builtin()
            .create(wharf::guests::FILESYSTEM, params)
            .await
            .expect("create the filesystem guest driver");
        let big = bytes::Bytes::from(vec![3u8; 16 << 20]);
        let (_, put) = tokio::join!(
            tokio::time::sleep(Duration::from_millis(2)),
            driver.put_content("/big", big)
        );
        put
    });
    assert!(
        matches!(outcome, Some(Ok(()))),
        "the join beside a guest's call never finished: {outcome:?}"
    );
}

/// The host loads components of both WIT versions and says which one each targets (what
/// `wharf inspect` shows): the JavaScript guest is built against 0.1.0, the Rust ones against
/// 0.2.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_of_both_wit_versions_load() {
    use wharf::wasm::{GuestRuntime, WitVersion};

    let runtime = GuestRuntime::global().expect("the component host");
    let components = [
        #[cfg(feature = "js-guest")]
        (wharf::guests::JS_INMEMORY_WASM, "js", WitVersion::V1),
        (wharf::guests::INMEMORY_WASM, "inmemory", WitVersion::V2),
        (wharf::guests::FILESYSTEM_WASM, "filesystem", WitVersion::V2),
        (wharf::guests::S3_WASM, "s3", WitVersion::V2),
    ];
    for (wasm, label, version) in components {
        let component = runtime
            .load_bytes(wasm.to_vec(), label)
            .await
            .unwrap_or_else(|e| panic!("load {label}: {e}"));
        assert_eq!(component.version, version, "{label}");
        assert_eq!(component.manifest.wit_version, version.as_str(), "{label}");
        let driver = format!("wharf:storage/driver@{}", version.as_str());
        assert!(
            component.exports.iter().any(|e| e == &driver),
            "{label} exports {:?}",
            component.exports
        );
    }
}
