//! Runs the public conformance suite on the filesystem driver, each check on a fresh temporary
//! root created through the driver factory.

use std::sync::Arc;

use wharf_runtime::{DriverRegistry, Params};
use wharf_testsuite::{FactoryFixture, Fixture};

async fn make_fixture() -> Arc<dyn Fixture> {
    let dir = tempfile::tempdir().expect("create a temporary root");
    let mut registry = DriverRegistry::new();
    wharf_driver_filesystem::register(&mut registry).expect("register the filesystem driver");
    let params = Params::from_pairs([("rootdirectory", dir.path().to_string_lossy().into_owned())]);
    let fixture = FactoryFixture::new(registry, wharf_driver_filesystem::NAME, params)
        .await
        .expect("create the filesystem driver");
    Arc::new(fixture.keep(dir))
}

wharf_testsuite::conformance_tests!(make_fixture);
