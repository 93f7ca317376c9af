//! CONTRACT §3 `stat`: missing paths, files (exact path, size, `is_dir`, a plausible and
//! advancing `mod_time`), directories (any component-prefix of a file, size 0), string prefixes
//! that are not directories, and the root.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use wharf_runtime::WalkControl;

use crate::data;
use crate::support::{
    CheckResult, Context, ensure, ensure_eq, expect_not_found, fail, first_part, random_name,
    random_path, random_root, walk_entries, with_cleanup,
};
use crate::{Fixture, RunOptions};

/// A missing directory and a missing file under it are both `PathNotFound`.
pub(crate) async fn stat_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dir = random_path(32);
    let file = format!("{dir}/{}", random_name(32));
    expect_not_found(
        d.stat(&dir).await,
        d.as_ref(),
        format_args!("stat({dir}) of a missing directory"),
    )?;
    expect_not_found(
        d.stat(&file).await,
        d.as_ref(),
        format_args!("stat({file}) of a missing file"),
    )
}

/// A file's `stat` has exactly the requested path, its size, `is_dir` false, and a `mod_time`
/// within a day of now.
pub(crate) async fn stat_file(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dir = random_path(32);
    let file = format!("{dir}/{}", random_name(32));
    with_cleanup(d.as_ref(), &[first_part(&dir)], async {
        d.put_content(&file, data::bytes(data::seed("stat_file"), 0, 4096))
            .await
            .context("put_content")?;
        let info = d.stat(&file).await.context(format_args!("stat({file})"))?;
        ensure_eq!(info.path, file, "stat({file}).path");
        ensure_eq!(info.size, 4096, "stat({file}).size");
        ensure!(!info.is_dir, "stat({file}) says a file is a directory");
        let day = Duration::from_secs(24 * 3600);
        let now = SystemTime::now();
        ensure!(
            info.mod_time + day > now && info.mod_time < now + day,
            "stat({file}).mod_time is {:?}, more than a day away from now ({now:?})",
            info.mod_time
        );
        Ok(())
    })
    .await
}

/// After a rewrite at least one second later, `mod_time` is strictly later. This is the suite's
/// only sleep.
pub(crate) async fn stat_mod_time_advances(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    with_cleanup(d.as_ref(), &[first_part(&path)], async {
        d.put_content(&path, data::bytes(data::seed("mod_time-1"), 0, 4096))
            .await
            .context("first put_content")?;
        let before = d.stat(&path).await.context("stat after the first put")?.mod_time;
        tokio::time::sleep(Duration::from_secs(1)).await;
        d.put_content(&path, data::bytes(data::seed("mod_time-2"), 0, 2048))
            .await
            .context("second put_content")?;
        let after = d.stat(&path).await.context("stat after the second put")?;
        ensure!(
            after.mod_time > before,
            "mod_time after a rewrite one second later ({:?}) is not later than before ({before:?})",
            after.mod_time
        );
        ensure_eq!(after.size, 2048, "stat size after the rewrite");
        Ok(())
    })
    .await
}

/// Every component-prefix of a file is a directory: exact path, size 0, `is_dir` true.
pub(crate) async fn stat_directory(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let file = format!("{root}/{}/{}/file", random_name(8), random_name(8));
    with_cleanup(d.as_ref(), &[&root], async {
        d.put_content(&file, data::bytes(data::seed("stat_directory"), 0, 4096))
            .await
            .context("put_content")?;
        let mut dir = wharf_runtime::path::parent(&file);
        while dir != "/" {
            let info = d
                .stat(dir)
                .await
                .context(format_args!("stat({dir}) of a directory"))?;
            ensure_eq!(info.path, dir, "stat({dir}).path");
            ensure!(info.is_dir, "stat({dir}) does not say directory");
            ensure_eq!(info.size, 0, "stat({dir}).size of a directory");
            dir = wharf_runtime::path::parent(dir);
        }
        Ok(())
    })
    .await
}

/// `/x/a` is not a directory (nor anything else) because `/x/ab` and `/x/a-b/c` exist: `stat`,
/// `list`, `walk` and `delete` of it are `PathNotFound`, and the others are untouched.
pub(crate) async fn stat_prefix_is_not_directory(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let (prefix, file, dir, nested) = (
        format!("{root}/a"),
        format!("{root}/ab"),
        format!("{root}/a-b"),
        format!("{root}/a-b/c"),
    );
    let dr = d.as_ref();
    with_cleanup(dr, &[&root], async {
        for p in [&file, &nested] {
            d.put_content(p, Bytes::from_static(b"content"))
                .await
                .context(format_args!("put_content({p})"))?;
        }
        expect_not_found(
            d.stat(&prefix).await,
            dr,
            format_args!("stat({prefix}) when only {file} exists"),
        )?;
        expect_not_found(
            d.list(&prefix).await,
            dr,
            format_args!("list({prefix}) when only {file} exists"),
        )?;
        let (seen, r) = walk_entries(dr, &prefix, None, |_| Ok(WalkControl::Continue)).await;
        ensure!(
            seen.is_empty(),
            "walk({prefix}) visited {:?}",
            crate::support::paths(&seen)
        );
        expect_not_found(
            r,
            dr,
            format_args!("walk({prefix}) when only {file} exists"),
        )?;
        expect_not_found(
            d.delete(&prefix).await,
            dr,
            format_args!("delete({prefix}) when only {file} exists"),
        )?;
        let info = d.stat(&file).await.context(format_args!("stat({file})"))?;
        ensure!(!info.is_dir, "stat({file}) says directory");
        let info = d.stat(&dir).await.context(format_args!("stat({dir})"))?;
        ensure!(info.is_dir, "stat({dir}) does not say directory");
        let children = d.list(&root).await.context(format_args!("list({root})"))?;
        ensure_eq!(children, vec![dir.clone(), file.clone()], "list({root})");
        Ok(())
    })
    .await
}

/// `stat("/")` succeeds (a directory) or fails with `PathNotFound`, on empty storage and with
/// files in it.
pub(crate) async fn stat_root(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let check_root = |when: &'static str,
                      r: wharf_runtime::Result<wharf_runtime::FileInfo>|
     -> CheckResult {
        match r {
            Ok(info) => {
                ensure!(
                    info.is_dir,
                    "{when}: stat(\"/\") says the root is not a directory"
                );
                ensure_eq!(info.path, "/", "{when}: stat(\"/\").path");
                ensure_eq!(info.size, 0, "{when}: stat(\"/\").size");
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => fail!(
                "{when}: stat(\"/\") failed with \"{e}\"; only success or PathNotFound are allowed"
            ),
        }
    };
    check_root("on empty storage", d.stat("/").await)?;
    with_cleanup(d.as_ref(), &[&root], async {
        d.put_content(&format!("{root}/f"), Bytes::from_static(b"f"))
            .await
            .context("put_content")?;
        check_root("with a file stored", d.stat("/").await)
    })
    .await
}
