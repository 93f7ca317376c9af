//! `wharf-count-proxy UPSTREAM_URL [--upstream-host]`: the fault proxy with no faults, in front
//! of one server, to count on the wire the HTTP requests any client sends it (a driver of
//! another implementation, for `docs/BENCHMARKS.md`'s tables against the reference).
//!
//! It prints one line, `proxy http://127.0.0.1:P control http://127.0.0.1:C`, then serves until
//! killed. A request to the control address is answered with the number of requests the proxy
//! has received so far (a decimal, `text/plain`), or for `GET /log` with its log of them (its
//! last 50 000, one line each); control requests are not counted.
//! `--upstream-host` presents the proxy as the server (for servers that route by `Host`, as
//! fake-gcs-server does; see `FaultProxy::upstream_host`).

use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use wharf_reliability::{FaultProxy, Plan};

const USAGE: &str = "usage: wharf-count-proxy UPSTREAM_URL [--upstream-host]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut upstream = None;
    let mut upstream_host = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--upstream-host" => upstream_host = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if arg.starts_with('-') || upstream.is_some() => {
                eprintln!("wharf-count-proxy: unexpected argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => upstream = Some(arg),
        }
    }
    let Some(upstream) = upstream else {
        eprintln!("wharf-count-proxy: the upstream server's URL is missing\n{USAGE}");
        return ExitCode::from(2);
    };
    match serve(&upstream, upstream_host).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharf-count-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(upstream: &str, upstream_host: bool) -> std::io::Result<()> {
    let mut proxy = FaultProxy::in_front_of(upstream, Plan::none(), 0)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("proxy to {upstream}: {e}")))?;
    if upstream_host {
        proxy = proxy.upstream_host();
    }
    let control = TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "proxy {} control http://{}",
        proxy.url(),
        control.local_addr()?
    );
    let proxy = std::sync::Arc::new(proxy);
    loop {
        // A failed accept (a connection reset before it was taken) leaves the proxy serving.
        let Ok((stream, _)) = control.accept().await else {
            continue;
        };
        // Each control client on a task of its own, so one that sends nothing holds up no
        // other.
        let proxy = proxy.clone();
        tokio::spawn(async move { answer(stream, &proxy).await });
    }
}

/// Answers one control request: the count, or for `GET /log` the log.
async fn answer(stream: tokio::net::TcpStream, proxy: &FaultProxy) {
    let (read, mut write) = stream.into_split();
    // The request's head, up to its blank line (at most 10 s for it).
    let mut lines = BufReader::new(read).lines();
    let mut wants_log = false;
    let mut first = true;
    let head = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if first {
                wants_log = line.split_whitespace().nth(1) == Some("/log");
                first = false;
            }
            if line.is_empty() {
                break;
            }
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(10), head)
        .await
        .is_err()
    {
        return;
    }
    let body = if wants_log {
        proxy.requests_naming("").join("\n") + "\n"
    } else {
        proxy.stats().requests.to_string()
    };
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // A control client that went away gets nothing; the proxy goes on.
    let _ = write.write_all(answer.as_bytes()).await;
}
