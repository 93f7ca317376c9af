//! What a check runs against: a driver over fresh, empty storage, and a way to open another
//! instance of the same configuration (to prove that state lives in the backend).

use std::sync::Arc;

use futures::future::BoxFuture;
use wharf_runtime::{DriverRegistry, Params, Result, StorageDriver};

/// Fresh, empty storage for one check.
pub trait Fixture: Send + Sync {
    /// The driver under test (behind the base layer).
    fn driver(&self) -> Arc<dyn StorageDriver>;

    /// A second, independent driver instance with the same configuration, seeing the same
    /// storage.
    fn second_instance(&self) -> BoxFuture<'_, Result<Arc<dyn StorageDriver>>>;
}

/// A fixture that creates drivers through a [`DriverRegistry`] from fixed parameters, keeping
/// alive whatever the storage needs (e.g. a temporary directory) until it is dropped.
pub struct FactoryFixture {
    registry: DriverRegistry,
    name: String,
    params: Params,
    driver: Arc<dyn StorageDriver>,
    _keep: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl FactoryFixture {
    /// Creates the first instance of `name` from `params`.
    pub async fn new(registry: DriverRegistry, name: &str, params: Params) -> Result<Self> {
        let driver = registry.create(name, params.clone()).await?;
        Ok(Self {
            registry,
            name: name.to_owned(),
            params,
            driver,
            _keep: None,
        })
    }

    /// Keeps `guard` alive as long as the fixture (dropped after the drivers).
    pub fn keep(mut self, guard: impl std::any::Any + Send + Sync) -> Self {
        self._keep = Some(Box::new(guard));
        self
    }
}

impl Fixture for FactoryFixture {
    fn driver(&self) -> Arc<dyn StorageDriver> {
        self.driver.clone()
    }

    fn second_instance(&self) -> BoxFuture<'_, Result<Arc<dyn StorageDriver>>> {
        Box::pin(self.registry.create(&self.name, self.params.clone()))
    }
}
