//! Guest components on the command line: `wharf inspect file.wasm`, and the registration that
//! lets `wharf check file.wasm` and `--wharf-config wharf.toml` run guest drivers.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use wharf::wasm::{DirGrant, GuestComponent, GuestRuntime, SandboxPolicy};
use wharf::{DriverRegistry, Params};

/// Sandbox grants given on the command line.
#[derive(Args, Debug, Clone, Default)]
pub struct SandboxArgs {
    /// Grant a host directory to the guest: HOST:GUEST[:ro] (repeatable).
    #[arg(long = "allow-dir", value_name = "HOST:GUEST[:ro]")]
    pub allow_dir: Vec<String>,
    /// Allow outbound HTTP to this host or host:port (repeatable).
    #[arg(long = "allow-http", value_name = "HOST[:PORT]")]
    pub allow_http: Vec<String>,
    /// Memory limit of one instance (e.g. 256MiB).
    #[arg(long)]
    pub memory: Option<String>,
    /// Deadline of one call into the guest (e.g. 30s).
    #[arg(long)]
    pub timeout: Option<String>,
    /// Largest answer the host copies out of the guest at once (e.g. 256MiB; the long
    /// check's `get_content` of 128 MiB needs more than the default 64MiB).
    #[arg(long, value_name = "SIZE")]
    pub answer_bytes: Option<String>,
}

impl SandboxArgs {
    /// The policy these arguments describe (defaults for what they leave out).
    pub fn policy(&self) -> anyhow::Result<SandboxPolicy> {
        let mut p = Params::new();
        if let Some(m) = &self.memory {
            p.insert("memory", m.as_str());
        }
        if let Some(t) = &self.timeout {
            p.insert("timeout", t.as_str());
        }
        if let Some(b) = &self.answer_bytes {
            p.insert("answer_bytes", b.as_str());
        }
        let mut policy = SandboxPolicy::from_params(p)?;
        for d in &self.allow_dir {
            policy.dirs.push(DirGrant::parse(d)?);
        }
        policy.http_hosts.extend(self.allow_http.iter().cloned());
        Ok(policy)
    }
}

/// True when `driver` names a component file rather than a registered driver.
pub fn is_component_path(driver: &str) -> bool {
    driver.ends_with(".wasm") || Path::new(driver).is_file()
}

/// Loads a component file.
pub async fn load(path: &Path) -> anyhow::Result<Arc<GuestComponent>> {
    let runtime = GuestRuntime::global()?;
    runtime
        .load_file(path)
        .await
        .with_context(|| format!("loading {}", path.display()))
}

/// Registers `component` under its manifest's name in a fresh registry.
pub fn registry_for(
    component: Arc<GuestComponent>,
    policy: SandboxPolicy,
) -> anyhow::Result<(DriverRegistry, String)> {
    let name = component.manifest.name.clone();
    let mut registry = DriverRegistry::new();
    wharf::wasm::register_guest(&mut registry, &name, component, policy)?;
    Ok((registry, name))
}

/// `wharf inspect file.wasm`.
pub async fn inspect(path: &Path) -> anyhow::Result<ExitCode> {
    let component = load(path).await?;
    let m = &component.manifest;
    println!("component:  {}", component.label);
    println!("sha256:     {}", component.digest);
    let version = component.version.as_str();
    let streams = match component.version {
        wharf::wasm::WitVersion::V1 => "bytes copied through the guest",
        wharf::wasm::WitVersion::V2 => "host-side streams",
    };
    println!("world:      wharf:storage/storage-driver@{version} ({streams})");
    println!("driver:     {}", m.name);
    println!(
        "state:      {}",
        if m.stateful {
            "stateful (one instance, calls serialised)"
        } else {
            "stateless (a pool of instances)"
        }
    );
    if m.requested.is_empty() {
        println!("requests:   nothing");
    } else {
        for (i, c) in m.requested.iter().enumerate() {
            println!(
                "{}{c}",
                if i == 0 {
                    "requests:   "
                } else {
                    "            "
                }
            );
        }
    }
    for (title, names) in [
        ("imports", &component.imports),
        ("exports", &component.exports),
    ] {
        for (i, n) in names.iter().enumerate() {
            println!(
                "{}{n}",
                if i == 0 {
                    format!("{title}:    ")
                } else {
                    "            ".into()
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
