//! The public conformance suite on the in-memory driver, created through the factory. Each test
//! gets its own namespace; the second instance a resume check opens shares it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wharf_runtime::{DriverRegistry, Params};
use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut registry = DriverRegistry::new();
    wharf_driver_inmemory::register(&mut registry).expect("register inmemory");
    let namespace = format!("conformance-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let params = Params::from_pairs([("namespace", namespace)]);
    Arc::new(
        FactoryFixture::new(registry, "inmemory", params)
            .await
            .expect("create inmemory driver"),
    )
}

wharf_testsuite::conformance_tests!(make_fixture);
