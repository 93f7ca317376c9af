//! CONTRACT §3 `move` (the trait's `rename`): the source is gone and the destination holds its
//! content (overwriting, parents implicit); a missing source is `PathNotFound` with the
//! destination untouched; a source under a file is an error; a directory moves whole or not at
//! all, and never takes string-prefix siblings along.

use std::sync::Arc;

use bytes::Bytes;
use wharf_runtime::WalkControl;

use crate::data;
use crate::support::{
    CheckResult, Context, ensure, ensure_data, ensure_eq, expect_not_found, first_part,
    random_path, random_root, walk_entries, with_cleanup,
};
use crate::{Fixture, RunOptions};

/// A file moves to a destination whose parents do not exist yet.
pub(crate) async fn move_file(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let (source, dest) = (random_path(32), random_path(32));
    let seed = data::seed("move_file");
    let dr = d.as_ref();
    with_cleanup(dr, &[first_part(&source), first_part(&dest)], async {
        d.put_content(&source, data::bytes(seed, 0, 32))
            .await
            .context("put_content")?;
        d.rename(&source, &dest)
            .await
            .context(format_args!("move({source}, {dest})"))?;
        let got = d
            .get_content(&dest)
            .await
            .context("get_content of the destination")?;
        ensure_data(&got, seed, 0, 32, "destination after the move")?;
        let info = d.stat(&dest).await.context("stat of the destination")?;
        ensure_eq!(
            (info.size, info.is_dir),
            (32, false),
            "stat({dest}) (size, is_dir)"
        );
        expect_not_found(
            d.get_content(&source).await,
            dr,
            "get_content of the moved source",
        )?;
        expect_not_found(d.stat(&source).await, dr, "stat of the moved source")
    })
    .await
}

/// Moving over an existing file replaces it entirely.
pub(crate) async fn move_overwrite(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let (source, dest) = (random_path(32), random_path(32));
    let (s, t) = (
        data::seed("move_overwrite-source"),
        data::seed("move_overwrite-dest"),
    );
    let dr = d.as_ref();
    with_cleanup(dr, &[first_part(&source), first_part(&dest)], async {
        d.put_content(&source, data::bytes(s, 0, 32))
            .await
            .context("put_content(source)")?;
        d.put_content(&dest, data::bytes(t, 0, 64))
            .await
            .context("put_content(dest)")?;
        d.rename(&source, &dest)
            .await
            .context(format_args!("move({source}, {dest})"))?;
        let got = d
            .get_content(&dest)
            .await
            .context("get_content of the destination")?;
        ensure_data(&got, s, 0, 32, "overwritten destination")?;
        let info = d.stat(&dest).await.context("stat of the destination")?;
        ensure_eq!(info.size, 32, "stat({dest}).size after the overwrite");
        expect_not_found(
            d.get_content(&source).await,
            dr,
            "get_content of the moved source",
        )
    })
    .await
}

/// Moving a missing source fails with `PathNotFound` and leaves the destination as it was.
pub(crate) async fn move_missing_source(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let (source, dest) = (random_path(32), random_path(32));
    let seed = data::seed("move_missing_source");
    let dr = d.as_ref();
    with_cleanup(dr, &[first_part(&dest)], async {
        d.put_content(&dest, data::bytes(seed, 0, 32))
            .await
            .context("put_content(dest)")?;
        expect_not_found(
            d.rename(&source, &dest).await,
            dr,
            format_args!("move({source}, {dest}) of a missing source"),
        )?;
        let got = d
            .get_content(&dest)
            .await
            .context("get_content of the destination")?;
        ensure_data(&got, seed, 0, 32, "destination after a failed move")
    })
    .await
}

/// Moving a source that would sit under a file (`/notadir/foo`) fails, and changes nothing.
pub(crate) async fn move_source_under_file(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let file = random_root();
    let (source, dest) = (format!("{file}/foo"), format!("{file}/bar"));
    let seed = data::seed("move_source_under_file");
    let dr = d.as_ref();
    with_cleanup(dr, &[&file], async {
        d.put_content(&file, data::bytes(seed, 0, 32))
            .await
            .context("put_content")?;
        let r = d.rename(&source, &dest).await;
        ensure!(
            r.is_err(),
            "move({source}, {dest}) under the file {file} succeeded"
        );
        let got = d
            .get_content(&file)
            .await
            .context("get_content of the file")?;
        ensure_data(&got, seed, 0, 32, "the file after the failed move")?;
        let info = d.stat(&file).await.context("stat of the file")?;
        ensure!(!info.is_dir, "{file} became a directory");
        expect_not_found(
            d.stat(&dest).await,
            dr,
            "stat of the destination of the failed move",
        )
    })
    .await
}

/// Moving a directory either moves the whole subtree or fails with nothing changed; siblings
/// whose names merely start with the directory's name are never touched.
pub(crate) async fn move_directory(fx: Arc<dyn Fixture>, _: RunOptions) -> CheckResult {
    let d = fx.driver();
    let root = random_root();
    let (source, dest) = (format!("{root}/d"), format!("{root}/e"));
    let inside = ["a", "sub/b", "sub/deeper/c"];
    let siblings = [format!("{root}/d-x/f"), format!("{root}/dsuffix")];
    let dr = d.as_ref();
    with_cleanup(dr, &[&root], async {
        for (i, rel) in inside.iter().enumerate() {
            let p = format!("{source}/{rel}");
            d.put_content(&p, data::bytes(data::seed(rel), 0, 10 + i))
                .await
                .context(format_args!("put_content({p})"))?;
        }
        for p in &siblings {
            d.put_content(p, Bytes::from(p.clone()))
                .await
                .context(format_args!("put_content({p})"))?;
        }
        let (kept, gone) = match d.rename(&source, &dest).await {
            Ok(()) => (&dest, &source),
            // Failing is allowed, as long as nothing changed.
            Err(_) => (&source, &dest),
        };
        for (i, rel) in inside.iter().enumerate() {
            let (p, q) = (format!("{kept}/{rel}"), format!("{gone}/{rel}"));
            let got = d
                .get_content(&p)
                .await
                .context(format_args!("get_content({p})"))?;
            ensure_data(&got, data::seed(rel), 0, 10 + i as u64, format_args!("{p}"))?;
            expect_not_found(d.stat(&q).await, dr, format_args!("stat({q})"))?;
        }
        for p in &siblings {
            let got = d
                .get_content(p)
                .await
                .context(format_args!("get_content({p}) of a sibling"))?;
            ensure!(got == p.as_bytes(), "sibling {p} changed");
        }
        let mut got = d.list(&root).await.context(format_args!("list({root})"))?;
        // Whether an emptied directory persists is driver-defined: `gone` may remain, empty.
        if got.contains(gone) {
            let (files, r) = walk_entries(dr, gone, None, |_| Ok(WalkControl::Continue)).await;
            r.context(format_args!("walk({gone})"))?;
            ensure!(
                files.iter().all(|f| f.is_dir),
                "{gone} still holds files {:?}",
                crate::support::paths(&files)
            );
            got.retain(|p| p != gone);
        }
        let mut expected = vec![kept.clone(), format!("{root}/d-x"), siblings[1].clone()];
        expected.sort();
        ensure_eq!(got, expected, "list({root}) after moving a directory");
        Ok(())
    })
    .await
}
