//! What the registry's tests share: the drivers they run on, a registry served in this process
//! on a free port (stopped and started again over the same storage for restarts), and an HTTP
//! client that follows no redirects.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use futures::channel::mpsc;
use wharf::{DriverRegistry, Params, StorageDriver, WithBuiltin};
use wharf_registry::config::Config;
use wharf_registry::http::Api;
use wharf_registry::server::{MakeApi, Server, Signal};
use wharf_registry::storage::Storage;

/// The drivers the registry is tested on (the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InMemory,
    Filesystem,
    S3,
    GuestFilesystem,
}

/// Storage that outlives one server: the parameters that open it again, and what to keep alive.
pub struct Backend {
    pub kind: Kind,
    name: &'static str,
    params: Params,
    first: Option<Arc<dyn StorageDriver>>,
    pub dir: Option<tempfile::TempDir>,
}

impl Backend {
    /// The reference registry's tree (`docker/registry/v2`) of a filesystem backend, on disk.
    pub fn tree(&self) -> std::path::PathBuf {
        self.dir
            .as_ref()
            .expect("a filesystem backend")
            .path()
            .join("docker/registry/v2")
    }

    pub async fn new(kind: Kind) -> Backend {
        let (name, params, dir) = match kind {
            Kind::InMemory => ("inmemory", Params::new(), None),
            Kind::Filesystem | Kind::GuestFilesystem => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let params = Params::from_pairs([(
                    "rootdirectory",
                    dir.path().to_string_lossy().into_owned(),
                )]);
                let name = if kind == Kind::Filesystem {
                    "filesystem"
                } else {
                    wharf::guests::FILESYSTEM
                };
                (name, params, Some(dir))
            }
            Kind::S3 => {
                let bucket = wharf_driver_s3::testing::moto_bucket("registry").await;
                let key = wharf_driver_s3::testing::MOTO_KEY;
                let params = Params::from_pairs([
                    ("bucket", bucket),
                    ("regionendpoint", wharf_driver_s3::testing::moto_endpoint()),
                    ("region", "us-east-1".to_owned()),
                    ("forcepathstyle", "true".to_owned()),
                    ("accesskey", key.to_owned()),
                    ("secretkey", key.to_owned()),
                ]);
                ("s3", params, None)
            }
        };
        let mut backend = Backend {
            kind,
            name,
            params,
            first: None,
            dir,
        };
        backend.first = Some(backend.open().await);
        backend
    }

    /// A driver over the storage: the first one, or (`fresh`) a new instance, as a restarted
    /// server makes (the in-memory driver has only its one instance).
    pub async fn open(&self) -> Arc<dyn StorageDriver> {
        if let (Some(first), Kind::InMemory) = (&self.first, self.kind) {
            return first.clone();
        }
        DriverRegistry::with_builtin()
            .create(self.name, self.params.clone())
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", self.name))
    }

    pub fn driver(&self) -> Arc<dyn StorageDriver> {
        self.first.clone().expect("opened")
    }
}

/// A registry served in this process.
pub struct Running {
    pub addr: SocketAddr,
    pub url: String,
    signals: mpsc::UnboundedSender<Signal>,
    task: tokio::task::JoinHandle<()>,
}

/// The configuration used with `extra` YAML sections (deletes on unless `extra` has storage
/// options of its own).
pub fn config(extra: &str) -> Config {
    let text = format!("storage:\n  inmemory: {{}}\n  delete: {{enabled: true}}\n{extra}");
    Config::parse(&text, &[]).unwrap_or_else(|e| panic!("test configuration: {e}"))
}

fn make_api(driver: Arc<dyn StorageDriver>) -> MakeApi {
    Arc::new(move |config: Config| {
        let driver = driver.clone();
        Box::pin(async move {
            let auth = config
                .htpasswd
                .as_ref()
                .map(|h| wharf_registry::auth::Htpasswd::load(&h.realm, &h.path))
                .transpose()?;
            Ok(Api::new(
                Storage::new(driver, config.options.clone()),
                auth,
                config.headers.clone(),
            ))
        })
    })
}

impl Running {
    /// Serves `driver` with `config`.
    pub async fn start(driver: Arc<dyn StorageDriver>, config: Config) -> Running {
        let server = Server::bind(
            config,
            Some("127.0.0.1:0".parse().unwrap()),
            make_api(driver),
        )
        .await
        .expect("bind the registry");
        let addr = server.local_addr();
        let (signals, receiver) = mpsc::unbounded();
        let task = tokio::spawn(server.run(receiver));
        Running {
            addr,
            url: format!("http://{addr}"),
            signals,
            task,
        }
    }

    /// Serves `backend`'s storage with default options.
    pub async fn serve(backend: &Backend) -> Running {
        Running::start(backend.driver(), config("")).await
    }

    /// Reloads with `config`.
    pub fn reload(&self, config: Result<Config, String>) {
        self.signals
            .unbounded_send(Signal::Reload(Box::new(config)))
            .expect("the server runs");
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        let _ = self.signals.unbounded_send(Signal::Stop);
        self.task.await.expect("the server task ends");
    }
}

/// PATCHes `data` as the chunk at `start` of the upload at `location`.
pub async fn patch(location: &str, start: u64, data: &[u8]) -> reqwest::Response {
    client()
        .patch(location)
        .header("content-type", "application/octet-stream")
        .header(
            "content-range",
            format!("{start}-{}", start + data.len() as u64 - 1),
        )
        .body(data.to_vec())
        .send()
        .await
        .unwrap()
}

/// Finishes the upload at `location`, which holds `data[..held]`: its status says so (204 with
/// that `Range`), the rest is PATCHed (202), and a PUT with the digest commits it (201). The
/// PUT's answer.
pub async fn finish_upload(location: &str, data: &[u8], held: usize) -> reqwest::Response {
    let status = client().get(location).send().await.unwrap();
    assert_eq!(status.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(
        status.headers()["range"],
        format!("0-{}", held - 1).as_str()
    );
    let r = patch(location, held as u64, &data[held..]).await;
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let r = client()
        .put(format!("{location}?digest={}", digest(data)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    r
}

/// A client that follows no redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// The error code of an error answer.
pub async fn code_of(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("an error body");
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
        .to_owned()
}

/// SHA-256 digest string of `data`.
pub fn digest(data: &[u8]) -> String {
    wharf_registry::names::Digest::of(data).to_string()
}
