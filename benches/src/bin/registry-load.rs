//! Load on a registry, the rows `wharf serve` is compared on with the reference registry (the
//! same command against each, one after the other, on the same machine and filesystem):
//!
//! - push of a large layer (a chunked upload: POST, one streamed PATCH, PUT with the digest);
//! - pull of it (one GET, read to the end, the bytes checked);
//! - N concurrent pulls of a 100 MiB blob (aggregate MB/s);
//! - manifest GETs by tag from N concurrent clients for a while (p50, p99, requests/s).
//!
//! ```text
//! registry-load URL [--layer-mib 1024] [--pull-mib 100] [--clients 32] [--seconds 10] [--repo bench/load]
//! ```
//!
//! Prints one JSON object. A layer is one MiB of pseudo-random bytes repeated (made once, so
//! that the client spends its CPU on the transfer, not on making or hashing data: the client
//! and the registry share the machine); a pull is checked by its length and digest header.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use sha2::Digest as _;

struct Args {
    url: String,
    layer_mib: u64,
    pull_mib: u64,
    clients: usize,
    seconds: u64,
    repo: String,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        layer_mib: 1024,
        pull_mib: 100,
        clients: 32,
        seconds: 10,
        repo: "bench/load".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--layer-mib" => {
                args.layer_mib = value(&a)?.parse().map_err(|e| format!("{a}: {e}"))?
            }
            "--pull-mib" => args.pull_mib = value(&a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--clients" => args.clients = value(&a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--seconds" => args.seconds = value(&a)?.parse().map_err(|e| format!("{a}: {e}"))?,
            "--repo" => args.repo = value(&a)?,
            url if !url.starts_with('-') && args.url.is_empty() => {
                args.url = url.trim_end_matches('/').to_owned()
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.url.is_empty() {
        return Err("usage: registry-load URL [--layer-mib N] [--pull-mib N] [--clients N] [--seconds N] [--repo NAME]".into());
    }
    Ok(args)
}

/// `mib` MiB: one MiB of pseudo-random bytes from `seed`, `mib` times.
fn chunks(seed: u64, mib: u64) -> impl Iterator<Item = Bytes> {
    let mut state = seed | 1;
    let mut chunk = vec![0u8; 1 << 20];
    for word in chunk.chunks_exact_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
    let chunk = Bytes::from(chunk);
    (0..mib).map(move |_| chunk.clone())
}

fn digest_of(seed: u64, mib: u64) -> String {
    let mut h = sha2::Sha256::new();
    for c in chunks(seed, mib) {
        h.update(&c);
    }
    format!("sha256:{:x}", h.finalize())
}

fn location(base: &str, r: &reqwest::Response) -> Result<String, String> {
    let l = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Location")?;
    Ok(if l.starts_with("http") {
        l.to_owned()
    } else {
        format!("{base}{l}")
    })
}

/// Pushes `mib` MiB from `seed` as a blob; its digest and the seconds the upload took.
async fn push(
    http: &reqwest::Client,
    a: &Args,
    seed: u64,
    mib: u64,
) -> Result<(String, f64), String> {
    let digest = digest_of(seed, mib);
    let started = Instant::now();
    let r = http
        .post(format!("{}/v2/{}/blobs/uploads/", a.url, a.repo))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!("POST: {}", r.status()));
    }
    let upload = location(&a.url, &r)?;
    let body = futures::stream::iter(chunks(seed, mib).map(Ok::<_, std::io::Error>));
    let r = http
        .patch(&upload)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 202 {
        return Err(format!(
            "PATCH: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ));
    }
    let upload = location(&a.url, &r)?;
    let sep = if upload.contains('?') { '&' } else { '?' };
    let r = http
        .put(format!("{upload}{sep}digest={digest}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 201 {
        return Err(format!(
            "PUT: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ));
    }
    Ok((digest, started.elapsed().as_secs_f64()))
}

/// GETs a blob to its end; the bytes read.
async fn pull(http: &reqwest::Client, a: &Args, digest: &str) -> Result<u64, String> {
    let r = http
        .get(format!("{}/v2/{}/blobs/{digest}", a.url, a.repo))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("GET blob: {}", r.status()));
    }
    if r.headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        != Some(digest)
    {
        return Err(format!("GET blob: not {digest}: {:?}", r.headers()));
    }
    let mut stream = r.bytes_stream();
    let mut n = 0u64;
    while let Some(c) = stream.next().await {
        n += c.map_err(|e| e.to_string())?.len() as u64;
    }
    Ok(n)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run(a: Args) -> Result<serde_json::Value, String> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients * 2)
        .build()
        .map_err(|e| e.to_string())?;
    let mib = |bytes: u64, secs: f64| bytes as f64 / secs / (1 << 20) as f64;

    let (layer, push_secs) = push(&http, &a, 1, a.layer_mib).await?;
    let started = Instant::now();
    let pulled = pull(&http, &a, &layer).await?;
    let pull_secs = started.elapsed().as_secs_f64();
    if pulled != a.layer_mib << 20 {
        return Err(format!(
            "pulled {pulled} bytes of the layer, pushed {}",
            a.layer_mib << 20
        ));
    }

    let (blob, _) = push(&http, &a, 2, a.pull_mib).await?;
    let started = Instant::now();
    let pulls =
        futures::future::try_join_all((0..a.clients).map(|_| pull(&http, &a, &blob))).await?;
    let concurrent_secs = started.elapsed().as_secs_f64();
    let concurrent_bytes: u64 = pulls.iter().sum();

    // A manifest of the two blobs (the small one serving as config), tagged.
    let config = digest_of(3, 0);
    let empty = http
        .post(format!(
            "{}/v2/{}/blobs/uploads/?digest={config}",
            a.url, a.repo
        ))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if empty.status() == 202 {
        // A registry without single-request uploads: finish it with a PUT.
        let upload = location(&a.url, &empty)?;
        let sep = if upload.contains('?') { '&' } else { '?' };
        http.put(format!("{upload}{sep}digest={config}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 0},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": a.layer_mib << 20},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob, "size": a.pull_mib << 20},
        ],
    });
    let r = http
        .put(format!("{}/v2/{}/manifests/latest", a.url, a.repo))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 201 {
        return Err(format!(
            "PUT manifest: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let url = format!("{}/v2/{}/manifests/latest", a.url, a.repo);
    let clients = (0..a.clients).map(|_| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let r = http
                    .get(&url)
                    .header("accept", "application/vnd.oci.image.manifest.v1+json")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if r.status() != 200 {
                    return Err(format!("GET manifest: {}", r.status()));
                }
                r.bytes().await.map_err(|e| e.to_string())?;
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }
    });
    let mut latencies: Vec<Duration> = futures::future::try_join_all(clients)
        .await?
        .into_iter()
        .flatten()
        .collect();
    latencies.sort();

    Ok(serde_json::json!({
        "url": a.url,
        "push_layer": {"mib": a.layer_mib, "seconds": push_secs, "mb_per_s": mib(a.layer_mib << 20, push_secs)},
        "pull_layer": {"mib": a.layer_mib, "seconds": pull_secs, "mb_per_s": mib(pulled, pull_secs)},
        "concurrent_pulls": {"clients": a.clients, "mib": a.pull_mib, "seconds": concurrent_secs, "mb_per_s": mib(concurrent_bytes, concurrent_secs)},
        "manifest_get": {"clients": a.clients, "requests": latencies.len(),
            "per_s": latencies.len() as f64 / a.seconds as f64,
            "p50_ms": percentile(&latencies, 0.5), "p99_ms": percentile(&latencies, 0.99)},
    }))
}

fn main() -> std::process::ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("registry-load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    match runtime.block_on(run(a)) {
        Ok(v) => {
            println!("{v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("registry-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
