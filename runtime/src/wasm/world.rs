//! A component's exports, whatever the version of the world it implements: [`WorldPre`] and
//! [`World`] give the rest of the host one method per export, with answers in the types both
//! versions share (see `bindings.rs`).

use wasmtime::Store;
use wasmtime::component::{Resource, ResourceAny};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::bindings::{
    Capability, GuestError, GuestFileInfo, Info, Param, PartKind, RedirectMethod, ResumePoint,
    WalkPage, WitVersion, v1, v2,
};
use super::state::InstanceState;

/// A component linked against one version of the world.
pub(crate) enum WorldPre {
    V1(v1::StorageDriverPre<InstanceState>),
    /// Instantiated by hand so that the instance is kept: the optional `resume` export is
    /// looked up on it when a reader's stream breaks (rare), not at every instantiation.
    V2(
        wasmtime::component::InstancePre<InstanceState>,
        v2::StorageDriverIndices,
    ),
}

impl WorldPre {
    pub fn new(
        version: WitVersion,
        pre: wasmtime::component::InstancePre<InstanceState>,
    ) -> wasmtime::Result<Self> {
        Ok(match version {
            WitVersion::V1 => WorldPre::V1(v1::StorageDriverPre::new(pre)?),
            WitVersion::V2 => {
                let indices = v2::StorageDriverIndices::new(&pre)?;
                WorldPre::V2(pre, indices)
            }
        })
    }

    pub async fn instantiate(&self, store: &mut Store<InstanceState>) -> wasmtime::Result<World> {
        Ok(match self {
            WorldPre::V1(pre) => World::V1(pre.instantiate_async(store).await?),
            WorldPre::V2(pre, indices) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                World::V2(indices.load(&mut *store, &instance)?, instance)
            }
        })
    }
}

/// A live instance's exports, whatever their version.
pub(crate) enum World {
    V1(v1::StorageDriver),
    V2(v2::StorageDriver, wasmtime::component::Instance),
}

/// The optional export of 0.2.0 guests whose readers can be resumed (`wit/storage.wit`).
const RESUME: &str = "wharf:storage/resume@0.2.0";

/// A call's outcome: a trap (`Err`), or the guest's answer.
type Answer<T> = wasmtime::Result<Result<T, GuestError>>;

/// What `get-content` gave: the bytes, or a stream of them with the reader that keeps it alive.
pub(crate) enum Content {
    Bytes(Vec<u8>),
    Stream {
        keep: ResourceAny,
        stream: Resource<DynInputStream>,
        size: Option<u64>,
    },
}

/// What `open-reader` gave: the reader, and the stream the host reads itself, if any.
pub(crate) struct OpenedReader {
    pub reader: ResourceAny,
    pub stream: Option<Resource<DynInputStream>>,
}

/// What `open-writer` gave: the writer, its size when the answer carried it, its part size
/// (0: bytes go through `write`) and the length of its first part (0: the part size).
pub(crate) struct OpenedWriter {
    pub writer: ResourceAny,
    pub size: Option<u64>,
    pub part_size: u64,
    pub first_part: u64,
}

/// Runs the same expression on the exports of either version (the shared types make both arms
/// one type).
macro_rules! either {
    ($world:expr, |$d:ident| $body:expr) => {
        match $world {
            World::V1(w) => {
                let $d = w.wharf_storage_driver();
                $body
            }
            World::V2(w, _) => {
                let $d = w.wharf_storage_driver();
                $body
            }
        }
    };
}

impl World {
    pub async fn describe(&self, store: &mut Store<InstanceState>) -> wasmtime::Result<Info> {
        match self {
            World::V1(w) => w.wharf_storage_manifest().call_describe(store).await,
            World::V2(w, _) => {
                use v2::exports::wharf::storage::manifest::Capability as C2;
                let info = w.wharf_storage_manifest().call_describe(store).await?;
                Ok(Info {
                    name: info.name,
                    wit_version: info.wit_version,
                    stateful: info.stateful,
                    requested: info
                        .requested
                        .into_iter()
                        .map(|c| match c {
                            C2::Directory(p) => Capability::Directory(p),
                            C2::Http(h) => Capability::Http(h),
                            C2::Environment(v) => Capability::Environment(v),
                        })
                        .collect(),
                })
            }
        }
    }

    pub async fn create(
        &self,
        store: &mut Store<InstanceState>,
        params: &[Param],
    ) -> Answer<ResourceAny> {
        either!(self, |d| d.driver().call_create(store, params).await)
    }

    pub async fn get_content(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
    ) -> Answer<Content> {
        use v2::exports::wharf::storage::driver::Content as C2;
        Ok(match self {
            World::V1(w) => w
                .wharf_storage_driver()
                .driver()
                .call_get_content(s, r, path)
                .await?
                .map(Content::Bytes),
            World::V2(w, _) => w
                .wharf_storage_driver()
                .driver()
                .call_get_content(s, r, path)
                .await?
                .map(|c| match c {
                    C2::Bytes(bytes) => Content::Bytes(bytes),
                    C2::Stream(c) => Content::Stream {
                        keep: c.keep,
                        stream: c.stream,
                        size: c.size,
                    },
                }),
        })
    }

    /// `begin-put` (0.2.0; none from a 0.1.0 guest, which takes contents through `put-content`).
    pub async fn begin_put(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
        length: u64,
    ) -> Answer<Option<(ResourceAny, Resource<DynOutputStream>)>> {
        match self {
            World::V1(_) => Ok(Ok(None)),
            World::V2(w, _) => Ok(w
                .wharf_storage_driver()
                .driver()
                .call_begin_put(s, r, path, length)
                .await?
                .map(|o| o.map(|o| (o.put, o.stream)))),
        }
    }

    /// `put.finish` (0.2.0).
    pub async fn finish_put(
        &self,
        s: &mut Store<InstanceState>,
        put: ResourceAny,
        written: u64,
    ) -> Answer<()> {
        match self {
            World::V1(_) => Err(wasmtime::Error::msg("finish on a 0.1.0 guest")),
            World::V2(w, _) => {
                w.wharf_storage_driver()
                    .put()
                    .call_finish(s, put, written)
                    .await
            }
        }
    }

    pub async fn put_content(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
        content: &[u8],
    ) -> Answer<()> {
        either!(self, |d| d
            .driver()
            .call_put_content(s, r, path, content)
            .await)
    }

    pub async fn open_reader(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
        offset: u64,
    ) -> Answer<OpenedReader> {
        Ok(match self {
            World::V1(w) => w
                .wharf_storage_driver()
                .driver()
                .call_open_reader(s, r, path, offset)
                .await?
                .map(|reader| OpenedReader {
                    reader,
                    stream: None,
                }),
            World::V2(w, _) => w
                .wharf_storage_driver()
                .driver()
                .call_open_reader(s, r, path, offset)
                .await?
                .map(|o| OpenedReader {
                    reader: o.reader,
                    stream: o.stream,
                }),
        })
    }

    pub async fn open_writer(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
        append: bool,
    ) -> Answer<OpenedWriter> {
        Ok(match self {
            World::V1(w) => w
                .wharf_storage_driver()
                .driver()
                .call_open_writer(s, r, path, append)
                .await?
                .map(|writer| OpenedWriter {
                    writer,
                    size: None,
                    part_size: 0,
                    first_part: 0,
                }),
            World::V2(w, _) => w
                .wharf_storage_driver()
                .driver()
                .call_open_writer(s, r, path, append)
                .await?
                .map(|o| OpenedWriter {
                    writer: o.writer,
                    size: Some(o.size),
                    part_size: o.part_size,
                    first_part: o.first_part,
                }),
        })
    }

    pub async fn stat(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
    ) -> Answer<GuestFileInfo> {
        either!(self, |d| d.driver().call_stat(s, r, path).await)
    }

    pub async fn list(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
    ) -> Answer<Vec<String>> {
        either!(self, |d| d.driver().call_list(s, r, path).await)
    }

    pub async fn rename(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        from: &str,
        to: &str,
    ) -> Answer<()> {
        either!(self, |d| d.driver().call_move(s, r, from, to).await)
    }

    pub async fn delete(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
    ) -> Answer<()> {
        either!(self, |d| d.driver().call_delete(s, r, path).await)
    }

    pub async fn redirect_url(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        method: RedirectMethod,
        path: &str,
        expiry: u64,
    ) -> Answer<Option<String>> {
        either!(self, |d| d
            .driver()
            .call_redirect_url(s, r, method, path, expiry)
            .await)
    }

    pub async fn walk(
        &self,
        s: &mut Store<InstanceState>,
        r: ResourceAny,
        path: &str,
        resume: Option<&ResumePoint>,
        limit: u32,
    ) -> Answer<WalkPage> {
        match self {
            World::V1(w) => {
                w.wharf_storage_driver()
                    .driver()
                    .call_walk(s, r, path, resume, limit)
                    .await
            }
            World::V2(w, _) => {
                use v2::exports::wharf::storage::driver::ResumePoint as R2;
                let resume = resume.map(|p| match p {
                    ResumePoint::After(p) => R2::After(p.clone()),
                    ResumePoint::AfterSubtree(p) => R2::AfterSubtree(p.clone()),
                });
                let page = w
                    .wharf_storage_driver()
                    .driver()
                    .call_walk(s, r, path, resume.as_ref(), limit)
                    .await?;
                Ok(page.map(|p| WalkPage {
                    entries: p.entries,
                    done: p.done,
                }))
            }
        }
    }

    /// `resume.reopen` (0.2.0, optional): `None` when the guest does not export it (a 0.1.0
    /// guest, or one built against `storage-driver` alone). An export of that name with
    /// another type is a trap: the guest broke the contract.
    pub async fn reopen(
        &self,
        s: &mut Store<InstanceState>,
        reader: ResourceAny,
        offset: u64,
    ) -> wasmtime::Result<Option<Result<Option<Resource<DynInputStream>>, GuestError>>> {
        let World::V2(_, instance) = self else {
            return Ok(None);
        };
        let Some(resume) = instance.get_export_index(&mut *s, None, RESUME) else {
            return Ok(None);
        };
        let Some(func) = instance.get_export_index(&mut *s, Some(&resume), "reopen") else {
            return Ok(None);
        };
        let reopen = instance.get_typed_func::<
            (ResourceAny, u64),
            (Result<Option<Resource<DynInputStream>>, GuestError>,),
        >(&mut *s, &func)?;
        let (answer,) = reopen.call_async(&mut *s, (reader, offset)).await?;
        Ok(Some(answer))
    }

    pub async fn read(
        &self,
        s: &mut Store<InstanceState>,
        reader: ResourceAny,
        max: u32,
    ) -> Answer<Vec<u8>> {
        either!(self, |d| d.reader().call_read(s, reader, max).await)
    }

    pub async fn write(
        &self,
        s: &mut Store<InstanceState>,
        writer: ResourceAny,
        data: &[u8],
    ) -> Answer<()> {
        either!(self, |d| d.writer().call_write(s, writer, data).await)
    }

    pub async fn size(
        &self,
        s: &mut Store<InstanceState>,
        writer: ResourceAny,
    ) -> wasmtime::Result<u64> {
        either!(self, |d| d.writer().call_size(s, writer).await)
    }

    pub async fn close(&self, s: &mut Store<InstanceState>, writer: ResourceAny) -> Answer<()> {
        either!(self, |d| d.writer().call_close(s, writer).await)
    }

    pub async fn commit(&self, s: &mut Store<InstanceState>, writer: ResourceAny) -> Answer<()> {
        either!(self, |d| d.writer().call_commit(s, writer).await)
    }

    pub async fn cancel(&self, s: &mut Store<InstanceState>, writer: ResourceAny) -> Answer<()> {
        either!(self, |d| d.writer().call_cancel(s, writer).await)
    }

    /// `begin-part` (0.2.0 only; the host asks for parts only from writers that said a part
    /// size, which 0.1.0 writers cannot).
    pub async fn begin_part(
        &self,
        s: &mut Store<InstanceState>,
        writer: ResourceAny,
        length: u64,
        kind: PartKind,
    ) -> Answer<Resource<DynOutputStream>> {
        match self {
            World::V1(_) => Err(wasmtime::Error::msg("begin-part on a 0.1.0 writer")),
            World::V2(w, _) => {
                w.wharf_storage_driver()
                    .writer()
                    .call_begin_part(s, writer, length, kind)
                    .await
            }
        }
    }

    /// `end-part` (0.2.0 only).
    pub async fn end_part(
        &self,
        s: &mut Store<InstanceState>,
        writer: ResourceAny,
        written: u64,
    ) -> Answer<()> {
        match self {
            World::V1(_) => Err(wasmtime::Error::msg("end-part on a 0.1.0 writer")),
            World::V2(w, _) => {
                w.wharf_storage_driver()
                    .writer()
                    .call_end_part(s, writer, written)
                    .await
            }
        }
    }
}
