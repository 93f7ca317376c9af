//! CONTRACT §1: which paths are valid, that the root exists and is accepted only by `stat`,
//! `list` and `walk`, that invalid paths fail with `InvalidPath` naming the driver, and that a
//! driver maps paths to keys and back exactly (case included).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_runtime::{RedirectMethod, StorageDriver, WalkControl};

use crate::data;
use crate::support::{
    CheckResult, Context, ensure, ensure_data, ensure_eq, expect_invalid_path, first_part,
    random_root, walk_entries, with_cleanup,
};
use crate::{Fixture, RunOptions};

use wharf_contract::path::examples::{DOTTED_VALID, INVALID, REFERENCE_VALID};

/// `list("/")` succeeds on empty storage and returns nothing.
pub(crate) async fn root_exists(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let children = d.list("/").await.context("list(\"/\") on empty storage")?;
    ensure!(
        children.is_empty(),
        "list(\"/\") on empty storage returned {children:?}"
    );
    Ok(())
}

/// Every valid path round-trips through `put_content`/`get_content`, and a walk of the root
/// finds exactly those paths as files: keys map back to exactly the same absolute paths.
pub(crate) async fn valid_paths(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let all: Vec<&str> = REFERENCE_VALID
        .iter()
        .chain(&DOTTED_VALID)
        .copied()
        .collect();
    let roots: BTreeSet<&str> = all.iter().map(|p| first_part(p)).collect();
    let roots: Vec<&str> = roots.into_iter().collect();
    with_cleanup(d.as_ref(), &roots, async {
        for (i, path) in all.iter().enumerate() {
            let seed = data::seed(path);
            let len = 64 + i as u64;
            d.put_content(path, data::bytes(seed, 0, len as usize))
                .await
                .context(format_args!("put_content({path:?})"))?;
            let got = d
                .get_content(path)
                .await
                .context(format_args!("get_content({path:?})"))?;
            ensure_data(&got, seed, 0, len, format_args!("get_content({path:?})"))?;
        }
        let (entries, result) =
            walk_entries(d.as_ref(), "/", None, |_| Ok(WalkControl::Continue)).await;
        result.context("walk(\"/\")")?;
        let files: BTreeSet<&str> = entries
            .iter()
            .filter(|e| !e.is_dir)
            .map(|e| e.path.as_str())
            .collect();
        let expected: BTreeSet<&str> = all.iter().copied().collect();
        ensure_eq!(files, expected, "files found by walk(\"/\")");
        Ok(())
    })
    .await
}

/// Invalid paths fail with `InvalidPath` naming the path and the driver, for every operation,
/// and change nothing.
pub(crate) async fn invalid_paths(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let witness = format!("{root}/witness");
    let content = data::bytes(data::seed("invalid_paths"), 0, 64);
    with_cleanup(d.as_ref(), &[&root], async {
        d.put_content(&witness, content.clone())
            .await
            .context(format_args!("put_content({witness})"))?;
        for path in ["/"].iter().chain(&INVALID) {
            // As the reference does: put_content and get_content, the root included.
            let r = d.put_content(path, content.clone()).await;
            expect_invalid_path(r, d.as_ref(), format_args!("put_content({path:?})"), path)?;
            let r = d.get_content(path).await;
            expect_invalid_path(r, d.as_ref(), format_args!("get_content({path:?})"), path)?;
        }
        for path in INVALID {
            every_operation_refuses(d.as_ref(), path, &witness).await?;
        }
        let got = d
            .get_content(&witness)
            .await
            .context("get_content(witness)")?;
        ensure!(got == content, "the witness file changed");
        let children = d.list(&root).await.context(format_args!("list({root})"))?;
        ensure_eq!(
            children,
            vec![witness.clone()],
            "list({root}) after invalid calls"
        );
        Ok(())
    })
    .await
}

async fn every_operation_refuses(d: &dyn StorageDriver, path: &str, witness: &str) -> CheckResult {
    let hour = Duration::from_secs(3600);
    let r = d.reader(path, 0).await;
    expect_invalid_path(r, d, format_args!("reader({path:?}, 0)"), path)?;
    for append in [false, true] {
        let r = d.writer(path, append).await;
        expect_invalid_path(r, d, format_args!("writer({path:?}, {append})"), path)?;
    }
    let r = d.stat(path).await;
    expect_invalid_path(r, d, format_args!("stat({path:?})"), path)?;
    let r = d.list(path).await;
    expect_invalid_path(r, d, format_args!("list({path:?})"), path)?;
    let (_, r) = walk_entries(d, path, None, |_| Ok(WalkControl::Continue)).await;
    expect_invalid_path(r, d, format_args!("walk({path:?})"), path)?;
    let (_, r) = walk_entries(d, "/", Some(path), |_| Ok(WalkControl::Continue)).await;
    expect_invalid_path(
        r,
        d,
        format_args!("walk(\"/\", start_after {path:?})"),
        path,
    )?;
    let r = d.rename(path, witness).await;
    expect_invalid_path(r, d, format_args!("move({path:?}, {witness})"), path)?;
    let r = d.rename(witness, path).await;
    expect_invalid_path(r, d, format_args!("move({witness}, {path:?})"), path)?;
    let r = d.delete(path).await;
    expect_invalid_path(r, d, format_args!("delete({path:?})"), path)?;
    let r = d.redirect_url(RedirectMethod::Get, path, hour).await;
    expect_invalid_path(r, d, format_args!("redirect_url(GET, {path:?})"), path)?;
    Ok(())
}

/// The root is refused by every operation except `stat`, `list` and `walk`, so nobody can
/// delete or overwrite the whole tree.
pub(crate) async fn root_rejected_where_not_allowed(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let dir = random_root();
    let file = format!("{dir}/keep");
    let content = data::bytes(data::seed("root_rejected"), 0, 100);
    let hour = Duration::from_secs(3600);
    let dr = d.as_ref();
    with_cleanup(dr, &[&dir], async {
        d.put_content(&file, content.clone())
            .await
            .context(format_args!("put_content({file})"))?;
        expect_invalid_path(d.get_content("/").await, dr, "get_content(\"/\")", "/")?;
        expect_invalid_path(
            d.put_content("/", Bytes::new()).await,
            dr,
            "put_content(\"/\")",
            "/",
        )?;
        expect_invalid_path(d.reader("/", 0).await, dr, "reader(\"/\", 0)", "/")?;
        expect_invalid_path(d.writer("/", false).await, dr, "writer(\"/\", false)", "/")?;
        expect_invalid_path(d.writer("/", true).await, dr, "writer(\"/\", true)", "/")?;
        expect_invalid_path(d.delete("/").await, dr, "delete(\"/\")", "/")?;
        expect_invalid_path(d.rename("/", "/x").await, dr, "move(\"/\", \"/x\")", "/")?;
        expect_invalid_path(
            d.rename(&file, "/").await,
            dr,
            format_args!("move({file}, \"/\")"),
            "/",
        )?;
        expect_invalid_path(
            d.redirect_url(RedirectMethod::Get, "/", hour).await,
            dr,
            "redirect_url(GET, \"/\")",
            "/",
        )?;

        let got = d
            .get_content(&file)
            .await
            .context("get_content after the refusals")?;
        ensure!(
            got == content,
            "{file} changed after refused calls on \"/\""
        );
        let children = d.list("/").await.context("list(\"/\")")?;
        ensure_eq!(children, vec![dir.clone()], "list(\"/\")");
        let (entries, result) = walk_entries(dr, "/", None, |_| Ok(WalkControl::Continue)).await;
        result.context("walk(\"/\")")?;
        let found: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        ensure_eq!(found, vec![dir.as_str(), file.as_str()], "walk(\"/\")");
        match d.stat("/").await {
            Ok(info) => ensure!(info.is_dir, "stat(\"/\") says the root is not a directory"),
            Err(e) => ensure!(
                e.is_not_found(),
                "stat(\"/\") failed with {e}; only success or PathNotFound are allowed"
            ),
        }
        Ok(())
    })
    .await
}

/// Paths are case-sensitive: `/x/Abc` and `/x/abc` are two files.
pub(crate) async fn paths_are_case_sensitive(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dir = random_root();
    let upper = format!("{dir}/Abc");
    let lower = format!("{dir}/abc");
    let (su, sl) = (data::seed("upper"), data::seed("lower"));
    with_cleanup(d.as_ref(), &[&dir], async {
        d.put_content(&upper, data::bytes(su, 0, 40))
            .await
            .context(format_args!("put_content({upper})"))?;
        d.put_content(&lower, data::bytes(sl, 0, 50))
            .await
            .context(format_args!("put_content({lower})"))?;
        let got = d.get_content(&upper).await.context("get_content(upper)")?;
        ensure_data(&got, su, 0, 40, format_args!("get_content({upper})"))?;
        let got = d.get_content(&lower).await.context("get_content(lower)")?;
        ensure_data(&got, sl, 0, 50, format_args!("get_content({lower})"))?;
        let children = d.list(&dir).await.context(format_args!("list({dir})"))?;
        ensure_eq!(children, vec![upper.clone(), lower.clone()], "list({dir})");
        Ok(())
    })
    .await
}
