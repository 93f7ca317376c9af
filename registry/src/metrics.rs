//! `/metrics`: request counts and latencies of the registry, and the driver calls the runtime
//! counts (`wharf_driver_calls_total`, `wharf_driver_call_seconds`, `wharf_driver_errors_total`),
//! in Prometheus' text format, through the `metrics` facade and its Prometheus exporter.

use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process's metrics, rendered on request.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Installs the process-wide recorder (once per process: a second call fails).
    pub fn install() -> Result<Metrics, String> {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        // The exporter keeps histogram samples until a render; render now and then so an
        // unscraped registry's memory stays bounded.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .map_err(|e| format!("cannot start the metrics upkeep: {e}"))?;
        Ok(Metrics { handle })
    }

    /// The text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Counts one answered request.
pub fn record_request(method: &http::Method, route: &'static str, status: u16, took: Duration) {
    metrics::counter!(
        "wharf_http_requests_total",
        "method" => method.as_str().to_owned(),
        "route" => route,
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "wharf_http_request_seconds",
        "method" => method.as_str().to_owned(),
        "route" => route
    )
    .record(took.as_secs_f64());
}
