//! Backends restarted in the middle of an upload, on servers of the test's own that keep their
//! data on disk (so the shared test servers are never disturbed):
//!
//! - **Azurite** with a disk location: an upload closed before the server is stopped (SIGTERM:
//!   Azurite itself loses unsaved metadata to a SIGKILL) resumes from another driver instance after the restart and commits exactly its bytes; a
//!   writer still open while the server is down bridges the outage with its retries and commits
//!   exactly; committed content survives.
//! - **s3s-fs** (its data a directory), killed with SIGKILL: the same writer bridging a
//!   restart, and committed
//!   content surviving it. s3s-fs lists no multipart uploads, so resuming from another instance
//!   is out of its reach (the s3 driver's resume is proved on moto, and under kill -9 in
//!   `crash.rs`).
//!
//! - **Swift** (the shared test cluster of `servers/swift-up.sh`, whose processes are each
//!   killed with SIGKILL and started again as that script started them): the object server,
//!   which keeps the segments, and the proxy, both down for about a second. The same writer
//!   bridging the outage, an upload closed before it resuming on another instance, committed
//!   content surviving. The cluster is always left running (its PID files updated).
//!
//! Needs `servers/azure-up.sh`, `servers/s3-up.sh` (for the binaries: `WHARF_AZURITE_BIN`,
//! `WHARF_S3S_BIN`, in target/servers/env) and `servers/swift-up.sh`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf::{DriverRegistry, Params, StorageDriver, WithBuiltin};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run servers/up.sh, then `. target/servers/env`")
    })
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A server process of the test's own, started again on the same port and data on demand.
struct Server {
    port: u16,
    command: Box<dyn Fn(u16) -> Command>,
    child: Option<Child>,
    /// Stopped with SIGTERM rather than SIGKILL (a server that is not crash-safe itself).
    graceful: bool,
    /// A process of a shared test server, taken over from the script that started it: its PID
    /// file (rewritten at each start) and its PID until the first kill. It is left running.
    adopted: Option<(PathBuf, Option<u32>)>,
}

impl Server {
    fn start(graceful: bool, command: impl Fn(u16) -> Command + 'static) -> Self {
        let mut server = Self {
            port: free_port(),
            command: Box::new(command),
            child: None,
            graceful,
            adopted: None,
        };
        server.up();
        server
    }

    /// Takes over the running process of `pid_file`, listening on `port` (0: on ports of its
    /// choosing, not waited for): a kill stops it, and `up` starts it again with its own
    /// command line, writing the new PID to `pid_file`.
    fn adopt(pid_file: PathBuf, port: u16) -> Self {
        let text = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("read {}: {e}", pid_file.display()));
        let pid: u32 = text.trim().parse().expect("a PID");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .unwrap_or_else(|e| panic!("process {pid} of {}: {e}", pid_file.display()));
        let argv: Vec<String> = cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        Self {
            port,
            command: Box::new(move |_| {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }),
            child: None,
            graceful: false,
            adopted: Some((pid_file, Some(pid))),
        }
    }

    fn up(&mut self) {
        let child = (self.command)(self.port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        if let Some((pid_file, _)) = &self.adopted {
            std::fs::write(pid_file, format!("{}\n", child.id())).expect("write the PID file");
        }
        self.child = Some(child);
        if self.port == 0 {
            // No port to wait for: its clients wait for it themselves.
            return;
        }
        for _ in 0..300 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the server did not listen on port {} within 30 s",
            self.port
        );
    }

    /// SIGKILL, as a crash would (SIGTERM for a graceful server).
    fn kill(&mut self) {
        if let Some((_, pid)) = &mut self.adopted
            && let Some(pid) = pid.take()
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            // Not a child: wait until it is gone (or a zombie).
            for _ in 0..100 {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                if stat
                    .rsplit_once(") ")
                    .is_none_or(|(_, rest)| rest.starts_with('Z'))
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(mut child) = self.child.take() {
            if self.graceful {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
            } else {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.adopted.is_some() {
            // A shared server stays up for the other tests, whatever happened here.
            if matches!(&self.adopted, Some((_, None))) && self.child.is_none() {
                self.up();
            }
            // The process outlives this test (servers/swift-down.sh stops it by its PID file).
            if let Some(child) = self.child.take() {
                std::mem::forget(child);
            }
            return;
        }
        self.kill();
    }
}

/// A deterministic content of `len` bytes.
fn content(seed: u8, len: usize) -> Bytes {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2654435761)
                .wrapping_add(seed as u64) as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Writes `data` to a writer of `path` opened on `driver`, in 256 KiB pieces.
async fn write_all(w: &mut Box<dyn wharf::FileWriter>, data: &[u8]) {
    for piece in data.chunks(256 * 1024) {
        w.write(Bytes::copy_from_slice(piece))
            .await
            .expect("write a piece");
    }
}

/// Proves on `make()`'s drivers that committed content survives a kill and restart of
/// `servers`, and that a writer open across the outage commits exactly; with `resume`, also
/// that an upload closed before the kill resumes on another instance.
async fn upload_across_a_restart<F, Fut>(servers: &mut [Server], make: F, resume: bool)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn StorageDriver>>,
{
    let a = make().await;
    let committed = content(1, 3 << 20);
    a.put_content("/committed", committed.clone())
        .await
        .expect("put committed content");
    let first = content(2, 6 << 20);
    if resume {
        let mut w = a.writer("/closed", false).await.expect("open an upload");
        write_all(&mut w, &first).await;
        w.close().await.expect("close the upload");
    }
    // An upload that stays open while the server is down.
    let mut open = a
        .writer("/open", false)
        .await
        .expect("open a second upload");
    write_all(&mut open, &first).await;

    for server in servers.iter_mut() {
        server.kill();
    }
    // Writes while the server is gone: buffered, or sent and retried until it is back.
    let second = content(3, 5 << 20);
    let restart = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        tokio::task::block_in_place(|| {
            for server in servers.iter_mut() {
                server.up();
            }
        });
    };
    let writing = async {
        write_all(&mut open, &second).await;
        open.commit().await.expect("commit across the restart");
    };
    tokio::join!(restart, writing);

    let b = make().await;
    assert_eq!(
        b.get_content("/committed")
            .await
            .expect("committed content"),
        committed,
        "committed content changed across the restart"
    );
    let whole = [first.as_ref(), second.as_ref()].concat();
    let got = b.get_content("/open").await.expect("the bridged upload");
    assert!(
        got == whole,
        "the upload open across the restart committed {} bytes, not exactly its {}",
        got.len(),
        whole.len()
    );
    if resume {
        let mut w = b
            .writer("/closed", true)
            .await
            .expect("resume on another instance");
        assert_eq!(w.size(), first.len() as u64, "resumed size");
        write_all(&mut w, &second).await;
        w.commit().await.expect("commit the resumed upload");
        let got = b.get_content("/closed").await.expect("the resumed upload");
        assert!(
            got == whole,
            "the resumed upload committed {} bytes, not exactly its {}",
            got.len(),
            whole.len()
        );
    }
    for path in ["/committed", "/open", "/closed"] {
        let _ = b.delete(path).await;
    }
}

/// Generous retries: the server is away for about a second.
const PATIENT: [(&str, &str); 2] = [("max_retries", "12"), ("retry_delay", "100ms")];

/// `params` with [`PATIENT`] retries.
fn patient(mut params: Params) -> Params {
    for (k, v) in PATIENT {
        params.insert(k, v);
    }
    params
}

/// Makes drivers `name` from `params` through the factory, a new instance at each call.
fn drivers(
    name: &'static str,
    params: Params,
) -> impl Fn() -> futures::future::BoxFuture<'static, Arc<dyn StorageDriver>> {
    move || {
        let params = params.clone();
        Box::pin(async move {
            DriverRegistry::with_builtin()
                .create(name, params)
                .await
                .unwrap_or_else(|e| panic!("create the {name} driver: {e}"))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azurite_restarted_during_an_upload() {
    let bin = var("WHARF_AZURITE_BIN");
    let (account, key) = (
        var("WHARF_AZURE_ACCOUNTNAME"),
        var("WHARF_AZURE_ACCOUNTKEY"),
    );
    let data = tempfile::tempdir().expect("a data directory");
    let location = data.path().to_owned();
    // Azurite keeps its metadata in memory and saves it now and then: killed with SIGKILL it
    // loses what it had not saved (a container made a moment before), which is Azurite's own
    // limit, not a driver's. It is stopped with SIGTERM, as a service restart would.
    let mut server = Server::start(true, move |port| {
        let mut c = Command::new(&bin);
        c.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&location)
            .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"]);
        c
    });
    let params = Params::from_pairs([
        ("accountname", account.as_str()),
        ("accountkey", key.as_str()),
        ("container", "restarts"),
        (
            "serviceurl",
            format!("http://127.0.0.1:{}/{account}", server.port).as_str(),
        ),
    ]);
    let config = wharf::drivers::azure::Config::from_params(params.clone()).expect("parameters");
    wharf::drivers::azure::AzureDriver::new(config)
        .expect("a driver")
        .create_container()
        .await
        .expect("create the container");
    let make = drivers("azure", patient(params));
    upload_across_a_restart(std::slice::from_mut(&mut server), make, true).await;
    assert!(Path::new(data.path()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3s_fs_restarted_during_an_upload() {
    let bin = var("WHARF_S3S_BIN");
    let (access, secret) = (var("WHARF_S3S_ACCESS_KEY"), var("WHARF_S3S_SECRET_KEY"));
    let data = tempfile::tempdir().expect("a data directory");
    std::fs::create_dir(data.path().join("restarts")).expect("the bucket's directory");
    let root = data.path().to_owned();
    let (a, s) = (access.clone(), secret.clone());
    let mut server = Server::start(false, move |port| {
        let mut c = Command::new(&bin);
        c.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &a, "--secret-key", &s])
            .arg(&root);
        c
    });
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let make = drivers(
        "s3",
        patient(Params::from_pairs([
            ("bucket", "restarts"),
            ("regionendpoint", endpoint.as_str()),
            ("region", "us-east-1"),
            ("forcepathstyle", "true"),
            ("accesskey", access.as_str()),
            ("secretkey", secret.as_str()),
            ("chunksize", "5MiB"),
        ])),
    );
    upload_across_a_restart(std::slice::from_mut(&mut server), make, false).await;
}

/// Where `servers/*-up.sh` keep the shared test servers' state (PID files, configuration).
fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/servers")
}

/// The `bind_port` of a Swift server's configuration file.
fn bind_port(conf: &Path) -> u16 {
    let text =
        std::fs::read_to_string(conf).unwrap_or_else(|e| panic!("read {}: {e}", conf.display()));
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("bind_port"))
        .filter_map(|rest| rest.trim().strip_prefix('='))
        .find_map(|port| port.trim().parse().ok())
        .unwrap_or_else(|| panic!("no bind_port in {}", conf.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swift_restarted_during_an_upload() {
    let (authurl, username, password) = (
        var("WHARF_SWIFT_AUTHURL"),
        var("WHARF_SWIFT_USERNAME"),
        var("WHARF_SWIFT_PASSWORD"),
    );
    let swift = servers_dir().join("swift");
    let mut servers: Vec<Server> = ["object", "proxy"]
        .iter()
        .map(|s| {
            let port = bind_port(&swift.join(format!("etc/{s}-server.conf")));
            Server::adopt(swift.join(format!("run/{s}.pid")), port)
        })
        .collect();
    let container = format!("restarts-{}", std::process::id());
    let make = drivers(
        "swift",
        patient(Params::from_pairs([
            ("authurl", authurl.as_str()),
            ("username", username.as_str()),
            ("password", password.as_str()),
            ("container", container.as_str()),
            // The test cluster's objects are at most 1 MiB.
            ("chunksize", "1MiB"),
        ])),
    );
    upload_across_a_restart(&mut servers, make, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceph_osd_restarted_during_an_upload() {
    let (conffile, pool) = (var("WHARF_RADOS_CONFFILE"), var("WHARF_RADOS_POOL"));
    let servers = servers_dir();
    // The cluster's one OSD, which holds every object; its clients wait for it to come back.
    let mut osd = Server::adopt(servers.join("rados-osd.pid"), 0);
    let namespace = format!("restarts-{}", std::process::id());
    let make = drivers(
        "rados",
        Params::from_pairs([
            ("poolname", pool.as_str()),
            ("conffile", conffile.as_str()),
            ("namespace", namespace.as_str()),
        ]),
    );
    upload_across_a_restart(std::slice::from_mut(&mut osd), make, true).await;
}
