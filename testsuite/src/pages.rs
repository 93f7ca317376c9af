//! A check for drivers whose walk reads listing pages (the object stores): a tree larger than a
//! page, with names the stores sort differently from the walk (`d1-x` and `d1.y` before
//! `d1/…`), walked whole, from `start_after` points, with skipped directories and from a
//! subtree — and what the whole walk cost in requests, counted by the caller (a counting proxy,
//! the SDK's metrics). It needs thousands of files, so it is not among [`crate::checks()`]:
//! a driver's own tests call it on an empty storage.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use wharf_runtime::path::{is_ancestor, walk_order};
use wharf_runtime::{ErrorKind, StorageDriver, WalkControl};

use crate::support::{
    CheckResult, Context, ensure, ensure_eq, fail, join_tasks, paths, walk_entries, with_cleanup,
};

/// Puts `files` files (each holding its path) in directories `/d1`, `/d1-x`, `/d1.y`, `/d10`,
/// `/e` and one file `/d1-x.z`, then walks them. `requests` counts the requests the driver has
/// sent so far; the whole walk of `/` must cost `files.div_ceil(page)` of them, or one more
/// (a store may answer a last, empty page). Deletes the files afterwards, passed or not.
pub async fn walk_across_pages(
    driver: Arc<dyn StorageDriver>,
    files: usize,
    page: usize,
    requests: impl Fn() -> u64,
) -> CheckResult {
    let roots = ["/d1", "/d1-x", "/d1.y", "/d10", "/e", "/d1-x.z"];
    with_cleanup(
        driver.as_ref(),
        &roots,
        walk_tree(&driver, files, page, requests),
    )
    .await
}

async fn walk_tree(
    driver: &Arc<dyn StorageDriver>,
    files: usize,
    page: usize,
    requests: impl Fn() -> u64,
) -> CheckResult {
    let mut names = Vec::with_capacity(files);
    for i in 0..files.saturating_sub(1) {
        let dir = ["d1", "d1-x", "d1.y", "d10", "e"][i % 5];
        names.push(format!("/{dir}/s{}/f{i:05}", i % 3));
    }
    names.push("/d1-x.z".to_owned());
    put_all(driver, &names).await?;
    let mut expected = BTreeSet::new();
    for f in &names {
        let mut p = String::new();
        for c in f.trim_start_matches('/').split('/') {
            p = format!("{p}/{c}");
            expected.insert(p.clone());
        }
    }
    let mut expected: Vec<String> = expected.into_iter().collect();
    expected.sort_by(|a, b| walk_order(a, b));
    let d = driver.as_ref();

    let before = requests();
    let (all, result) = walk_entries(d, "/", None, |_| Ok(WalkControl::Continue)).await;
    let sent = requests() - before;
    result.context("walk(/)")?;
    ensure!(
        paths(&all) == expected,
        "walk(/) gave {} entries out of order or not the tree's {}",
        all.len(),
        expected.len()
    );
    for e in &all {
        ensure_eq!(e.is_dir, !names.contains(&e.path), "is_dir of {}", e.path);
    }
    let pages = files.div_ceil(page) as u64;
    ensure!(
        (pages..=pages + 1).contains(&sent),
        "the walk of {files} files sent {sent} requests: {pages} pages of {page} expected"
    );

    // start_after anywhere resumes right after it.
    let last = names.len() - 2;
    for start in [
        "/d1/s2/f00010".to_owned(),
        "/d1".to_owned(),
        "/d1-x".to_owned(),
        "/d1.y/s1".to_owned(),
        names[last].clone(),
        "/e/zzz".to_owned(),
        "/a".to_owned(),
    ] {
        let (got, result) = walk_entries(d, "/", Some(&start), |_| Ok(WalkControl::Continue)).await;
        result.context(format_args!("walk(/) after {start}"))?;
        let want: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|p| walk_order(p, &start).is_gt() && !is_ancestor(p, &start))
            .collect();
        ensure!(
            paths(&got) == want,
            "walk(/) after {start}: {} entries, {} expected",
            got.len(),
            want.len()
        );
    }

    // Skipping a big directory skips all of it, and the rest still comes in order.
    let (got, result) = walk_entries(d, "/", None, |e| {
        Ok(if e.path == "/d1" || e.path == "/d1.y/s0" {
            WalkControl::SkipDir
        } else {
            WalkControl::Continue
        })
    })
    .await;
    result.context("walk(/) skipping /d1 and /d1.y/s0")?;
    let want: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|p| !p.starts_with("/d1/") && !p.starts_with("/d1.y/s0/"))
        .collect();
    ensure!(
        paths(&got) == want,
        "walk(/) skipping /d1 and /d1.y/s0: {} entries, {} expected",
        got.len(),
        want.len()
    );

    // Skipping the directory a page ends in (a page whose last name has no byte below `/`, so
    // that its entries are emitted before the next page is read): the next page starts after
    // the directory, or pages through it, and the rest comes in order.
    let mut by_name = names.clone();
    by_name.sort_unstable();
    let inside = (1..=files / page)
        .map(|k| &by_name[k * page - 1])
        .find(|name| !name.bytes().any(|b| b < b'/'));
    if let Some(name) = inside {
        let dir = wharf_runtime::path::parent(name);
        let (got, result) = walk_entries(d, "/", None, |e| {
            Ok(if e.path == dir {
                WalkControl::SkipDir
            } else {
                WalkControl::Continue
            })
        })
        .await;
        result.context(format_args!("walk(/) skipping {dir}"))?;
        let want: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|p| !is_ancestor(dir, p))
            .collect();
        ensure!(
            paths(&got) == want,
            "walk(/) skipping {dir}, where a page ends: {} entries, {} expected",
            got.len(),
            want.len()
        );
    }

    // A sub-walk sees only its subtree; a file is not a directory to walk.
    let (got, result) = walk_entries(d, "/d1-x", None, |_| Ok(WalkControl::Continue)).await;
    result.context("walk(/d1-x)")?;
    let want: Vec<&str> = expected
        .iter()
        .map(String::as_str)
        .filter(|p| is_ancestor("/d1-x", p))
        .collect();
    ensure_eq!(paths(&got), want, "walk(/d1-x)");
    let (_, result) = walk_entries(d, "/d1-x.z", None, |_| Ok(WalkControl::Continue)).await;
    match result {
        Err(e) if matches!(e.kind(), ErrorKind::PathNotFound { .. }) => Ok(()),
        other => fail!("walk(/d1-x.z), a file: {other:?}, expected PathNotFound"),
    }
}

/// Puts every path of `files` (holding its path), 16 at a time.
async fn put_all(driver: &Arc<dyn StorageDriver>, files: &[String]) -> CheckResult {
    let tasks = files
        .chunks(files.len().div_ceil(16).max(1))
        .map(|chunk| {
            let (d, chunk) = (driver.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for f in chunk {
                    d.put_content(&f, Bytes::from(f.clone()))
                        .await
                        .context(format_args!("put_content({f})"))?;
                }
                Ok(())
            })
        })
        .collect();
    join_tasks(tasks, "putter").await
}
