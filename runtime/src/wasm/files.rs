//! What a guest may do with the directories it is granted, beyond what WASI's own sandbox
//! checks: two `wasi:filesystem` functions are replaced in the linker by checked versions that
//! then call wasmtime-wasi's own.
//!
//! - `open-at`: an instance holds at most the policy's `open_files` descriptors and streams at
//!   once (each may hold a host file descriptor); opening one more is a broken contract naming
//!   the bound, so a guest cannot starve the host and its other drivers of descriptors.
//! - `symlink-at`: a link's target must be relative and free of `..`, so that no link a guest
//!   makes can lead out of its grant — wherever it is moved within the grant, and for whoever
//!   follows it (the guest's sandbox refuses to follow such links; the host's other drivers and
//!   tools sharing the directory are not sandboxed).

use std::path::{Component, Path};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError};

use super::state::State;

/// The interface whose functions are replaced, at the version wasmtime-wasi links.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Replaces `open-at` and `symlink-at` in `linker` (which already holds wasmtime-wasi's).
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut fs = linker.instance(FILESYSTEM_TYPES)?;
    fs.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store: StoreContextMut<'_, State>,
         (dir, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let state = store.data_mut();
                let held = state.open_files();
                if held >= state.max_open_files {
                    wasmtime::bail!(
                        "the guest holds {held} open files and streams, the sandbox's bound (open_files)"
                    );
                }
                let mut view = state.filesystem();
                let opened =
                    HostDescriptor::open_at(&mut view, dir, path_flags, path, open_flags, flags)
                        .await;
                Ok((answer(&mut view, opened)?,))
            })
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.symlink-at",
        |mut store: StoreContextMut<'_, State>,
         (dir, target, link): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                if !stays_inside(&target) {
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let mut view = store.data_mut().filesystem();
                let made = HostDescriptor::symlink_at(&mut view, dir, target, link).await;
                Ok((answer(&mut view, made)?,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A filesystem result as the guest receives it (a trap stays a trap).
fn answer<T>(
    view: &mut wasmtime_wasi::filesystem::WasiFilesystemCtxView<'_>,
    result: Result<T, FsError>,
) -> wasmtime::Result<Result<T, ErrorCode>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(e) => Ok(Err(types::Host::convert_error_code(view, e)?)),
    }
}

/// True for a link target that cannot lead above the directory the link is in, wherever that
/// is: relative, not empty, no `..`.
fn stays_inside(target: &str) -> bool {
    !target.is_empty()
        && Path::new(target)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

impl State {
    /// Descriptors and streams the instance holds now.
    fn open_files(&mut self) -> usize {
        self.table_mut()
            .iter_mut()
            .filter(|entry| {
                entry.is::<Descriptor>()
                    || entry.is::<DynInputStream>()
                    || entry.is::<DynOutputStream>()
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_links_that_stay_inside_are_made() {
        for ok in ["a", "a/b", "./a", "a/./b", "a-b.c"] {
            assert!(stays_inside(ok), "{ok}");
        }
        for bad in ["", "/etc/passwd", "..", "../a", "a/../../b", "a/..", "//x"] {
            assert!(!stays_inside(bad), "{bad}");
        }
    }
}
