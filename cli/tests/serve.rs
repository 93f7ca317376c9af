//! `wharf serve` as an operator runs it: a process started with a `config.yml` (and a
//! `wharf.toml` for a guest driver), stopped with SIGTERM and started again with an upload
//! half done, reloaded with SIGHUP while a request is in flight, and given a broken component.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

/// A running `wharf serve`, its address and what it logged.
struct Serve {
    child: Child,
    url: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Serve {
    fn start(config: &Path, wharf_config: Option<&Path>) -> Serve {
        let mut args = vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "--addr".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        if let Some(w) = wharf_config {
            args.extend(["--wharf-config".to_owned(), w.display().to_string()]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args(&args)
            .env("WHARF_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wharf serve");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the address");
        assert!(
            !line.trim().is_empty(),
            "wharf serve printed no address: {}",
            log.lock().unwrap()
        );
        Serve {
            child,
            url: format!("http://{}", line.trim()),
            log,
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("wharf serve did not stop on SIGTERM: {}", self.log());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `text`.
    async fn wait_for_log(&self, text: &str) {
        for _ in 0..600 {
            if self.log().contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {text:?} in the log: {}", self.log());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(data);
    format!("sha256:{}", hex::encode(hash))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_upload_goes_on_after_sigterm_and_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:1\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let serve = Serve::start(&config, None);
    let r = http()
        .post(format!("{}/v2/app/blobs/uploads/", serve.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let path = r.headers()["location"].to_str().unwrap().to_owned();
    let r = http()
        .patch(format!("{}{path}", serve.url))
        .header("content-range", "0-999999")
        .body(data[..1_000_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let status = serve.stop();
    assert!(
        status.success(),
        "SIGTERM ends wharf serve cleanly: {status}"
    );

    let serve = Serve::start(&config, None);
    let r = http()
        .patch(format!("{}{path}", serve.url))
        .header("content-range", "1000000-1999999")
        .body(data[1_000_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", serve.log());
    let d = sha256(&data);
    let r = http()
        .put(format!("{}{path}?digest={d}", serve.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", serve.log());
    let got = http()
        .get(format!("{}/v2/app/blobs/{d}", serve.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got, data);
    assert!(
        serve.log().contains("wharf::access"),
        "an access log line per request"
    );
}

#[tokio::test]
async fn sighup_swaps_the_guest_component_without_dropping_a_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    std::fs::create_dir(&blobs).unwrap();
    let component = dir.path().join("driver.wasm");
    let wharf_toml = dir.path().join("wharf.toml");
    std::fs::write(&component, wharf::guests::FILESYSTEM_WASM).unwrap();
    std::fs::write(
        &wharf_toml,
        format!(
            "[drivers.thirdparty]\ncomponent = \"driver.wasm\"\nparams = {{ rootdirectory = \"/data\" }}\n\
             sandbox = {{ dirs = [\"{}:/data\"] }}\n",
            blobs.display()
        ),
    )
    .unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        "storage:\n  thirdparty: {}\nlog:\n  formatter: json\n",
    )
    .unwrap();
    let serve = Serve::start(&config, Some(&wharf_toml));
    let url = serve.url.clone();
    let kept = b"pushed before the reload".to_vec();
    let kept_digest = sha256(&kept);
    let r = http()
        .post(format!("{url}/v2/app/blobs/uploads/?digest={kept_digest}"))
        .body(kept.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", serve.log());

    // A chunk that trickles in across the reload.
    let r = http()
        .post(format!("{url}/v2/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let upload = format!("{url}{}", r.headers()["location"].to_str().unwrap());
    let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    let in_flight = tokio::spawn(
        http()
            .patch(&upload)
            .body(reqwest::Body::wrap_stream(receiver))
            .send(),
    );
    sender.unbounded_send(Ok(vec![1u8; 300_000])).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The new component is the in-memory guest: what the old one stored is not in it.
    std::fs::write(&component, wharf::guests::INMEMORY_WASM).unwrap();
    std::fs::write(
        &wharf_toml,
        "[drivers.thirdparty]\ncomponent = \"driver.wasm\"\n",
    )
    .unwrap();
    serve.signal("HUP");
    serve.wait_for_log("configuration reloaded").await;
    sender.unbounded_send(Ok(vec![2u8; 300_000])).unwrap();
    drop(sender);
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", serve.log());
    assert_eq!(
        r.headers()["range"],
        "0-599999",
        "the request finished on the old driver"
    );
    let r = http()
        .head(format!("{url}/v2/app/blobs/{kept_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "new requests use the new component"
    );

    // A component that does not load leaves the last one serving, and says why.
    let fresh = b"pushed to the in-memory guest".to_vec();
    let fresh_digest = sha256(&fresh);
    let r = http()
        .post(format!("{url}/v2/app/blobs/uploads/?digest={fresh_digest}"))
        .body(fresh.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    std::fs::write(&component, b"not a component").unwrap();
    serve.signal("HUP");
    serve.wait_for_log("reload failed").await;
    let r = http()
        .get(format!("{url}/v2/app/blobs/{fresh_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", serve.log());
    assert_eq!(r.bytes().await.unwrap(), fresh);
    let log = serve.log.clone();
    assert!(serve.stop().success());
    // `log.formatter: json`: every line is one JSON object.
    let log = log.lock().unwrap().clone();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(parsed["fields"].is_object(), "{line}");
    }
}

#[test]
fn a_bad_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        "storage:\n  inmemory: {}\nhttp:\n  adress: :5000\n",
    )
    .unwrap();
    let out = common::wharf(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = common::text(&out);
    assert!(
        text.contains("unknown configuration key http.adress"),
        "{text}"
    );
}
