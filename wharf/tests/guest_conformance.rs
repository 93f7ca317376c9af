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
