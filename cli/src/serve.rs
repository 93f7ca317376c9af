//! `wharf serve`: an OCI registry over the driver a registry `config.yml` names (a guest driver
//! through `--wharf-config`), until SIGTERM or SIGINT; SIGHUP reloads the configuration — a new
//! driver, a new guest component — without dropping requests in flight.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use wharf_registry::config::Config;
use wharf_registry::http::Api;
use wharf_registry::metrics::Metrics;
use wharf_registry::server::{MakeApi, Server, Signal};
use wharf_registry::storage::Storage;

/// Arguments of `wharf serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The registry configuration (the reference registry's config.yml keys; `REGISTRY_*`
    /// environment overrides apply). Default: $REGISTRY_CONFIGURATION_PATH.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// A wharf.toml whose guest drivers the configuration's `storage` may name.
    #[arg(long)]
    pub wharf_config: Option<PathBuf>,
    /// Listen here instead of `http.addr` (e.g. 127.0.0.1:0 for any free port; the address is
    /// printed on standard output).
    #[arg(long)]
    pub addr: Option<std::net::SocketAddr>,
}

fn make_api(wharf_config: Option<PathBuf>, metrics: Metrics) -> MakeApi {
    Arc::new(move |config: Config| {
        let wharf_config = wharf_config.clone();
        let metrics = metrics.clone();
        Box::pin(async move {
            let registry = crate::target::registry(wharf_config.as_deref())
                .await
                .map_err(|e| format!("{e:#}"))?;
            let name = config.storage.driver.clone();
            crate::target::ensure_built_in(&registry, &name).map_err(|e| format!("{e:#}"))?;
            let driver = registry
                .create(&name, config.storage.params.clone())
                .await
                .map_err(|e| format!("storage: {e}"))?;
            let auth = config
                .htpasswd
                .as_ref()
                .map(|h| wharf_registry::auth::Htpasswd::load(&h.realm, &h.path))
                .transpose()
                .map_err(|e| format!("auth.htpasswd: {e}"))?;
            Ok(Api::new(
                Storage::new(driver, config.options.clone()),
                auth,
                config.headers.clone(),
            )
            .with_metrics(metrics))
        })
    })
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}

fn signals(
    config_path: &Path,
) -> anyhow::Result<impl futures::Stream<Item = Signal> + Send + 'static> {
    let path = config_path.to_owned();
    let hangups = tokio_stream_of(signal(SignalKind::hangup())?).map(move |()| {
        tracing::info!(config = %path.display(), "SIGHUP: reloading the configuration");
        Signal::Reload(Box::new(Config::load(&path).map_err(|e| e.to_string())))
    });
    let stops = futures::stream::select(
        tokio_stream_of(signal(SignalKind::terminate())?),
        tokio_stream_of(signal(SignalKind::interrupt())?),
    )
    .map(|()| Signal::Stop);
    Ok(futures::stream::select(hangups, stops))
}

fn tokio_stream_of(mut s: tokio::signal::unix::Signal) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::poll_fn(move |cx| s.poll_recv(cx))
}

/// Runs `wharf serve`.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let path = match args.config.clone() {
        Some(path) => path,
        None => std::env::var_os("REGISTRY_CONFIGURATION_PATH")
            .map(PathBuf::from)
            .context(
                "say which configuration to serve: --config FILE or REGISTRY_CONFIGURATION_PATH",
            )?,
    };
    let config = Config::load(&path)?;
    init_logging(&config.log_level, config.log_json);
    let metrics = Metrics::install().map_err(anyhow::Error::msg)?;
    let server = Server::bind(
        config,
        args.addr,
        make_api(args.wharf_config.clone(), metrics),
    )
    .await
    .map_err(anyhow::Error::msg)
    .context("starting the registry")?;
    // The address first, alone on its line, for whoever started us on port 0.
    println!("{}", server.local_addr());
    tracing::info!(addr = %server.local_addr(), "serving");
    server.run(signals(&path)?).await;
    Ok(ExitCode::SUCCESS)
}
