//! CONTRACT §3 `walk`: the reference's walk cases on its tree, with the same expected order for
//! every driver (depth-first, a directory before its contents, siblings in byte order of their
//! names, so `/folder1/file1` comes before `/folder1-suffix`), `start_after`, the visitor's
//! answers and errors, entries removed during a walk, and missing or empty roots.
//!
//! These checks build their trees at `/` and so rely on the fixture's storage being fresh.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use wharf_runtime::{Error, ErrorKind, FileInfo, StorageDriver, WalkControl};

use crate::data;
use crate::support::{
    CheckError, CheckResult, Context, block_on_in_visitor, ensure, ensure_eq, expect_not_found,
    fail, paths, random_root, walk_entries, with_cleanup,
};
use crate::{Fixture, RunOptions};

/// The files of the reference's walk tree; everything else in [`ALL`] is a directory.
const FILES: [&str; 7] = [
    "/file1",
    "/folder1/file1",
    "/folder1-suffix/file1",
    "/folder2/file1",
    "/folder3/subfolder1/subfolder1/file1",
    "/folder3/subfolder2/subfolder1/file1",
    "/folder4/file1",
];

/// The whole tree in the contract's walk order.
const ALL: [&str; 16] = [
    "/file1",
    "/folder1",
    "/folder1/file1",
    "/folder1-suffix",
    "/folder1-suffix/file1",
    "/folder2",
    "/folder2/file1",
    "/folder3",
    "/folder3/subfolder1",
    "/folder3/subfolder1/subfolder1",
    "/folder3/subfolder1/subfolder1/file1",
    "/folder3/subfolder2",
    "/folder3/subfolder2/subfolder1",
    "/folder3/subfolder2/subfolder1/file1",
    "/folder4",
    "/folder4/file1",
];

const ROOTS: [&str; 6] = [
    "/file1",
    "/folder1",
    "/folder1-suffix",
    "/folder2",
    "/folder3",
    "/folder4",
];

/// Each file's size differs (its path's length plus its index), so a wrong `FileInfo` shows.
fn size_of(i: usize, path: &str) -> usize {
    path.len() + i
}

async fn build_tree(d: &dyn StorageDriver) -> CheckResult {
    for (i, path) in FILES.iter().enumerate() {
        d.put_content(path, data::bytes(data::seed(path), 0, size_of(i, path)))
            .await
            .context(format_args!("put_content({path})"))?;
    }
    Ok(())
}

/// Checks every entry's `FileInfo` against the tree and that no entry comes twice.
fn check_infos(entries: &[FileInfo], what: &str) -> CheckResult {
    let mut seen = HashSet::new();
    for e in entries {
        ensure!(
            seen.insert(e.path.as_str()),
            "{what}: {} visited twice",
            e.path
        );
        match FILES.iter().position(|f| *f == e.path) {
            Some(i) => {
                ensure!(!e.is_dir, "{what}: file {} reported as a directory", e.path);
                ensure_eq!(
                    e.size,
                    size_of(i, &e.path) as u64,
                    "{what}: size of {}",
                    e.path
                );
            }
            None => ensure!(e.is_dir, "{what}: directory {} reported as a file", e.path),
        }
    }
    Ok(())
}

/// Builds the tree, walks `from` with `start_after` and the visitor's answers from `control`,
/// and compares the visited paths with `expected`.
async fn walk_case(
    fx: Arc<dyn Fixture>,
    from: &str,
    start_after: Option<&str>,
    control: impl FnMut(&FileInfo) -> wharf_runtime::Result<WalkControl> + Send,
    expected: &[&str],
) -> CheckResult {
    let d = fx.driver();
    let dr = d.as_ref();
    with_cleanup(dr, &ROOTS, async {
        build_tree(dr).await?;
        let what = match start_after {
            Some(s) => format!("walk({from}, start_after {s})"),
            None => format!("walk({from})"),
        };
        let (entries, result) = walk_entries(dr, from, start_after, control).await;
        result.context(&what)?;
        ensure_eq!(paths(&entries), expected, "{what}: visited paths in order");
        check_infos(&entries, &what)
    })
    .await
}

fn continue_all(_: &FileInfo) -> wharf_runtime::Result<WalkControl> {
    Ok(WalkControl::Continue)
}

/// The whole tree, in order, with the right `FileInfo`s.
pub(crate) async fn walk_all(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    walk_case(fx, "/", None, continue_all, &ALL).await
}

/// `SkipDir` on `/folder1` skips its contents only; on a file it is the same as `Continue`.
pub(crate) async fn walk_skip_dir(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let expected: Vec<&str> = ALL
        .iter()
        .copied()
        .filter(|p| *p != "/folder1/file1")
        .collect();
    let control = |info: &FileInfo| {
        Ok(match info.path.as_str() {
            "/folder1" | "/file1" | "/folder2/file1" => WalkControl::SkipDir,
            _ => WalkControl::Continue,
        })
    };
    walk_case(fx, "/", None, control, &expected).await
}

/// Resuming after `/folder1/file1` continues with `/folder1-suffix`.
pub(crate) async fn walk_start_late(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    walk_case(fx, "/", Some("/folder1/file1"), continue_all, &ALL[3..]).await
}

/// Resuming deep in the tree from the root: ancestors already emitted are not re-emitted.
pub(crate) async fn walk_start_late_without_from(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let start = "/folder3/subfolder1/subfolder1/file1";
    walk_case(fx, "/", Some(start), continue_all, &ALL[11..]).await
}

/// Resuming deep in the tree from `/folder3`: only the rest of `/folder3`.
pub(crate) async fn walk_start_late_with_from(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let start = "/folder3/subfolder1/subfolder1/file1";
    walk_case(fx, "/folder3", Some(start), continue_all, &ALL[11..14]).await
}

/// Walking `/folder1` after `/folder1-suffix` (which sorts after all of `/folder1`): nothing.
pub(crate) async fn walk_start_after_from(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    walk_case(fx, "/folder1", Some("/folder1-suffix"), continue_all, &[]).await
}

/// `start_after` equal to the walked path: all of its contents.
pub(crate) async fn walk_start_equals_from(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    walk_case(fx, "/folder3", Some("/folder3"), continue_all, &ALL[8..14]).await
}

/// `start_after` naming a directory inside the walk: its contents come after it in the order, so
/// they are emitted; the directory itself is not.
pub(crate) async fn walk_start_after_directory(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    walk_case(
        fx,
        "/",
        Some("/folder3/subfolder1"),
        continue_all,
        &ALL[9..],
    )
    .await
}

/// A `start_after` that does not exist still resumes at its place in the order.
pub(crate) async fn walk_start_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let start = "/folder3/notafolder/notafile";
    walk_case(fx, "/folder3", Some(start), continue_all, &ALL[8..14]).await
}

/// `Stop` ends the walk at once, successfully.
pub(crate) async fn walk_stop_early(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let control = |info: &FileInfo| {
        Ok(if info.path == "/folder1/file1" {
            WalkControl::Stop
        } else {
            WalkControl::Continue
        })
    };
    walk_case(fx, "/", None, control, &ALL[..3]).await
}

/// A visitor error aborts the walk and comes back unchanged (same kind, detail and source, no
/// driver name added).
pub(crate) async fn walk_visitor_error(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dr = d.as_ref();
    let detail = format!("visitor error {}", rand::random::<u32>());
    with_cleanup(dr, &ROOTS, async {
        build_tree(dr).await?;
        let (entries, result) = walk_entries(dr, "/", None, |_| {
            Err(Error::backend(detail.clone()).with_source(std::io::Error::other("the cause")))
        })
        .await;
        ensure_eq!(
            paths(&entries),
            ["/file1"],
            "walk(\"/\") with a failing visitor: visited paths"
        );
        let err = match result {
            Ok(()) => fail!("walk(\"/\") succeeded although its visitor failed"),
            Err(e) => e,
        };
        ensure_eq!(
            *err.kind(),
            ErrorKind::Backend { temporary: false },
            "the visitor's error kind"
        );
        ensure_eq!(
            err.detail(),
            Some(detail.as_str()),
            "the visitor's error detail"
        );
        ensure_eq!(
            err.driver(),
            None,
            "the driver name on the visitor's error (must be unchanged)"
        );
        let source = std::error::Error::source(&err).map(|s| s.to_string());
        ensure_eq!(
            source.as_deref(),
            Some("the cause"),
            "the visitor's error source"
        );
        Ok(())
    })
    .await
}

/// Walking a folder visits only its contents, not the folder itself.
pub(crate) async fn walk_from_folder(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    walk_case(fx, "/folder1", None, continue_all, &["/folder1/file1"]).await
}

/// A file removed while the walk runs (deleted from inside the visitor, through a second driver
/// instance, before the walk reaches it) is skipped.
pub(crate) async fn walk_file_removed_during_walk(
    fx: Arc<dyn Fixture>,
    _: RunOptions,
) -> CheckResult {
    let d = fx.driver();
    let dr = d.as_ref();
    let files = ["/a", "/b/c", "/b/d", "/e"];
    with_cleanup(dr, &["/a", "/b", "/e"], async {
        for f in files {
            d.put_content(f, Bytes::from_static(b"walk"))
                .await
                .context(format_args!("put_content({f})"))?;
        }
        let other = fx
            .second_instance()
            .await
            .context("opening a second driver instance")?;
        let (entries, result) = walk_entries(dr, "/", None, |info| {
            // At `/a` the root has been listed and `/e` not reached; at `/b/c` the same holds
            // for `/b` and `/b/d`.
            let victim = match info.path.as_str() {
                "/a" => "/e",
                "/b/c" => "/b/d",
                _ => return Ok(WalkControl::Continue),
            };
            let other = other.clone();
            let deleted = block_on_in_visitor(
                async move { other.delete(victim).await },
                Duration::from_secs(30),
            );
            match deleted {
                Some(Ok(())) => Ok(WalkControl::Continue),
                Some(Err(e)) => Err(e),
                None => Err(Error::backend(format!(
                    "delete({victim}) from inside the visitor did not finish within 30 s \
                     (does the walk hold a lock while it calls the visitor?)"
                ))),
            }
        })
        .await;
        result.map_err(|e| {
            CheckError::new(format!(
                "walk(\"/\") while deleting from the visitor failed: {e}"
            ))
        })?;
        ensure_eq!(
            paths(&entries),
            ["/a", "/b", "/b/c"],
            "walk(\"/\") while /e and /b/d are deleted before the walk reaches them"
        );
        Ok(())
    })
    .await
}

/// Walking a missing path fails with `PathNotFound` and visits nothing.
pub(crate) async fn walk_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dr = d.as_ref();
    let root = random_root();
    let missing = format!("{root}/missing");
    let (seen, r) = walk_entries(dr, &root, None, continue_all).await;
    ensure!(
        seen.is_empty(),
        "walk({root}) of a missing path visited {:?}",
        paths(&seen)
    );
    expect_not_found(r, dr, format_args!("walk({root}) on empty storage"))?;
    with_cleanup(dr, &[&root], async {
        d.put_content(&format!("{root}/present"), Bytes::from_static(b"x"))
            .await
            .context("put_content")?;
        let (seen, r) = walk_entries(dr, &missing, None, continue_all).await;
        ensure!(
            seen.is_empty(),
            "walk({missing}) of a missing path visited {:?}",
            paths(&seen)
        );
        expect_not_found(r, dr, format_args!("walk({missing})"))
    })
    .await
}

/// `walk("/")` on empty storage succeeds with no entries (also with a `start_after`).
pub(crate) async fn walk_empty_root(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    for start in [None, Some("/x/y")] {
        let (seen, r) = walk_entries(d.as_ref(), "/", start, continue_all).await;
        r.context(format_args!(
            "walk(\"/\", start_after {start:?}) on empty storage"
        ))?;
        ensure!(
            seen.is_empty(),
            "walk(\"/\") on empty storage visited {:?}",
            paths(&seen)
        );
    }
    Ok(())
}

/// Siblings are walked in byte order of their names, which is not the byte order of the full
/// paths: `/a/x` comes before `/a-b` and `/a.b`.
pub(crate) async fn walk_sibling_byte_order(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let dr = d.as_ref();
    let root = random_root();
    let rel_files = ["b", "a_b", "a0/y", "a.b", "a-b", "a/x", "A", "a/X/z"];
    let expected_rel = [
        "A", "a", "a/X", "a/X/z", "a/x", "a-b", "a.b", "a0", "a0/y", "a_b", "b",
    ];
    with_cleanup(dr, &[&root], async {
        for rel in rel_files {
            let p = format!("{root}/{rel}");
            d.put_content(&p, Bytes::from_static(b"x"))
                .await
                .context(format_args!("put_content({p})"))?;
        }
        let expected: Vec<String> = expected_rel.iter().map(|r| format!("{root}/{r}")).collect();
        let (seen, r) = walk_entries(dr, &root, None, continue_all).await;
        r.context(format_args!("walk({root})"))?;
        ensure_eq!(paths(&seen), expected, "walk({root}) order");
        let late = format!("{root}/a/x");
        let (seen, r) = walk_entries(dr, &root, Some(&late), continue_all).await;
        r.context(format_args!("walk({root}, start_after {late})"))?;
        ensure_eq!(
            paths(&seen),
            expected[5..],
            "walk({root}, start_after {late}) order"
        );
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_order_is_the_runtime_walk_order() {
        let mut sorted = ALL;
        sorted.sort_by(|a, b| wharf_runtime::path::walk_order(a, b));
        assert_eq!(sorted, ALL);
        for f in FILES {
            assert!(ALL.contains(&f));
        }
    }
}
