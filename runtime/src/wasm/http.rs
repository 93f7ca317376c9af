//! Outbound HTTP for guests, limited to the hosts the operator's policy lists. A request to any
//! other host (or any request at all when the list is empty) fails inside the guest with
//! wasi-http's "request denied" error, which a guest reports as `permission-denied`; sockets
//! stay closed, so the allow-list cannot be bypassed. An authority with user information is
//! refused: the connection is made to the authority as written, which must be exactly the
//! host and port that were checked. An instance has at most the policy's `http_requests`
//! requests in flight (sent and not yet done with); one more fails with
//! `connection-limit-reached`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

/// The allow-list: entries `host` (default port of the scheme) or `host:port`; and the count
/// of requests in flight.
pub struct HttpAllowList {
    allowed: Vec<String>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: usize,
}

/// One request in flight, counted until its connection is done with.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HttpAllowList {
    pub fn new(allowed: Vec<String>, max_in_flight: usize) -> Self {
        Self {
            allowed: allowed
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight,
        }
    }

    /// Counts one more request in flight, unless the bound is reached.
    fn admit(&self) -> Option<InFlight> {
        let max = self.max_in_flight;
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(self.in_flight.clone()))
    }

    /// True when a request to `host:port` over a scheme whose default port is `default_port`
    /// is allowed.
    pub fn allows(&self, host: &str, port: u16, default_port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed
            .iter()
            .any(|entry| match entry.rsplit_once(':') {
                Some((h, p)) => h == host && p.parse() == Ok(port),
                None => *entry == host && port == default_port,
            })
    }
}

impl WasiHttpHooks for HttpAllowList {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let uri = request.uri();
        let default_port = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            443
        } else {
            80
        };
        // The connection goes to the authority as written, so one with user information
        // (`user@host`) would be checked as one name and connected to as another: refused.
        let allowed = uri.authority().is_some_and(|a| {
            !a.as_str().contains('@')
                && self.allows(a.host(), a.port_u16().unwrap_or(default_port), default_port)
        });
        if !allowed {
            // Only host and port: a path or user information may carry secrets.
            let host = super::answer::clean_text_within(uri.host().unwrap_or(""), 256);
            let port = uri.port_u16();
            tracing::warn!(target: "wharf::guest", host, ?port, "guest HTTP request denied by the allow-list");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let Some(counted) = self.admit() else {
            tracing::warn!(target: "wharf::guest", max = self.max_in_flight, "guest HTTP request refused: too many in flight (http_requests)");
            return Box::new(async { Err(wasmtime_wasi_http::Error::ConnectionLimitReached) });
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            // Counted until the connection is done with (the response read or dropped).
            let io = async move {
                let _counted = counted;
                io.await
            };
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matching() {
        let l = HttpAllowList::new(vec!["Example.com".into(), "127.0.0.1:9000".into()], 16);
        assert!(l.allows("example.com", 443, 443));
        assert!(l.allows("EXAMPLE.com", 80, 80));
        assert!(!l.allows("example.com", 8443, 443));
        assert!(l.allows("127.0.0.1", 9000, 80));
        assert!(!l.allows("127.0.0.1", 9001, 80));
        assert!(!l.allows("evil.example.com", 443, 443));
        assert!(!HttpAllowList::new(vec![], 16).allows("example.com", 443, 443));
    }

    #[test]
    fn requests_in_flight_are_bounded() {
        let l = HttpAllowList::new(vec![], 2);
        let a = l.admit().expect("one");
        let b = l.admit().expect("two");
        assert!(l.admit().is_none(), "a third");
        drop(a);
        let _c = l.admit().expect("one done, another may go");
        drop(b);
        assert_eq!(l.in_flight.load(Ordering::Acquire), 1);
    }
}
