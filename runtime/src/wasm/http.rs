//! Outbound HTTP for guests, limited to the hosts the operator's policy lists. A request to any
//! other host (or any request at all when the list is empty) fails inside the guest with
//! wasi-http's "request denied" error, which a guest reports as `permission-denied`; sockets
//! stay closed, so the allow-list cannot be bypassed.
//!
//! What an entry grants, and how it is enforced on the address connected to:
//! - an entry is `[http://|https://]HOST[:PORT]`: without a scheme it grants both, without a
//!   port each scheme's default one;
//! - a host is a canonical IPv4 address, an IPv6 address in brackets (IPv4-mapped ones are the
//!   IPv4 address), or a DNS name (case and a trailing dot do not matter); the other spellings
//!   resolvers accept for an address (`127.1`, `2130706433`, `0x7f000001`) are refused in
//!   entries and requests alike, and so is an authority with user information (it would be
//!   checked as one name and connected to as another);
//! - a granted name is resolved by the host, and used only if it leads to a public address or
//!   to an address the list names itself (with the same scheme and port): a name pointed at
//!   127.0.0.1, a private network or a metadata service is refused. Plain HTTP is then sent to
//!   exactly that address (the `Host` header keeps the name); HTTPS connects by name, and the
//!   certificate, verified for the name, binds the connection to it.
//!
//! An instance has at most the policy's `http_requests` requests in flight (sent and not yet
//! done with); one more fails with `connection-limit-reached`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::uri::{Authority, Scheme};
use wasmtime::component::Linker;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttp, WasiHttpCtxView, WasiHttpHooks};

use crate::error::{Error, Result};

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

/// A host as the allow-list and the checks know it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    /// An address (IPv4-mapped IPv6 addresses are taken as the IPv4 address).
    Ip(IpAddr),
    /// A DNS name, lower case, without a trailing dot.
    Name(String),
}

impl Host {
    /// Reads the host of an entry or a request: a canonical IPv4 address (`127.0.0.1`), an
    /// IPv6 address in brackets, or a DNS name whose last label starts with a letter. The other
    /// spellings of an address that resolvers accept (`127.1`, `2130706433`, `0x7f000001`,
    /// `0177.0.0.1`) are refused, so that an address is only ever written one way.
    fn parse(text: &str) -> Option<Self> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let ip: IpAddr = v6.parse().ok()?;
            return Some(Host::Ip(canonical(ip)));
        }
        if let Ok(ip) = text.parse::<std::net::Ipv4Addr>() {
            return Some(Host::Ip(IpAddr::V4(ip)));
        }
        let name = text.to_ascii_lowercase();
        let labels_ok = name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        let last_is_a_name = name
            .rsplit('.')
            .next()
            .and_then(|l| l.bytes().next())
            .is_some_and(|b| b.is_ascii_alphabetic());
        (labels_ok && last_is_a_name && name.len() <= 253).then_some(Host::Name(name))
    }
}

/// True when `authority` is just its host and, if any, a port number in its usual spelling
/// (no empty, oversized or zero-padded port).
fn plain(authority: &Authority) -> bool {
    let rebuilt = match authority.port_u16() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    };
    rebuilt == authority.as_str()
}

/// `ip`, with an IPv4-mapped IPv6 address taken as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True for addresses that are not on the public internet: loopback, private, link-local,
/// unique-local, shared (CGNAT), unspecified, broadcast, documentation and benchmarking ranges.
fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a == 0
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
        }
    }
}

/// One entry of the allow-list: `[http://|https://]host[:port]`. Without a scheme it grants
/// both `http` and `https`; without a port, each scheme's default port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    scheme: Option<Scheme>,
    host: Host,
    port: Option<u16>,
}

impl HttpGrant {
    /// Reads an entry, or says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid_parameter(
                "http",
                format!("{entry:?} is not [http://|https://]HOST[:PORT] ({why})"),
            )
        };
        let trimmed = entry.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some(("http", rest)) => (Some(Scheme::HTTP), rest),
            Some(("https", rest)) => (Some(Scheme::HTTPS), rest),
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => (None, trimmed),
        };
        let authority: Authority = rest.parse().map_err(|_| bad("not a host and port"))?;
        if authority.as_str().contains('@') || authority.as_str() != rest {
            return Err(bad("user information, a path or spaces"));
        }
        if !plain(&authority) {
            return Err(bad("the port is not a number up to 65535"));
        }
        let host = Host::parse(authority.host())
            .ok_or_else(|| bad("an address is written as 1.2.3.4 or [::1], a name with a letter first in its last label"))?;
        Ok(Self {
            scheme,
            host,
            port: authority.port_u16(),
        })
    }

    fn grants(&self, scheme: &Scheme, host: &Host, port: u16) -> bool {
        let default = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        self.scheme.as_ref().is_none_or(|s| s == scheme)
            && self.host == *host
            && self.port.unwrap_or(default) == port
    }
}

/// The allow-list, and the count of requests in flight.
pub struct HttpAllowList {
    allowed: Arc<[HttpGrant]>,
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

/// Why a request is refused.
type Denied = &'static str;

impl HttpAllowList {
    /// The allow-list of `entries` (each as [`HttpGrant::parse`] reads it).
    pub fn new(entries: &[String], max_in_flight: usize) -> Result<Self> {
        Ok(Self {
            allowed: entries
                .iter()
                .map(|e| HttpGrant::parse(e))
                .collect::<Result<Vec<_>>>()?
                .into(),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight,
        })
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

    /// The host and port a request to `uri` goes to, if an entry grants it.
    fn check(&self, uri: &http::Uri) -> std::result::Result<(Scheme, Host, u16), Denied> {
        let scheme = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
            _ => return Err("not http or https"),
        };
        let authority = uri.authority().ok_or("no authority")?;
        // The connection goes to the authority as written: one with user information would be
        // checked as one name and connected to as another.
        if authority.as_str().contains('@') {
            return Err("user information in the authority");
        }
        let host = Host::parse(authority.host()).ok_or("not a canonical address or a name")?;
        if !plain(authority) {
            return Err("not a port");
        }
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == Scheme::HTTPS { 443 } else { 80 });
        if self.allowed.iter().any(|g| g.grants(&scheme, &host, port)) {
            Ok((scheme, host, port))
        } else {
            Err("not on the allow-list")
        }
    }

    /// True when an entry names the address `ip` itself (with `scheme` and `port`).
    fn names_address(allowed: &[HttpGrant], scheme: &Scheme, ip: IpAddr, port: u16) -> bool {
        allowed
            .iter()
            .any(|g| g.grants(scheme, &Host::Ip(canonical(ip)), port))
    }
}

/// Where a granted name may be connected to: its first address that is public, or that the
/// allow-list names itself. A name that only leads to internal addresses the list does not name
/// (a public name pointed at 127.0.0.1 or the cloud's metadata service) is refused.
async fn resolve(
    allowed: &[HttpGrant],
    scheme: &Scheme,
    name: &str,
    port: u16,
) -> std::result::Result<SocketAddr, Denied> {
    let addresses = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| "the name does not resolve")?;
    let mut found = false;
    for address in addresses {
        found = true;
        let ip = address.ip();
        if !is_internal(ip) || HttpAllowList::names_address(allowed, scheme, ip, port) {
            return Ok(SocketAddr::new(canonical(ip), port));
        }
    }
    Err(if found {
        "the name leads to an internal address the allow-list does not name"
    } else {
        "the name does not resolve"
    })
}

/// Adds `wasi:http` (its types and outgoing handler) to `linker`; `get` finds an instance's
/// context, whose hooks are its [`HttpAllowList`].
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> WasiHttpCtxView<'_>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi_http::p2::bindings::{LinkOptions, http};
    http::outgoing_handler::add_to_linker::<T, WasiHttp>(linker, get)?;
    http::types::add_to_linker::<T, WasiHttp>(linker, &(&LinkOptions::default()).into(), get)?;
    Ok(())
}

fn denied(uri: &http::Uri, why: Denied) -> wasmtime_wasi_http::Error {
    // Only host and port: a path or user information may carry secrets.
    let host = super::answer::clean_text_within(uri.host().unwrap_or(""), 256);
    let port = uri.port_u16();
    tracing::warn!(target: "wharf::guest", host, ?port, why, "guest HTTP request denied");
    wasmtime_wasi_http::Error::HttpRequestDenied
}

impl WasiHttpHooks for HttpAllowList {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let (scheme, host, port) = match self.check(request.uri()) {
            Ok(granted) => granted,
            Err(why) => {
                let error = denied(request.uri(), why);
                return Box::new(async move { Err(error) });
            }
        };
        let Some(counted) = self.admit() else {
            tracing::warn!(target: "wharf::guest", max = self.max_in_flight, "guest HTTP request refused: too many in flight (http_requests)");
            return Box::new(async { Err(wasmtime_wasi_http::Error::ConnectionLimitReached) });
        };
        let allowed = self.allowed.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            if let Host::Name(name) = &host {
                let address = resolve(&allowed, &scheme, name, port)
                    .await
                    .map_err(|why| denied(request.uri(), why))?;
                // Plain HTTP is connected to exactly the address just checked (the `Host`
                // header keeps the name). HTTPS connects by name so that the certificate is
                // verified for it: a name that resolves elsewhere on the second lookup
                // reaches a server that must prove it holds the name.
                if scheme == Scheme::HTTP {
                    let mut parts = request.uri().clone().into_parts();
                    let literal = address.to_string();
                    parts.authority = Some(
                        literal
                            .parse()
                            .map_err(|_| wasmtime_wasi_http::Error::HttpRequestUriInvalid)?,
                    );
                    *request.uri_mut() = http::Uri::from_parts(parts)
                        .map_err(|_| wasmtime_wasi_http::Error::HttpRequestUriInvalid)?;
                }
            }
            // Counted once it is allowed and about to leave (`wharf bench`'s requests per op).
            crate::network::count_request();
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

    fn list(entries: &[&str]) -> HttpAllowList {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        HttpAllowList::new(&entries, 16).expect("entries")
    }

    fn checks(l: &HttpAllowList, uri: &str) -> bool {
        l.check(&uri.parse().expect("a URI")).is_ok()
    }

    #[test]
    fn what_an_entry_grants() {
        let l = list(&[
            "Example.com",
            "127.0.0.1:9000",
            "http://plain.example:8080",
            "[::1]:9001",
        ]);
        assert!(checks(&l, "https://example.com/x"));
        assert!(checks(&l, "http://EXAMPLE.com/x"));
        assert!(
            checks(&l, "http://example.com.:80/x"),
            "a trailing dot is the same name"
        );
        assert!(!checks(&l, "https://example.com:8443/x"));
        assert!(!checks(&l, "https://evil.example.com/"));
        assert!(checks(&l, "http://127.0.0.1:9000/"));
        assert!(
            checks(&l, "https://127.0.0.1:9000/"),
            "no scheme in the entry: both"
        );
        assert!(!checks(&l, "http://127.0.0.1:9001/"));
        assert!(checks(&l, "http://plain.example:8080/"));
        assert!(
            !checks(&l, "https://plain.example:8080/"),
            "granted for http only"
        );
        assert!(checks(&l, "http://[::1]:9001/"));
        assert!(
            checks(&l, "http://[::ffff:127.0.0.1]:9000/"),
            "IPv4-mapped is the IPv4 address"
        );
        // Other spellings of 127.0.0.1, and user information, are never granted.
        for other in [
            "http://127.1:9000/",
            "http://2130706433:9000/",
            "http://0x7f000001:9000/",
            "http://0177.0.0.1:9000/",
            "http://127.0.0.01:9000/",
            "http://localhost:9000/",
            "http://user:pw@127.0.0.1:9000/",
            "http://127.0.0.1@127.0.0.1:9000/",
        ] {
            assert!(!checks(&l, other), "{other}");
        }
        assert!(!checks(&list(&[]), "https://example.com/"));
    }

    #[test]
    fn entries_are_checked() {
        for bad in [
            "",
            "ftp://example.com",
            "user@example.com",
            "example.com/path",
            "127.1",
            "0x7f000001:80",
            "exa mple.com",
            "example.com:99999",
        ] {
            let e = HttpAllowList::new(&[bad.to_string()], 16).err().expect(bad);
            assert!(e.to_string().contains("http"), "{bad}: {e}");
        }
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn requests_in_flight_are_bounded() {
        let l = HttpAllowList::new(&[], 2).expect("empty");
        let a = l.admit().expect("one");
        let b = l.admit().expect("two");
        assert!(l.admit().is_none(), "a third");
        drop(a);
        let _c = l.admit().expect("one done, another may go");
        drop(b);
        assert_eq!(l.in_flight.load(Ordering::Acquire), 1);
    }
}
