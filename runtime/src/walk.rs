//! The contract's walk (CONTRACT §3) built from `list` and `stat`, for drivers without a native
//! one: depth-first, a directory before its contents, siblings in byte order, with `start_after`,
//! skip-directory and stop. Entries that vanish during the walk are skipped.

pub use wharf_contract::walk::{Position, Resume, position, position_after};

use crate::driver::{StorageDriver, Visitor, WalkControl, WalkOptions};
use crate::error::Result;

/// Walks `root` with `driver.list` and `driver.stat` (one `stat` per entry that can still be
/// emitted; subtrees wholly before `start_after` are never listed).
pub async fn walk_with_list_and_stat<D: StorageDriver + ?Sized>(
    driver: &D,
    root: &str,
    options: &WalkOptions,
    visitor: &mut Visitor<'_>,
) -> Result<()> {
    let start_after = options.start_after.as_deref();
    // A stack of directory listings, each with the index of the next child to visit.
    let mut stack: Vec<(Vec<String>, usize)> = vec![(sorted(driver.list(root).await?), 0)];
    while let Some((children, next)) = stack.last_mut() {
        let Some(child) = children.get(*next).cloned() else {
            stack.pop();
            continue;
        };
        *next += 1;
        let position = position_after(&child, start_after);
        if position == Position::Skip {
            continue;
        }
        let info = match driver.stat(&child).await {
            Ok(info) => info,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let descend = match position {
            Position::Emit => match visitor(&info)? {
                WalkControl::Stop => return Ok(()),
                WalkControl::SkipDir => false,
                WalkControl::Continue => info.is_dir,
            },
            _ => info.is_dir,
        };
        if descend {
            match driver.list(&child).await {
                Ok(grandchildren) => stack.push((sorted(grandchildren), 0)),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

fn sorted(mut children: Vec<String>) -> Vec<String> {
    // Drivers already return byte order; sorting again costs nothing on sorted input and keeps
    // the walk's order right even for a driver that got `list` wrong.
    children.sort_unstable();
    children
}
