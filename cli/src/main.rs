//! The `wharf` command: run the conformance suite on a driver (`check`), list drivers, start a
//! guest driver project (`new`, `wit`), and operate on any driver's storage (`ls`, `stat`,
//! `cat`, `put`, `mv`, `rm`, `walk`, `url`).
//! Failures exit non-zero with a one-line reason.

mod bench;
mod check;
mod guest;
mod new;
mod ops;
mod progress;
mod serve;
mod storage;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use target::TargetArgs;

#[derive(Parser)]
#[command(
    name = "wharf",
    version,
    about = "Run and check registry storage drivers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the conformance suite on a driver (every built-in driver that needs no server when
    /// none is named), or with --random, random operations against the contract's model.
    Check(check::CheckArgs),
    /// Measure a driver or component on the reference's standard workloads: median time per
    /// operation, MB/s, HTTP requests per operation, peak memory; with --against, the ratio to
    /// another driver measured in the same run.
    Bench(bench::BenchArgs),
    /// List the registered drivers.
    Drivers {
        /// Also register the guest drivers this wharf.toml configures.
        #[arg(long)]
        wharf_config: Option<std::path::PathBuf>,
    },
    /// Write the WIT this wharf speaks (every version it loads) into a folder.
    Wit(new::WitArgs),
    /// Start a guest driver project: a complete in-memory driver, its WIT and `./build.sh`.
    New(new::NewArgs),
    /// Show a guest component's world, manifest and requested capabilities.
    Inspect {
        /// The component file.
        component: std::path::PathBuf,
    },
    /// List the children of a directory.
    Ls {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(default_value = "/")]
        path: String,
    },
    /// Show what is at a path.
    Stat {
        #[command(flatten)]
        target: TargetArgs,
        path: String,
    },
    /// Write a file's content to standard output.
    Cat {
        #[command(flatten)]
        target: TargetArgs,
        path: String,
        /// Start reading at this byte offset.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Store standard input (or FILE) at a path.
    Put {
        #[command(flatten)]
        target: TargetArgs,
        path: String,
        /// Read the content from this file instead of standard input.
        file: Option<std::path::PathBuf>,
    },
    /// Move a file or directory.
    Mv {
        #[command(flatten)]
        target: TargetArgs,
        source: String,
        dest: String,
    },
    /// Delete a path and everything under it.
    Rm {
        #[command(flatten)]
        target: TargetArgs,
        path: String,
    },
    /// Print every path under a directory, one per line, in walk order.
    Walk {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(default_value = "/")]
        path: String,
        /// Resume strictly after this path.
        #[arg(long)]
        start_after: Option<String>,
    },
    /// Serve an OCI registry (Distribution Specification v1.1) over the driver a registry
    /// config.yml names, in the reference registry's storage layout.
    Serve(serve::ServeArgs),
    /// Print a URL a client may fetch directly (nothing when the driver serves no redirects).
    Url {
        #[command(flatten)]
        target: TargetArgs,
        path: String,
        /// GET or HEAD.
        #[arg(long, default_value = "GET")]
        method: String,
        /// How long the URL stays valid (e.g. 20m).
        #[arg(long, default_value = "20m")]
        expiry: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs at its configuration's `log.level`, once it has read it.
    if !matches!(cli.command, Command::Serve(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("WHARF_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wharf: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            // The error and its causes on one line.
            eprintln!("wharf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check(args) => check::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Drivers { wharf_config } => ops::drivers(wharf_config.as_deref()).await,
        Command::Wit(args) => new::wit(&args),
        Command::New(args) => new::new(&args),
        Command::Inspect { component } => guest::inspect(&component).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Ls { target, path } => ops::ls(&target.open().await?, &path).await,
        Command::Stat { target, path } => ops::stat(&target.open().await?, &path).await,
        Command::Cat {
            target,
            path,
            offset,
        } => ops::cat(&target.open().await?, &path, offset).await,
        Command::Put { target, path, file } => {
            ops::put(&target.open().await?, &path, file.as_deref()).await
        }
        Command::Mv {
            target,
            source,
            dest,
        } => ops::mv(&target.open().await?, &source, &dest).await,
        Command::Rm { target, path } => ops::rm(&target.open().await?, &path).await,
        Command::Walk {
            target,
            path,
            start_after,
        } => ops::walk(&target.open().await?, &path, start_after).await,
        Command::Url {
            target,
            path,
            method,
            expiry,
        } => ops::url(&target.open().await?, &path, &method, &expiry).await,
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn each_cause_is_reported_once() {
        let io = std::io::Error::other("connection refused");
        let e = wharf::Error::backend("list /").with_source(io);
        let e = Err::<(), _>(e).context("checking s3").unwrap_err();
        assert_eq!(format!("{e:#}"), "checking s3: list /: connection refused");
        let plain = anyhow::anyhow!("no such file").context("reading wharf.toml");
        assert_eq!(format!("{plain:#}"), "reading wharf.toml: no such file");
    }
}
