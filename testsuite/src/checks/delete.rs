//! CONTRACT §3 `delete`: recursive (the file at the path and everything under `path/`), never
//! string-prefix siblings, `PathNotFound` for a missing path, and more than a thousand entries
//! in one call.

use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use wharf_runtime::WalkControl;

use crate::data;
use crate::support::{
    CheckResult, Context, ensure, ensure_data, expect_not_found, first_part, random_name,
    random_path, random_root, walk_entries, with_cleanup,
};
use crate::{Fixture, RunOptions};

/// A deleted file is gone for `get_content` and `stat`.
pub(crate) async fn delete_file(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    let dr = d.as_ref();
    with_cleanup(dr, &[first_part(&path)], async {
        d.put_content(&path, data::bytes(data::seed("delete_file"), 0, 32))
            .await
            .context("put_content")?;
        d.delete(&path)
            .await
            .context(format_args!("delete({path})"))?;
        expect_not_found(
            d.get_content(&path).await,
            dr,
            "get_content of a deleted file",
        )?;
        expect_not_found(d.stat(&path).await, dr, "stat of a deleted file")
    })
    .await
}

/// Deleting a missing path fails with `PathNotFound` naming the driver.
pub(crate) async fn delete_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let path = random_path(32);
    expect_not_found(
        d.delete(&path).await,
        d.as_ref(),
        format_args!("delete({path}) of a missing path"),
    )
}

/// Deleting one of three files leaves the other two; deleting the folder removes them all.
pub(crate) async fn delete_folder(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dir = random_path(32);
    let files: Vec<String> = (0..3)
        .map(|i| format!("{dir}/{i}{}", random_name(20)))
        .collect();
    let seed = data::seed("delete_folder");
    let dr = d.as_ref();
    with_cleanup(dr, &[first_part(&dir)], async {
        for f in &files {
            d.put_content(f, data::bytes(seed, 0, 32))
                .await
                .context(format_args!("put_content({f})"))?;
        }
        d.delete(&files[0])
            .await
            .context(format_args!("delete({})", files[0]))?;
        expect_not_found(
            d.get_content(&files[0]).await,
            dr,
            "get_content of the deleted file",
        )?;
        for f in &files[1..] {
            let got = d
                .get_content(f)
                .await
                .context(format_args!("get_content({f}) of a kept file"))?;
            ensure_data(
                &got,
                seed,
                0,
                32,
                format_args!("{f} after deleting a sibling"),
            )?;
        }
        d.delete(&dir)
            .await
            .context(format_args!("delete({dir}) of a folder"))?;
        for f in &files {
            expect_not_found(
                d.get_content(f).await,
                dr,
                format_args!("get_content({f}) after deleting the folder"),
            )?;
        }
        expect_not_found(
            d.stat(&dir).await,
            dr,
            format_args!("stat({dir}) of a deleted folder"),
        )?;
        expect_not_found(
            d.list(&dir).await,
            dr,
            format_args!("list({dir}) of a deleted folder"),
        )
    })
    .await
}

/// Deleting `d/f` keeps `d/fsuffix` and `d/f-c/x`; deleting `d/d` keeps `d/dsuffix/f`.
pub(crate) async fn delete_only_subpaths(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dir = random_path(24);
    let name = random_name(8);
    let (file, file_suffix, file_dash) = (
        format!("{dir}/{name}"),
        format!("{dir}/{name}suffix"),
        format!("{dir}/{name}-c/x"),
    );
    let (sub, sub_file, sub_suffix) = (
        format!("{dir}/d"),
        format!("{dir}/d/{name}"),
        format!("{dir}/dsuffix/{name}"),
    );
    let dr = d.as_ref();
    with_cleanup(dr, &[first_part(&dir)], async {
        for p in [&file, &file_suffix, &file_dash, &sub_file, &sub_suffix] {
            d.put_content(p, Bytes::from(p.clone()))
                .await
                .context(format_args!("put_content({p})"))?;
        }
        d.delete(&file)
            .await
            .context(format_args!("delete({file})"))?;
        expect_not_found(
            d.get_content(&file).await,
            dr,
            format_args!("get_content({file}) after deleting it"),
        )?;
        for p in [&file_suffix, &file_dash] {
            let got = d
                .get_content(p)
                .await
                .context(format_args!("get_content({p}) after deleting {file}"))?;
            ensure!(got == p.as_bytes(), "{p} changed after deleting {file}");
        }
        d.delete(&sub)
            .await
            .context(format_args!("delete({sub})"))?;
        expect_not_found(
            d.get_content(&sub_file).await,
            dr,
            format_args!("get_content({sub_file}) after deleting {sub}"),
        )?;
        let got = d.get_content(&sub_suffix).await.context(format_args!(
            "get_content({sub_suffix}) after deleting {sub}"
        ))?;
        ensure!(
            got == sub_suffix.as_bytes(),
            "{sub_suffix} changed after deleting {sub}"
        );
        Ok(())
    })
    .await
}

/// One `delete` removes a folder of 1005 entries (1000 files and a subfolder of 5).
pub(crate) async fn delete_1005_entries(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let dir = format!("{root}/many");
    let keep = format!("{root}/manyfiles");
    let mut files: Vec<String> = (0..1000).map(|i| format!("{dir}/{i:05}")).collect();
    files.extend((0..5).map(|i| format!("{dir}/sub/{i}")));
    let dr = d.as_ref();
    with_cleanup(dr, &[&root], async {
        // Owned paths and driver handles keep the futures free of borrowed lifetimes, which a
        // `Send` future built from a closure cannot express.
        let all: Vec<String> = files.iter().chain([&keep]).cloned().collect();
        futures::stream::iter(all)
            .map(|p| {
                let d = d.clone();
                async move {
                    let r = d.put_content(&p, Bytes::from(p.clone())).await;
                    r.context(format_args!("put_content({p})"))
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        d.delete(&dir)
            .await
            .context(format_args!("delete({dir}) of 1005 entries"))?;
        expect_not_found(
            d.stat(&files[0]).await,
            dr,
            format_args!("stat({}) after deleting the folder", files[0]),
        )?;
        expect_not_found(
            d.stat(&files[1004]).await,
            dr,
            format_args!("stat({}) after deleting the folder", files[1004]),
        )?;
        let (entries, r) = walk_entries(dr, &root, None, |_| Ok(WalkControl::Continue)).await;
        r.context(format_args!("walk({root})"))?;
        let left: Vec<&str> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.path.as_str())
            .collect();
        ensure!(
            left == [keep.as_str()],
            "after deleting {dir}, {} file(s) remain under {root} (expected only {keep}): {:?}",
            left.len(),
            &left[..left.len().min(5)]
        );
        Ok(())
    })
    .await
}
