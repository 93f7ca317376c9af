//! A guest driver configured the way an operator does it: a `wharf.toml` naming a component
//! file, default parameters and a sandbox policy, registered next to the built-in drivers.

use std::path::Path;

use bytes::Bytes;
use wharf::config::WharfConfig;
use wharf::wasm::{GuestRuntime, register_config};
use wharf::{DriverRegistry, ErrorKind, Params, WithBuiltin};

fn write_config(dir: &Path, data: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("fs.wasm"), wharf::guests::FILESYSTEM_WASM).expect("write component");
    let config = dir.join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "[drivers.blobs]\ncomponent = \"fs.wasm\"\nparams = {{ rootdirectory = \"/data\" }}\n\
             sandbox = {{ memory = \"64MiB\", timeout = \"5s\", instances = 2, dirs = [\"{}:/data\"] }}\n",
            data.display()
        ),
    )
    .expect("write wharf.toml");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wharf_toml_registers_a_sandboxed_guest() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data directory");
    let config = WharfConfig::load(&write_config(dir.path(), &data)).expect("load wharf.toml");

    let mut registry = DriverRegistry::with_builtin();
    register_config(
        &mut registry,
        &GuestRuntime::global().expect("runtime"),
        &config,
    )
    .await
    .expect("register the configured guest");
    assert!(registry.names().contains(&"blobs"));

    let driver = registry
        .create("blobs", Params::new())
        .await
        .expect("create");
    driver
        .put_content("/a/b", Bytes::from_static(b"hello"))
        .await
        .expect("put");
    // The guest wrote into the granted host directory, in the reference layout.
    assert_eq!(
        std::fs::read(data.join("a/b")).expect("host file"),
        b"hello"
    );

    // Registering the same names again is refused, naming the driver.
    let e = register_config(
        &mut registry,
        &GuestRuntime::global().expect("runtime"),
        &config,
    )
    .await
    .expect_err("duplicate");
    assert_eq!(e.kind(), &ErrorKind::Registry);
    assert!(e.to_string().contains("blobs"), "{e}");

    // A parameter the guest does not know is named in the error.
    let e = registry
        .create("blobs", Params::from_pairs([("rootdirectroy", "/data")]))
        .await
        .err()
        .expect("unknown parameter");
    assert!(e.to_string().contains("rootdirectroy"), "{e}");
    driver.delete("/a").await.expect("delete");
}

#[tokio::test]
async fn bad_sandbox_is_named() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("fs.wasm"), wharf::guests::FILESYSTEM_WASM).expect("write");
    let config = WharfConfig::from_toml(
        "[drivers.x]\ncomponent = \"fs.wasm\"\nsandbox = { memroy = \"1MiB\" }\n",
        dir.path(),
    )
    .expect("parse");
    let mut registry = DriverRegistry::new();
    let e = register_config(
        &mut registry,
        &GuestRuntime::global().expect("runtime"),
        &config,
    )
    .await
    .expect_err("unknown sandbox key");
    assert!(e.to_string().contains("memroy"), "{e}");
    let missing = WharfConfig::from_toml("[drivers.y]\ncomponent = \"nope.wasm\"\n", dir.path())
        .expect("parse");
    let e = register_config(
        &mut registry,
        &GuestRuntime::global().expect("runtime"),
        &missing,
    )
    .await
    .expect_err("missing component");
    assert!(e.to_string().contains("nope.wasm"), "{e}");
}

/// The README's second example: a quota on a directory grant and the host's bounds, in a
/// sandbox table of its own; the quota holds for the driver's writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_and_bounds_from_wharf_toml() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data directory");
    std::fs::write(dir.path().join("fs.wasm"), wharf::guests::FILESYSTEM_WASM)
        .expect("write component");
    let config = dir.path().join("wharf.toml");
    std::fs::write(
        &config,
        format!(
            "[drivers.other]\ncomponent = \"fs.wasm\"\nparams = {{ rootdirectory = \"/data\" }}\n\n\
             [drivers.other.sandbox]\n\
             dirs = [{{ host = \"{}\", guest = \"/data\", quota = \"1MiB\" }}]\n\
             open_files = 256\nhttp_requests = 16\nanswer_bytes = \"64MiB\"\n\
             list_entries = 1000000\nwalk_entries = 50000000\n",
            data.display()
        ),
    )
    .expect("write wharf.toml");
    let config = WharfConfig::load(&config).expect("load wharf.toml");
    let mut registry = DriverRegistry::new();
    register_config(
        &mut registry,
        &GuestRuntime::global().expect("runtime"),
        &config,
    )
    .await
    .expect("register");
    let driver = registry
        .create("other", Params::new())
        .await
        .expect("create");
    driver
        .put_content("/small", Bytes::from(vec![1u8; 512 << 10]))
        .await
        .expect("within the quota");
    let e = driver
        .put_content("/big", Bytes::from(vec![2u8; 1 << 20]))
        .await
        .expect_err("past the quota");
    // A full grant is no passing failure: the same call would meet it again.
    assert!(!e.is_temporary(), "{e:?}");
    assert!(!data.join("big").exists());
    let mut writer = driver.writer("/streamed", false).await.expect("a writer");
    let mut failed = None;
    for _ in 0..4 {
        if let Err(e) = writer.write(Bytes::from(vec![3u8; 1 << 20])).await {
            failed = Some(e);
            break;
        }
    }
    let e = match failed {
        Some(e) => e,
        None => writer
            .commit()
            .await
            .expect_err("4 MiB past a quota of 1 MiB"),
    };
    assert!(!e.is_temporary(), "{e:?}");
}
