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
//! - `read-directory`: wasmtime-wasi reads the whole directory into host memory for a listing;
//!   an instance holds at most [`MAX_LISTINGS`] at once (they count as open files too).
//! - `write`, `set-size`, `write-via-stream`, `append-via-stream`: what makes a file grow under
//!   a grant with a quota is counted against it (see `quota.rs`), streams through a wrapper,
//!   and given back when the write fails; a write that would pass the quota fails with
//!   `insufficient-space`. `rename-at` and `link-at` between two grants, either with a quota,
//!   fail with `cross-device`. Which grant a descriptor is under is followed from
//!   `get-directories` through `open-at`.

use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::Arc;

use bytes::Bytes;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::preopens;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, FsError, OutputStream, Pollable, ReaddirIterator, StreamError,
    StreamResult,
};

use super::policy::SandboxPolicy;
use super::quota::{DiskQuota, GrantQuotas};

/// The interface whose functions are replaced, at the version wasmtime-wasi links.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
/// Directory listings one instance may hold at once: wasmtime-wasi reads a whole directory into
/// host memory for a listing. A recursive delete or walk in the guest holds one per level it is
/// in (wasi-libc's `remove_dir_all`), so the bound is well above any registry's depth.
pub(crate) const MAX_LISTINGS: usize = 64;
/// The interface that hands out the preopens, at the version wasmtime-wasi links.
const FILESYSTEM_PREOPENS: &str = "wasi:filesystem/preopens@0.2.12";

/// What the checked functions need of an instance besides wasmtime-wasi's filesystem context:
/// the bound on open files, and which grant (and quota) each descriptor is under.
pub(crate) struct FilesCtx {
    /// Descriptors and streams the instance may hold at once.
    max_open_files: usize,
    /// The disk quotas of the directory grants, in the policy's order.
    quotas: GrantQuotas,
    /// Guest paths of the directory grants, in the policy's order.
    grant_paths: Vec<String>,
    /// Which grant each live descriptor (by resource number) is under.
    grant_of: HashMap<u32, usize>,
}

impl FilesCtx {
    /// The context of an instance sandboxed by `policy`, counting writes against `quotas`.
    pub(crate) fn new(policy: &SandboxPolicy, quotas: GrantQuotas) -> Self {
        Self {
            max_open_files: policy.open_files,
            quotas,
            grant_paths: policy.dirs.iter().map(|g| g.guest.clone()).collect(),
            grant_of: HashMap::new(),
        }
    }
}

/// What the checked functions work on: their own context, and wasmtime-wasi's filesystem view
/// (the instance's resource table with it).
pub(crate) struct FilesCtxView<'a> {
    pub files: &'a mut FilesCtx,
    pub fs: WasiFilesystemCtxView<'a>,
}

/// Replaces the checked functions in `linker` (which already holds wasmtime-wasi's); `get`
/// finds an instance's [`FilesCtxView`].
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> FilesCtxView<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut fs = linker.instance(FILESYSTEM_TYPES)?;
    fs.func_wrap_async(
        "[method]descriptor.open-at",
        move |mut store: StoreContextMut<'_, T>,
         (dir, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let mut view = get(store.data_mut());
                let held = view.open_files();
                if held >= view.files.max_open_files {
                    wasmtime::bail!(
                        "the guest holds {held} open files and streams, the sandbox's bound (open_files)"
                    );
                }
                let grant = view.files.grant_of.get(&dir.rep()).copied();
                let opened =
                    HostDescriptor::open_at(&mut view.fs, dir, path_flags, path, open_flags, flags)
                        .await;
                let opened = answer(&mut view.fs, opened)?;
                if let (Ok(file), Some(grant)) = (&opened, grant) {
                    view.files.grant_of.insert(file.rep(), grant);
                }
                Ok((opened,))
            })
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.symlink-at",
        move |mut store: StoreContextMut<'_, T>,
              (dir, target, link): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                if !stays_inside(&target) {
                    return Ok((Err(ErrorCode::NotPermitted),));
                }
                let mut view = get(store.data_mut());
                let made = HostDescriptor::symlink_at(&mut view.fs, dir, target, link).await;
                Ok((answer(&mut view.fs, made)?,))
            })
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.write",
        move |mut store: StoreContextMut<'_, T>,
              (file, data, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(async move {
                let end = offset.saturating_add(data.len() as u64);
                let mut view = get(store.data_mut());
                let grow = |size| end.saturating_sub(size);
                let write = async |fs: &mut WasiFilesystemCtxView<'_>, file| {
                    HostDescriptor::write(fs, file, data, offset).await
                };
                Ok((view.grow_within_quota(file, grow, write).await?,))
            })
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.set-size",
        move |mut store: StoreContextMut<'_, T>, (file, size): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                let mut view = get(store.data_mut());
                let grow = |now| size.saturating_sub(now);
                let set_size = async |fs: &mut WasiFilesystemCtxView<'_>, file| {
                    HostDescriptor::set_size(fs, file, size).await
                };
                Ok((view.grow_within_quota(file, grow, set_size).await?,))
            })
        },
    )?;
    fs.func_wrap(
        "[method]descriptor.write-via-stream",
        move |mut store: StoreContextMut<'_, T>, (file, offset): (Resource<Descriptor>, u64)| {
            let mut view = get(store.data_mut());
            let quota = view.quota_of(&file);
            let size = match quota {
                Some(_) => view.file_size(&file)?,
                None => 0,
            };
            let stream = HostDescriptor::write_via_stream(&mut view.fs, file, offset);
            let stream = answer(&mut view.fs, stream)?;
            Ok((stream.and_then(|s| view.counted(s, quota, StreamAt::Offset(offset, size))),))
        },
    )?;
    fs.func_wrap(
        "[method]descriptor.append-via-stream",
        move |mut store: StoreContextMut<'_, T>, (file,): (Resource<Descriptor>,)| {
            let mut view = get(store.data_mut());
            let quota = view.quota_of(&file);
            let stream = HostDescriptor::append_via_stream(&mut view.fs, file);
            let stream = answer(&mut view.fs, stream)?;
            Ok((stream.and_then(|s| view.counted(s, quota, StreamAt::End)),))
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.read-directory",
        move |mut store: StoreContextMut<'_, T>, (dir,): (Resource<Descriptor>,)| {
            Box::new(async move {
                let mut view = get(store.data_mut());
                let held = view.listings();
                if held >= MAX_LISTINGS {
                    wasmtime::bail!(
                        "the guest holds {held} directory listings, the sandbox's bound ({MAX_LISTINGS})"
                    );
                }
                let listing = HostDescriptor::read_directory(&mut view.fs, dir).await;
                Ok((answer(&mut view.fs, listing)?,))
            })
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.rename-at",
        move |mut store: StoreContextMut<'_, T>,
              (dir, from, to_dir, to): (
            Resource<Descriptor>,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let mut view = get(store.data_mut());
                if view.crosses_a_quota(&dir, &to_dir) {
                    return Ok((Err(ErrorCode::CrossDevice),));
                }
                let moved = HostDescriptor::rename_at(&mut view.fs, dir, from, to_dir, to).await;
                Ok((answer(&mut view.fs, moved)?,))
            })
        },
    )?;
    fs.func_wrap_async(
        "[method]descriptor.link-at",
        move |mut store: StoreContextMut<'_, T>,
              (dir, flags, from, to_dir, to): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                let mut view = get(store.data_mut());
                if view.crosses_a_quota(&dir, &to_dir) {
                    return Ok((Err(ErrorCode::CrossDevice),));
                }
                let linked =
                    HostDescriptor::link_at(&mut view.fs, dir, flags, from, to_dir, to).await;
                Ok((answer(&mut view.fs, linked)?,))
            })
        },
    )?;
    let mut preopens = linker.instance(FILESYSTEM_PREOPENS)?;
    preopens.func_wrap(
        "get-directories",
        move |mut store: StoreContextMut<'_, T>, (): ()| {
            let mut view = get(store.data_mut());
            let dirs = preopens::Host::get_directories(&mut view.fs)?;
            for (dir, guest) in &dirs {
                if let Some(grant) = view.files.grant_paths.iter().position(|g| g == guest) {
                    view.files.grant_of.insert(dir.rep(), grant);
                }
            }
            Ok((dirs,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Bytes taken from a quota for one write, to give back should the write fail.
struct Taken(Option<(Arc<DiskQuota>, u64)>);

impl Taken {
    fn give_back(self) {
        if let Some((quota, bytes)) = self.0 {
            quota.give_back(bytes);
        }
    }
}

/// Where a counted stream writes.
#[derive(Clone, Copy)]
enum StreamAt {
    /// From this offset on, in a file of this size.
    Offset(u64, u64),
    /// At the end of the file, wherever that is.
    End,
}

/// A file's output stream whose writes are counted against a grant's quota.
struct CountedStream {
    file_stream: DynOutputStream,
    quota: Arc<DiskQuota>,
    /// Where the next write lands (`None`: appending), and the file's size as far as known.
    position: Option<u64>,
    size: u64,
}

impl CountedStream {
    fn growth(&self, len: u64) -> u64 {
        match self.position {
            Some(at) => at.saturating_add(len).saturating_sub(self.size),
            None => len,
        }
    }

    /// Takes what a write of `len` bytes grows the file by from the quota: the growth, or
    /// `insufficient-space`.
    fn admit(&self, len: u64) -> StreamResult<u64> {
        let growth = self.growth(len);
        if self.quota.take(growth) {
            Ok(growth)
        } else {
            Err(StreamError::LastOperationFailed(
                std::io::Error::from_raw_os_error(ENOSPC).into(),
            ))
        }
    }

    /// Accounts for a write of `len` bytes (`growth` taken by [`CountedStream::admit`]) that
    /// ended with `written`.
    fn settle(&mut self, len: u64, growth: u64, written: StreamResult<()>) -> StreamResult<()> {
        if let Err(e) = written {
            self.quota.give_back(growth);
            return Err(e);
        }
        if let Some(at) = &mut self.position {
            *at = at.saturating_add(len);
            self.size = self.size.max(*at);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Pollable for CountedStream {
    async fn ready(&mut self) {
        self.file_stream.ready().await;
    }
}

#[async_trait::async_trait]
impl OutputStream for CountedStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let len = bytes.len() as u64;
        let growth = self.admit(len)?;
        let written = self.file_stream.write(bytes);
        self.settle(len, growth, written)
    }

    /// The file stream's own blocking write (one write on the current thread when blocking is
    /// allowed, not a hand-off per 64 KiB), counted as a whole first.
    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        let len = bytes.len() as u64;
        let growth = self.admit(len)?;
        let written = self.file_stream.blocking_write_and_flush(bytes).await;
        self.settle(len, growth, written)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.file_stream.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.file_stream.check_write()
    }

    async fn cancel(&mut self) {
        self.file_stream.cancel().await;
    }
}

/// Linux's ENOSPC, which wasmtime-wasi reports to the guest as `insufficient-space`.
const ENOSPC: i32 = 28;

impl FilesCtxView<'_> {
    /// The quota of the grant `file` is under, if it has one.
    fn quota_of(&self, file: &Resource<Descriptor>) -> Option<Arc<DiskQuota>> {
        let grant = *self.files.grant_of.get(&file.rep())?;
        self.files.quotas.get(grant).cloned().flatten()
    }

    /// Takes the growth `grow(size now)` of `file` from its grant's quota: what was taken
    /// (nothing when there is no quota), or `None` when there is no room.
    fn take_growth(
        &mut self,
        file: &Resource<Descriptor>,
        grow: impl FnOnce(u64) -> u64,
    ) -> wasmtime::Result<Option<Taken>> {
        let Some(quota) = self.quota_of(file) else {
            return Ok(Some(Taken(None)));
        };
        let bytes = grow(self.file_size(file)?);
        Ok(quota.take(bytes).then_some(Taken(Some((quota, bytes)))))
    }

    /// Runs `write`, which grows `file` by `grow(its size now)`, with that growth taken from its
    /// grant's quota first (`insufficient-space` when there is no room) and given back if the
    /// write fails.
    async fn grow_within_quota<R>(
        &mut self,
        file: Resource<Descriptor>,
        grow: impl FnOnce(u64) -> u64,
        write: impl AsyncFnOnce(
            &mut WasiFilesystemCtxView<'_>,
            Resource<Descriptor>,
        ) -> Result<R, FsError>,
    ) -> wasmtime::Result<Result<R, ErrorCode>> {
        let Some(taken) = self.take_growth(&file, grow)? else {
            return Ok(Err(ErrorCode::InsufficientSpace));
        };
        let done = write(&mut self.fs, file).await;
        let done = answer(&mut self.fs, done)?;
        if done.is_err() {
            taken.give_back();
        }
        Ok(done)
    }

    /// The size of `file` now (0 for a directory, or when it cannot be told).
    fn file_size(&mut self, file: &Resource<Descriptor>) -> wasmtime::Result<u64> {
        Ok(match self.fs.table.get(file)? {
            Descriptor::File(f) => f.file.metadata().map(|m| m.len()).unwrap_or(0),
            Descriptor::Dir(_) => 0,
        })
    }

    /// `stream`, a new output stream of `file`'s, counted against `quota` when there is one.
    fn counted(
        &mut self,
        stream: Resource<DynOutputStream>,
        quota: Option<Arc<DiskQuota>>,
        at: StreamAt,
    ) -> Result<Resource<DynOutputStream>, ErrorCode> {
        let Some(quota) = quota else {
            return Ok(stream);
        };
        let table = &mut *self.fs.table;
        let file_stream = table.delete(stream).map_err(|_| ErrorCode::Io)?;
        let (position, size) = match at {
            StreamAt::Offset(offset, size) => (Some(offset), size),
            StreamAt::End => (None, 0),
        };
        let counted: DynOutputStream = Box::new(CountedStream {
            file_stream,
            quota,
            position,
            size,
        });
        table.push(counted).map_err(|_| ErrorCode::Io)
    }
}

/// A filesystem result as the guest receives it (a trap stays a trap).
fn answer<T>(
    view: &mut WasiFilesystemCtxView<'_>,
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

impl FilesCtxView<'_> {
    /// Directory listings the instance holds now (wasmtime-wasi reads a whole directory into
    /// host memory for each).
    fn listings(&mut self) -> usize {
        self.fs
            .table
            .iter_mut()
            .filter(|entry| entry.is::<ReaddirIterator>())
            .count()
    }

    /// True when `from` and `to` are under different grants and either has a quota: moving or
    /// linking a file between them would escape the count.
    fn crosses_a_quota(&self, from: &Resource<Descriptor>, to: &Resource<Descriptor>) -> bool {
        let (a, b) = (
            self.files.grant_of.get(&from.rep()),
            self.files.grant_of.get(&to.rep()),
        );
        let quota = |g: Option<&usize>| {
            g.is_some_and(|g| matches!(self.files.quotas.get(*g), Some(Some(_))))
        };
        a != b && (quota(a) || quota(b))
    }

    /// Descriptors and streams the instance holds now.
    fn open_files(&mut self) -> usize {
        self.fs
            .table
            .iter_mut()
            .filter(|entry| {
                entry.is::<Descriptor>()
                    || entry.is::<DynInputStream>()
                    || entry.is::<DynOutputStream>()
                    || entry.is::<ReaddirIterator>()
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
