//! Serving: the listener (TLS with rustls when configured), one task per connection (HTTP/1.1
//! and HTTP/2), an access log line per request, upload purging, reload and graceful shutdown.
//!
//! A reload swaps in a new [`Api`] — a new driver, a new guest component, new credentials —
//! for the requests that start after it; requests in flight finish on the one they started
//! with. A configuration that fails to load leaves the old one serving.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use futures::{Stream, StreamExt};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::config::{Config, Tls};
use crate::http::Api;

/// Makes the [`Api`] a configuration describes (its driver above all); an error says why not.
pub type MakeApi =
    Arc<dyn Fn(Config) -> Pin<Box<dyn Future<Output = Result<Api, String>> + Send>> + Send + Sync>;

/// What the server is told while it runs.
pub enum Signal {
    /// Serve this configuration from now on (`SIGHUP` after re-reading the file).
    Reload(Box<Result<Config, String>>),
    /// Stop accepting, finish what is in flight, return (`SIGTERM`, `SIGINT`).
    Stop,
}

/// A bound server, not yet serving.
pub struct Server {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    config: Config,
    current: Arc<RwLock<Arc<Api>>>,
    make: MakeApi,
}

fn tls_acceptor(tls: &Tls) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&tls.certificate)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| {
                format!(
                    "http.tls.certificate: cannot read {}: {e}",
                    tls.certificate.display()
                )
            })?;
    if certificates.is_empty() {
        return Err(format!(
            "http.tls.certificate: {} holds no certificate",
            tls.certificate.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("http.tls.key: cannot read {}: {e}", tls.key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certificates, key)
    .map_err(|e| format!("http.tls: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl Server {
    /// Binds `http.addr` (or `addr` when given, e.g. port 0 in tests) and makes the first
    /// [`Api`].
    pub async fn bind(
        config: Config,
        addr: Option<SocketAddr>,
        make: MakeApi,
    ) -> Result<Server, String> {
        let addr = match addr {
            Some(a) => a,
            None => config.socket_addr().map_err(|e| e.to_string())?,
        };
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let api = make(config.clone()).await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Server {
            listener,
            tls,
            config,
            current: Arc::new(RwLock::new(Arc::new(api))),
            make,
        })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `signals` says stop (or ends), then waits for requests in flight for up to
    /// `http.draintimeout`.
    pub async fn run(self, signals: impl Stream<Item = Signal> + Send + 'static) {
        let Server {
            listener,
            tls,
            config,
            current,
            make,
        } = self;
        let drain = config.drain_timeout;
        let (purging, settings) = tokio::sync::watch::channel(config.purging.clone());
        let purger = tokio::spawn(purge_loop(current.clone(), settings));
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        let mut signals = Box::pin(signals);
        let mut config = config;
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accepting a connection failed");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let current = current.clone();
                    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let api = current.read().expect("never poisoned").clone();
                        async move {
                            let started = Instant::now();
                            let method = request.method().clone();
                            let path = request.uri().path().to_owned();
                            let response = api.handle(request).await;
                            crate::metrics::record_request(
                                &method,
                                crate::http::route_kind(&path),
                                response.status().as_u16(),
                                started.elapsed(),
                            );
                            tracing::info!(
                                target: "wharf::access",
                                %peer, %method, path, status = response.status().as_u16(),
                                micros = started.elapsed().as_micros() as u64,
                            );
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    match &tls {
                        None => {
                            let connection = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .into_owned();
                            let connection = graceful.watch(connection);
                            tokio::spawn(async move {
                                if let Err(e) = connection.await {
                                    tracing::debug!(%peer, error = %e, "connection ended");
                                }
                            });
                        }
                        Some(acceptor) => {
                            let acceptor = acceptor.clone();
                            let builder = builder.clone();
                            let watcher = graceful.watcher();
                            tokio::spawn(async move {
                                let stream = match acceptor.accept(stream).await {
                                    Ok(s) => s,
                                    Err(e) => {
                                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                        return;
                                    }
                                };
                                let connection = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .into_owned();
                                if let Err(e) = watcher.watch(connection).await {
                                    tracing::debug!(%peer, error = %e, "connection ended");
                                }
                            });
                        }
                    }
                }
                signal = signals.next() => match signal.map(|s| match s {
                    Signal::Reload(r) => Some(*r),
                    Signal::Stop => None,
                }) {
                    Some(Some(Ok(new))) => {
                        if new.addr != config.addr || new.tls != config.tls {
                            tracing::warn!("http.addr and http.tls change only on a restart");
                        }
                        match make(new.clone()).await {
                            Ok(api) => {
                                *current.write().expect("never poisoned") = Arc::new(api);
                                if new.purging != config.purging {
                                    purging.send_replace(new.purging.clone());
                                    tracing::info!(enabled = new.purging.enabled, "upload purging follows the new settings");
                                }
                                config = new;
                                tracing::info!("configuration reloaded; new requests use it");
                            }
                            Err(e) => tracing::error!(error = %e, "reload failed; the old configuration goes on serving"),
                        }
                    }
                    Some(Some(Err(e))) => {
                        tracing::error!(error = %e, "reload failed; the old configuration goes on serving");
                    }
                    Some(None) | None => break,
                }
            }
        }
        purger.abort();
        drop(listener);
        tracing::info!("shutting down: waiting for requests in flight");
        if tokio::time::timeout(drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after http.draintimeout; stopping anyway");
        }
    }
}

/// Removes uploads older than `age` every `interval`, as the reference's purger (which waits a
/// random part of an hour first, so that registries started together do not purge together),
/// through whichever [`Api`] serves at the time. New `settings` (a reload) take over at once,
/// with a new first wait; a purge under way finishes first.
async fn purge_loop(
    current: Arc<RwLock<Arc<Api>>>,
    mut settings: tokio::sync::watch::Receiver<crate::config::Purging>,
) {
    loop {
        let purging = settings.borrow_and_update().clone();
        if purging.enabled {
            let jitter = std::time::Duration::from_secs(rand::random_range(0..60) * 60);
            let mut wait = jitter.min(purging.interval);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = settings.changed() => match changed {
                        Ok(()) => break,
                        Err(_) => return,
                    },
                }
                let api = current.read().expect("never poisoned").clone();
                // An age past the clock's start purges nothing (and must not panic).
                let before = SystemTime::now()
                    .checked_sub(purging.age)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                match api.storage().purge_uploads(before, purging.dry_run).await {
                    Ok(n) if purging.dry_run => {
                        tracing::info!(uploads = n, "upload purging (dry run) would remove")
                    }
                    Ok(n) => tracing::info!(uploads = n, "upload purging removed"),
                    Err(e) => tracing::warn!(error = %e, "upload purging failed"),
                }
                wait = purging.interval;
            }
        } else if settings.changed().await.is_err() {
            return;
        }
    }
}
