//! CONTRACT §3 `list`: direct children only, as absolute paths without a trailing slash, sorted
//! by byte order; `PathNotFound` naming the requested path for a missing directory and for a
//! file.

use std::sync::Arc;

use bytes::Bytes;
use rand::seq::SliceRandom;

use crate::support::{
    CheckResult, Context, ensure, ensure_eq, expect_not_found_at, random_name, random_root,
    with_cleanup,
};
use crate::{Fixture, RunOptions};

/// Listing a missing directory fails with exactly `PathNotFound { path }` of the requested path,
/// on empty storage and next to an existing directory.
pub(crate) async fn list_missing(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let missing = format!("{root}/nonexistent");
    let dr = d.as_ref();
    expect_not_found_at(
        d.list(&missing).await,
        dr,
        format_args!("list({missing}) on empty storage"),
        &missing,
    )?;
    with_cleanup(dr, &[&root], async {
        d.put_content(&format!("{root}/present/f"), Bytes::from_static(b"f"))
            .await
            .context("put_content")?;
        expect_not_found_at(
            d.list(&missing).await,
            dr,
            format_args!("list({missing})"),
            &missing,
        )
    })
    .await
}

/// Fifty files under `/r/p`: `list("/")` is `["/r"]`, `list("/r")` is `["/r/p"]` and `list("/r/p")`
/// is the fifty paths, already sorted as returned.
pub(crate) async fn list_tree(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = format!("/{}", random_name(rand::random_range(8..16)));
    let parent = format!("{root}/{}", random_name(rand::random_range(8..16)));
    with_cleanup(d.as_ref(), &[&root], async {
        let mut children = Vec::new();
        while children.len() < 50 {
            let child = format!("{parent}/{}", random_name(rand::random_range(8..16)));
            if children.contains(&child) {
                continue;
            }
            d.put_content(&child, crate::data::bytes(children.len() as u64, 0, 32))
                .await
                .context(format_args!("put_content({child})"))?;
            children.push(child);
        }
        children.sort();
        let got = d.list("/").await.context("list(\"/\")")?;
        ensure_eq!(got, vec![root.clone()], "list(\"/\")");
        let got = d.list(&root).await.context(format_args!("list({root})"))?;
        ensure_eq!(got, vec![parent.clone()], "list({root})");
        let got = d
            .list(&parent)
            .await
            .context(format_args!("list({parent})"))?;
        ensure_eq!(
            got,
            children,
            "list({parent}) (sorted by byte order, as returned)"
        );
        Ok(())
    })
    .await
}

/// Siblings come back in byte order (`-` < `.` < digits < upper case < `_` < lower case),
/// directories and files alike, whatever order they were created in.
pub(crate) async fn list_sorted_byte_order(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    // Names marked with a trailing "/" are directories (they get a child file).
    let mut names = vec![
        "-", ".x", "0", "9", "A/", "Z", "_", "a/", "a-b", "a.b", "a0/", "a_b", "ab", "b", "ba",
    ];
    names.shuffle(&mut rand::rng());
    with_cleanup(d.as_ref(), &[&root], async {
        let mut expected = Vec::new();
        for name in &names {
            let (entry, file) = match name.strip_suffix('/') {
                Some(dir) => (format!("{root}/{dir}"), format!("{root}/{dir}/child")),
                None => (format!("{root}/{name}"), format!("{root}/{name}")),
            };
            d.put_content(&file, Bytes::from_static(b"x"))
                .await
                .context(format_args!("put_content({file})"))?;
            expected.push(entry);
        }
        expected.sort();
        let got = d.list(&root).await.context(format_args!("list({root})"))?;
        for p in &got {
            ensure!(
                p.starts_with(&format!("{root}/"))
                    && !p[root.len() + 1..].contains('/')
                    && !p.ends_with('/'),
                "list({root}) returned {p:?}, not an absolute path of a direct child without a \
                 trailing slash"
            );
        }
        ensure_eq!(got, expected, "list({root}) (byte order)");
        Ok(())
    })
    .await
}

/// Listing a file fails with `PathNotFound` naming the file.
pub(crate) async fn list_file(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let file = format!("{root}/file");
    with_cleanup(d.as_ref(), &[&root], async {
        d.put_content(&file, Bytes::from_static(b"file"))
            .await
            .context("put_content")?;
        expect_not_found_at(
            d.list(&file).await,
            d.as_ref(),
            format_args!("list({file}) of a file"),
            &file,
        )
    })
    .await
}
