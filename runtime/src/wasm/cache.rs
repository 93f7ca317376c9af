//! The on-disk cache of compiled components: compiling a large component (a JavaScript engine
//! is ~12 MB of wasm) takes many seconds, loading its compiled form a few milliseconds. Entries
//! are keyed by the SHA-256 of the component and the engine's compatibility hash, and carry a
//! checksum of their own bytes that is verified before use.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

/// Where compiled components are kept.
#[derive(Debug, Clone)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// The default cache directory: `$WHARF_CACHE_DIR`, else `$XDG_CACHE_HOME/wharf/components`,
/// else `$HOME/.cache/wharf/components`; none when neither is set.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WHARF_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wharf").join("components"))
}

impl ComponentCache {
    /// A cache in `dir` (none: compile every time) for components compiled by `engine`.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Self {
            dir,
            engine_key: format!("{:016x}", h.finish()),
        }
    }

    fn entry(&self, wasm_digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{wasm_digest}-{}.cwasm", self.engine_key)))
    }

    /// The compiled form of `wasm`: from the cache when a valid entry exists, otherwise compiled
    /// and stored (a cache that cannot be written is only logged); `label` names it in errors.
    pub fn load(&self, engine: &Engine, wasm: &[u8], label: &str) -> Result<(Component, String)> {
        let digest = hex::encode(Sha256::digest(wasm));
        if let Some(path) = self.entry(&digest) {
            match read_entry(engine, &path) {
                Ok(Some(component)) => return Ok((component, digest)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding a bad compiled-component cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, wasm).map_err(|e| {
            Error::invalid_parameter(
                "component",
                format!("{label} is not a valid component for this host: {e:#}"),
            )
        })?;
        if let Some(path) = self.entry(&digest)
            && let Err(e) = write_entry(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled-component cache");
        }
        Ok((component, digest))
    }
}

fn read_entry(engine: &Engine, path: &Path) -> std::io::Result<Option<Component>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < 32 || Sha256::digest(&bytes[32..]).as_slice() != &bytes[..32] {
        return Err(std::io::Error::other("checksum mismatch"));
    }
    // SAFETY: wasmtime requires that deserialized bytes come from `Component::serialize` of a
    // compatible engine and were not tampered with. The entry was written by `write_entry`
    // below into the runtime's own cache directory, its name carries this engine's
    // compatibility hash (and wasmtime re-checks compatibility itself), and the checksum above
    // proves the bytes are exactly the ones written.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine, &bytes[32..]) };
    component
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("{e:#}")))
}

fn write_entry(component: &Component, path: &Path) -> std::io::Result<()> {
    let payload = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&Sha256::digest(&payload))?;
    file.write_all(&payload)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
