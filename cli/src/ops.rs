//! The file-like commands over any driver: `drivers`, `ls`, `stat`, `cat`, `put`, `mv`, `rm`,
//! `walk`, `url`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::BytesMut;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use wharf::params::parse_duration;
use wharf::{RedirectMethod, StorageDriver, WalkControl, WalkOptions};

use crate::progress;

/// Size of the chunks `put` hands to a writer.
const PUT_CHUNK: usize = 1 << 20;

pub async fn drivers(wharf_config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let registry = crate::target::registry(wharf_config).await?;
    for name in registry.names() {
        match registry.canonical(name) {
            Some(canonical) if canonical != name => println!("{name} (alias of {canonical})"),
            _ => println!("{name}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn ls(driver: &Arc<dyn StorageDriver>, path: &str) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for child in driver.list(path).await? {
        writeln!(out, "{child}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn stat(driver: &Arc<dyn StorageDriver>, path: &str) -> anyhow::Result<ExitCode> {
    let info = driver.stat(path).await?;
    println!("path:     {}", info.path);
    println!(
        "type:     {}",
        if info.is_dir { "directory" } else { "file" }
    );
    println!("size:     {}", info.size);
    println!(
        "modified: {}",
        humantime::format_rfc3339_seconds(info.mod_time)
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn cat(
    driver: &Arc<dyn StorageDriver>,
    path: &str,
    offset: u64,
) -> anyhow::Result<ExitCode> {
    let mut reader = driver.reader(path, offset).await?;
    let mut out = tokio::io::stdout();
    while let Some(chunk) = reader.next().await {
        out.write_all(&chunk?).await?;
    }
    out.flush().await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn put(
    driver: &Arc<dyn StorageDriver>,
    path: &str,
    file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (input, total): (Box<dyn AsyncRead + Unpin + Send>, Option<u64>) = match file {
        Some(f) => {
            let opened = tokio::fs::File::open(f)
                .await
                .with_context(|| format!("cannot open {}", f.display()))?;
            let len = opened.metadata().await.ok().map(|m| m.len());
            (Box::new(opened), len)
        }
        None => (Box::new(tokio::io::stdin()), None),
    };
    let bar = progress::bytes(total);
    let mut writer = driver.writer(path, false).await?;
    let result = async {
        let mut input = input;
        loop {
            let mut buf = BytesMut::with_capacity(PUT_CHUNK);
            while buf.len() < PUT_CHUNK {
                if input.read_buf(&mut buf).await? == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            bar.inc(buf.len() as u64);
            writer.write(buf.freeze()).await?;
        }
        writer.commit().await?;
        writer.close().await?;
        anyhow::Ok(())
    }
    .await;
    bar.finish_and_clear();
    if let Err(e) = result {
        // Leave the path as it was: the upload is discarded, committed content untouched.
        let _ = writer.cancel().await;
        return Err(e);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn mv(
    driver: &Arc<dyn StorageDriver>,
    source: &str,
    dest: &str,
) -> anyhow::Result<ExitCode> {
    driver.rename(source, dest).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn rm(driver: &Arc<dyn StorageDriver>, path: &str) -> anyhow::Result<ExitCode> {
    driver.delete(path).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn walk(
    driver: &Arc<dyn StorageDriver>,
    path: &str,
    start_after: Option<String>,
) -> anyhow::Result<ExitCode> {
    let options = WalkOptions { start_after };
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut write_error = None;
    driver
        .walk(path, &options, &mut |info| {
            match writeln!(out, "{}", info.path) {
                Ok(()) => Ok(WalkControl::Continue),
                Err(e) => {
                    // A closed pipe (e.g. `| head`) ends the walk quietly.
                    write_error = Some(e);
                    Ok(WalkControl::Stop)
                }
            }
        })
        .await?;
    match write_error {
        Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {
            let _ = out.flush();
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn url(
    driver: &Arc<dyn StorageDriver>,
    path: &str,
    method: &str,
    expiry: &str,
) -> anyhow::Result<ExitCode> {
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => RedirectMethod::Get,
        "HEAD" => RedirectMethod::Head,
        other => bail!("--method must be GET or HEAD, got {other:?}"),
    };
    let Some(expiry) = parse_duration(expiry) else {
        bail!("--expiry must be a duration such as 20m or 1h, got {expiry:?}");
    };
    match driver.redirect_url(method, path, expiry).await? {
        Some(url) => println!("{url}"),
        None => eprintln!("{}: serves no redirect URLs", driver.name()),
    }
    Ok(ExitCode::SUCCESS)
}
