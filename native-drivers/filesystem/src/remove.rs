//! Recursive delete that holds a bounded number of descriptors and no recursion, whatever the
//! tree: a directory shared with a guest driver (or anyone else) may hold trees far deeper than
//! any registry makes, and a recursive delete would run out of descriptors or stack on them.
//!
//! The tree is removed depth first with an explicit stack of open directories, at most
//! [`WINDOW`] deep. A subdirectory met at that depth is not entered: it is moved up into the top
//! directory under a hidden name (a rename, O(1) on one filesystem) and removed from there in a
//! later pass, so every subtree is eventually met within the window. Links are removed, never
//! followed: a directory is entered only when its entry says it is one, and should it be
//! swapped for a link in between, the link is followed only within the directory being
//! emptied (each `Dir` confines what is reached through it), which is being deleted anyway.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use cap_std::fs::{Dir, ReadDir};

/// Directories open at once (each with its listing: two descriptors).
const WINDOW: usize = 32;

/// A directory being emptied, with the name it has in the directory below it on the stack.
struct Level {
    dir: Dir,
    entries: ReadDir,
    name: OsString,
}

/// Removes the directory `rel` under `root` with everything in it.
pub(crate) fn remove_tree(root: &Dir, rel: &Path) -> io::Result<()> {
    let top = root.open_dir(rel)?;
    // Opening follows a link: make sure what was opened is the directory itself, not
    // something a link swapped in since the caller looked.
    #[cfg(unix)]
    {
        use cap_std::fs::MetadataExt;
        let (there, opened) = (root.symlink_metadata(rel)?, top.dir_metadata()?);
        if !there.is_dir() || (there.dev(), there.ino()) != (opened.dev(), opened.ino()) {
            return Err(io::Error::other(
                "the directory changed while it was being deleted",
            ));
        }
    }
    let mut moved = 0u64;
    // Passes over the top directory until it is empty: subtrees moved up during a pass may or
    // may not be seen by that pass's listing.
    loop {
        let mut found = false;
        let mut stack = vec![Level {
            entries: top.entries()?,
            dir: top.try_clone()?,
            name: OsString::new(),
        }];
        loop {
            let depth = stack.len();
            let Some(level) = stack.last_mut() else { break };
            let Some(entry) = level.entries.next() else {
                let done = stack.pop().expect("the stack has the level just looked at");
                if let Some(parent) = stack.last() {
                    drop(done.entries);
                    drop(done.dir);
                    parent.dir.remove_dir(&done.name)?;
                }
                continue;
            };
            found = true;
            let entry = entry?;
            let name = entry.file_name();
            // `file_type` does not follow links: a link is removed like a file.
            if !entry.file_type()?.is_dir() {
                level.dir.remove_file(&name)?;
            } else if depth < WINDOW {
                let dir = level.dir.open_dir(&name)?;
                stack.push(Level {
                    entries: dir.entries()?,
                    dir,
                    name,
                });
            } else {
                move_up(&level.dir, &name, &top, &mut moved)?;
            }
        }
        if !found {
            break;
        }
    }
    drop(top);
    root.remove_dir(rel)
}

/// Moves the directory `name` in `dir` into `top` under a hidden name not taken yet.
fn move_up(dir: &Dir, name: &OsString, top: &Dir, moved: &mut u64) -> io::Result<()> {
    loop {
        *moved += 1;
        let hidden = format!("~deleting-{}-{moved}", std::process::id());
        match dir.rename(name, top, &hidden) {
            Err(e) if top.symlink_metadata(&hidden).is_ok() => {
                // Taken (left by an earlier, interrupted delete): try the next name.
                tracing::debug!(hidden, error = %format_args!("{e:#}"), "name taken while deleting a deep tree");
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_deeper_than_the_window_and_descriptors_allow_are_removed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).expect("root");
        root.create_dir("t").expect("t");
        // 3000 levels, made through descriptors (the path would be too long for one call).
        let mut here = root.open_dir("t").expect("open t");
        for level in 0..3000 {
            here.create_dir("d").expect("mkdir");
            here.write(format!("f{level}"), b"x").expect("file");
            if level % 500 == 0 {
                here.create_dir("side").expect("side");
                here.write("side/g", b"y").expect("side file");
            }
            here = here.open_dir("d").expect("descend");
        }
        here.symlink("../../../../../../../../../../etc", "link-out")
            .expect("link");
        drop(here);
        remove_tree(&root, Path::new("t")).expect("remove the deep tree");
        assert!(!tmp.path().join("t").exists());
        // Nothing was followed out of the tree.
        assert!(Path::new("/etc").is_dir());
    }

    #[test]
    fn a_flat_tree_and_a_missing_one() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = Dir::open_ambient_dir(tmp.path(), cap_std::ambient_authority()).expect("root");
        root.create_dir_all("a/b/c").expect("dirs");
        for i in 0..100 {
            root.write(format!("a/b/f{i}"), b"x").expect("file");
        }
        remove_tree(&root, Path::new("a")).expect("remove");
        assert!(!tmp.path().join("a").exists());
        let e = remove_tree(&root, Path::new("a")).expect_err("already gone");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
