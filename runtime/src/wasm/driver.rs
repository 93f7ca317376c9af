//! The adapter that makes a guest component a [`StorageDriver`]: every operation becomes one
//! call into an instance from the driver's pool, bytes cross as chunks of at most 1 MiB, readers
//! and writers stay on the instance that holds their resource, and the walk is fetched in pages.
//! Answers are checked before they are believed: a guest that returns a path outside what was
//! asked, an unordered walk or an oversized chunk has broken the contract (`DriverFault`), and
//! the instance that answered is discarded as if it had trapped. Readers are `driver/reader.rs`,
//! writers `driver/writer.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use wasmtime::component::ResourceAny;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::answer::{self, file_info};
use super::bindings::{Param, RedirectMethod as GuestMethod, ResumePoint, WitVersion};
use super::component::GuestComponent;
use super::policy::SandboxPolicy;
use super::pool::{GuestCall, InstancePool, PinnedResource, Placed, Target};
use super::streams;
use super::world::Content;
use crate::driver::{
    ByteStream, FileInfo, FileWriter, RedirectMethod, StorageDriver, Visitor, WalkControl,
    WalkOptions,
};
use crate::error::{Error, ErrorKind, Result};
use crate::params::{Params, Value};
use crate::path::{is_ancestor, is_valid, parent, walk_order};

/// Largest chunk moved across the boundary in one call.
pub const CHUNK: usize = 1 << 20;
/// Contents at least this large are put through a stream (`begin-put`) when the guest takes
/// one: below it, copying them through the guest's memory costs less than the extra calls.
const STREAM_PUT: usize = 1 << 20;
/// How often the host begins again a part or a streamed put that failed for a temporary reason
/// (it holds the bytes; the guest left its upload as it was), after the default back-off.
const PART_RETRIES: u32 = 4;
/// True for a failure after which the host begins a part, a put or a content again, or resumes
/// a reader: a temporary backend error (a broken connection, a "later" from the server). Not a
/// `Timeout`: that is the operator's deadline for the call, which another attempt would only
/// multiply.
fn worth_again(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Backend { temporary: true })
}

/// Entries asked for per walk page.
const WALK_PAGE: u32 = 512;

/// Builds a [`GuestCall`] on the driver resource: `guest!(|world, store, driver| expr)`.
macro_rules! guest {
    (|$world:ident, $store:ident, $driver:ident| $body:expr) => {
        Box::new(
            move |instance: &mut $crate::wasm::instance::GuestInstance| {
                Box::pin(async move {
                    let $driver = instance.driver;
                    let $store = &mut instance.store;
                    let $world = &instance.world;
                    $body.await
                })
            },
        )
    };
}

/// Builds a [`GuestCall`] on a reader's or writer's resource:
/// `on_resource!(resource, |world, store, r| expr)`.
macro_rules! on_resource {
    ($resource:expr, |$world:ident, $store:ident, $r:ident| $body:expr) => {{
        let $r = $resource;
        Box::new(
            move |instance: &mut $crate::wasm::instance::GuestInstance| {
                Box::pin(async move {
                    let $store = &mut instance.store;
                    let $world = &instance.world;
                    $body.await
                })
            },
        )
    }};
}

mod reader;
mod writer;

use reader::{chunked, streamed};
use writer::GuestWriter;
pub use writer::MAX_PART;

/// What `get-content` gave, with its stream taken out of the instance.
enum Got {
    Bytes(Vec<u8>),
    Stream(ResourceAny, DynInputStream, Option<u64>),
}

/// A guest component serving as a storage driver.
pub struct GuestDriver {
    name: String,
    pool: Arc<InstancePool>,
}

/// Parameters as the guest receives them: text values, nested values as JSON.
pub fn guest_params(params: &Params) -> Vec<Param> {
    params
        .iter()
        .map(|(k, v)| Param {
            key: k.to_owned(),
            value: value_text(v),
        })
        .collect()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        other => value_json(other).to_string(),
    }
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::String(s) => s.clone().into(),
        Value::List(items) => items.iter().map(value_json).collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

impl GuestDriver {
    /// Starts a driver of `component` as `name`, creating its first instance now so that bad
    /// parameters fail here.
    pub async fn start(
        name: &str,
        component: Arc<GuestComponent>,
        policy: SandboxPolicy,
        params: &Params,
    ) -> Result<Self> {
        // Quotas start from a scan of their directories: on the blocking pool.
        let dirs = policy.dirs.clone();
        let quotas = tokio::task::spawn_blocking(move || super::quota::for_grants(&dirs))
            .await
            .map_err(|e| Error::backend("measuring the quotas failed").with_source(e))??;
        let pool = InstancePool::new(name, component, policy, guest_params(params), quotas)?;
        let driver = Self {
            name: name.to_owned(),
            pool,
        };
        driver
            .run("create", Box::new(|_| Box::pin(async { Ok(Ok(())) })))
            .await?;
        Ok(driver)
    }

    /// The component this driver runs.
    pub fn component(&self) -> &Arc<GuestComponent> {
        &self.pool.component
    }

    /// Runs `call` on any instance of the pool.
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        call: GuestCall<T>,
    ) -> Result<Placed<T>> {
        self.pool.call(Target::Any, op, call).await
    }

    async fn any<T: Send + 'static>(&self, op: &'static str, call: GuestCall<T>) -> Result<T> {
        Ok(self.run(op, call).await?.value)
    }

    /// Writes `content` into the stream of a put the guest began, then finishes the put with
    /// the count written (short after a failure, so the guest changes nothing).
    async fn stream_put(
        &self,
        path: &str,
        put: PinnedResource,
        mut stream: DynOutputStream,
        content: Bytes,
    ) -> Result<()> {
        let (blocking, timeout) = (self.pool.blocking(), self.pool.policy.call_timeout);
        let what = format!("put_content {path}");
        let length = content.len() as u64;
        let written = streams::write_all(&mut stream, content, blocking, timeout, &what).await;
        drop(stream);
        let count = if written.is_ok() { length } else { 0 };
        let finished = put
            .call(
                "put_content",
                on_resource!(put.resource, |w, s, r| w.finish_put(s, r, count)),
            )
            .await;
        written?;
        finished?;
        self.mutated();
        Ok(())
    }

    /// One attempt of `get_content`: the inner error is the content's stream breaking off.
    async fn get_content_once(&self, path: &str) -> Result<Result<Bytes>> {
        let p = path.to_owned();
        let placed = self
            .run(
                "get_content",
                guest!(|d, s, r| async move {
                    Ok(match d.get_content(s, r, &p).await? {
                        Ok(Content::Bytes(bytes)) => Ok(Got::Bytes(bytes)),
                        Ok(Content::Stream { keep, stream, size }) => Ok(Got::Stream(
                            keep,
                            streams::take_input(s.data_mut().table_mut(), stream)?,
                            size,
                        )),
                        Err(e) => Err(e),
                    })
                }),
            )
            .await?;
        let (keep, mut stream, size) = match placed.value {
            Got::Bytes(bytes) => return Ok(Ok(Bytes::from(bytes))),
            Got::Stream(keep, stream, size) => (keep, stream, size),
        };
        // The stream is read whole, as the caller asked; the sandbox's answer bound keeps a
        // stream that never ends from taking the host's memory.
        let keep = PinnedResource::new(
            self.pool.clone(),
            Placed {
                value: keep,
                instance: placed.instance,
            },
        );
        let limit = self.pool.policy.answers.bytes;
        let (blocking, timeout) = (self.pool.blocking(), self.pool.policy.call_timeout);
        let what = format!("get_content {path}");
        // Sized by the guest's word, never beyond the bound; read to the end whatever it said.
        let hint = size.unwrap_or(0).min(limit);
        let mut content = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
        let read = async {
            loop {
                let read = match streams::read(&mut stream, CHUNK, blocking, timeout, &what).await {
                    Ok(read) => read,
                    Err(e) => return Ok(Err(e)),
                };
                for chunk in read.chunks {
                    if (content.len() + chunk.len()) as u64 > limit {
                        return Err(Error::backend(format!(
                            "{what}: the content is larger than the {limit} bytes the sandbox \
                             takes from a guest at once (answers.bytes); read it with a reader"
                        )));
                    }
                    content.extend_from_slice(&chunk);
                }
                if let Some(e) = read.failed {
                    return Ok(Err(e));
                }
                if read.ended {
                    return Ok(Ok(()));
                }
            }
        }
        .await;
        // Whatever the outcome, the stream goes before what it depends on.
        drop(stream);
        drop(keep);
        Ok(read?.map(|()| Bytes::from(content)))
    }

    /// One attempt of a put through a stream (`begin-put`, the host writes, `finish`); `None`
    /// when the guest takes this content through `put-content` instead.
    async fn put_streamed(&self, path: &str, content: Bytes) -> Result<Option<()>> {
        let (p, length) = (path.to_owned(), content.len() as u64);
        let placed = self
            .run(
                "put_content",
                guest!(|d, s, r| async move {
                    Ok(match d.begin_put(s, r, &p, length).await? {
                        Ok(Some((put, stream))) => Ok(Some((
                            put,
                            streams::take_output(s.data_mut().table_mut(), stream)?,
                        ))),
                        Ok(None) => Ok(None),
                        Err(e) => Err(e),
                    })
                }),
            )
            .await?;
        let Some((put, stream)) = placed.value else {
            return Ok(None);
        };
        let put = PinnedResource::new(
            self.pool.clone(),
            Placed {
                value: put,
                instance: placed.instance,
            },
        );
        self.stream_put(path, put, stream, content).await.map(Some)
    }

    fn mutated(&self) {
        self.pool
            .component
            .mutations
            .fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl StorageDriver for GuestDriver {
    fn name(&self) -> &str {
        &self.name
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        // A content stream that broke off is asked for again from its start, whole (never
        // spliced from two answers), after a back-off: the guest's own retries end where the
        // host starts reading.
        let mut retry = 0;
        loop {
            match self.get_content_once(path).await? {
                Ok(content) => return Ok(content),
                Err(e) if worth_again(&e) && retry < PART_RETRIES => {
                    retry += 1;
                    tracing::debug!(path, retry, "a content stream broke off ({e}); again");
                    tokio::time::sleep(crate::backoff::Backoff::default().delay(retry)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        if content.len() >= STREAM_PUT && self.pool.component.version == WitVersion::V2 {
            // A put that failed for a temporary reason changed nothing (its count was short, or
            // the guest's `finish` failed), and the host still holds the content: begun again
            // after a back-off.
            let mut retry = 0;
            loop {
                match self.put_streamed(path, content.clone()).await {
                    Ok(Some(())) => return Ok(()),
                    Ok(None) => break,
                    Err(e) if worth_again(&e) && retry < PART_RETRIES => {
                        retry += 1;
                        tracing::debug!(path, retry, "a streamed put failed ({e}); again");
                        tokio::time::sleep(crate::backoff::Backoff::default().delay(retry)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let p = path.to_owned();
        self.any(
            "put_content",
            guest!(|d, s, r| d.put_content(s, r, &p, &content)),
        )
        .await?;
        self.mutated();
        Ok(())
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteStream> {
        let p = path.to_owned();
        let placed = self
            .run(
                "reader",
                guest!(|d, s, r| async move {
                    let opened = match d.open_reader(s, r, &p, offset).await? {
                        Ok(opened) => opened,
                        Err(e) => return Ok(Err(e)),
                    };
                    // A stream leaves the instance's table for the host's reader: the host
                    // reads it without entering the guest again.
                    let stream = match opened.stream {
                        Some(stream) => {
                            Some(streams::take_input(s.data_mut().table_mut(), stream)?)
                        }
                        None => None,
                    };
                    Ok(Ok((opened.reader, stream)))
                }),
            )
            .await?;
        let (reader, stream) = placed.value;
        let reader = PinnedResource::new(
            self.pool.clone(),
            Placed {
                value: reader,
                instance: placed.instance,
            },
        );
        Ok(match stream {
            Some(stream) => streamed(reader, stream, path, offset),
            None => chunked(reader),
        })
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        let p = path.to_owned();
        let placed = self
            .run("writer", guest!(|d, s, r| d.open_writer(s, r, &p, append)))
            .await?;
        let writer = GuestWriter::new(self.pool.clone(), path, placed).await?;
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        let p = path.to_owned();
        let placed = self.run("stat", guest!(|d, s, r| d.stat(s, r, &p))).await?;
        let checked = file_info(placed.value).and_then(|info| {
            if info.path == path {
                Ok(info)
            } else {
                Err(format!("asked for {path}, answered for {}", info.path))
            }
        });
        match checked {
            Ok(info) => Ok(info),
            Err(what) => Err(self
                .pool
                .fault_broken_contract(&placed.instance, "stat", what)
                .await),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        let p = path.to_owned();
        let placed = self.run("list", guest!(|d, s, r| d.list(s, r, &p))).await?;
        let mut children = placed.value;
        let limits = &self.pool.policy.answers;
        let bytes: usize = children.iter().map(String::len).sum();
        if children.len() > limits.list_entries || bytes as u64 > limits.list_bytes {
            let what = format!(
                "a list of {} entries, {bytes} bytes (the sandbox allows {} entries, {} bytes)",
                children.len(),
                limits.list_entries,
                limits.list_bytes
            );
            return Err(self
                .pool
                .fault_broken_contract(&placed.instance, "list", what)
                .await);
        }
        if let Some(bad) = children.iter().find(|c| !is_valid(c) || parent(c) != path) {
            let what = format!(
                "{:?} is not a child of {path}",
                answer::clean_text_within(bad, 120)
            );
            return Err(self
                .pool
                .fault_broken_contract(&placed.instance, "list", what)
                .await);
        }
        // Sorting costs nothing on a sorted answer and holds every guest to byte order.
        children.sort_unstable();
        children.dedup();
        Ok(children)
    }

    async fn rename(&self, source: &str, dest: &str) -> Result<()> {
        let (src, dst) = (source.to_owned(), dest.to_owned());
        self.any("move", guest!(|d, s, r| d.rename(s, r, &src, &dst)))
            .await?;
        self.mutated();
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let p = path.to_owned();
        self.any("delete", guest!(|d, s, r| d.delete(s, r, &p)))
            .await?;
        self.mutated();
        Ok(())
    }

    async fn redirect_url(
        &self,
        method: RedirectMethod,
        path: &str,
        expiry: Duration,
    ) -> Result<Option<String>> {
        let p = path.to_owned();
        let m = match method {
            RedirectMethod::Get => GuestMethod::Get,
            RedirectMethod::Head => GuestMethod::Head,
        };
        let secs = expiry.as_secs();
        let placed = self
            .run(
                "redirect_url",
                guest!(|d, s, r| d.redirect_url(s, r, m, &p, secs)),
            )
            .await?;
        match placed
            .value
            .as_deref()
            .map(answer::redirect_url)
            .transpose()
        {
            Ok(url) => Ok(url),
            Err(what) => Err(self
                .pool
                .fault_broken_contract(&placed.instance, "redirect_url", what)
                .await),
        }
    }

    async fn walk(
        &self,
        path: &str,
        options: &WalkOptions,
        visitor: &mut Visitor<'_>,
    ) -> Result<()> {
        let mutations = &self.pool.component.mutations;
        let mut resume = options.start_after.clone().map(ResumePoint::After);
        let mut last: Option<String> = None;
        let limits = &self.pool.policy.answers;
        // Entries and path bytes taken from the guest over the whole walk: a guest can answer
        // well-ordered pages forever.
        let (mut entries, mut bytes) = (0u64, 0u64);
        loop {
            let seen = mutations.load(Ordering::Relaxed);
            let (p, from) = (path.to_owned(), resume.clone());
            let placed = self
                .run(
                    "walk",
                    guest!(|d, s, r| d.walk(s, r, &p, from.as_ref(), WALK_PAGE)),
                )
                .await?;
            let (page, instance) = (placed.value, placed.instance);
            let broken = async |what: String| {
                self.pool
                    .fault_broken_contract(&instance, "walk", what)
                    .await
            };
            if page.entries.len() > WALK_PAGE as usize {
                return Err(broken(format!("a page of {} entries", page.entries.len())).await);
            }
            // Checked on every page, not only the first: resuming at the same point again
            // and again would never end.
            if page.entries.is_empty() && !page.done {
                return Err(broken("an empty page that does not end the walk".into()).await);
            }
            let mut refetch = false;
            for (i, entry) in page.entries.into_iter().enumerate() {
                // After a visitor call changed the storage, what is left of this page may be
                // stale: fetch it again. The first entry of a page is always taken, so writes
                // elsewhere can never keep a walk from progressing.
                if i > 0 && mutations.load(Ordering::Relaxed) != seen {
                    refetch = true;
                    break;
                }
                let info = match file_info(entry) {
                    Ok(info) => info,
                    Err(what) => return Err(broken(what).await),
                };
                if !(path == "/" || is_ancestor(path, &info.path)) || info.path == path {
                    return Err(broken(format!("{} is not under {path}", info.path)).await);
                }
                if let Some(prev) = &last
                    && walk_order(prev, &info.path).is_ge()
                {
                    return Err(broken(format!("{} came after {prev}", info.path)).await);
                }
                // Counted as visited, not as fetched: a page fetched again after a change is
                // not a longer walk.
                entries += 1;
                bytes += info.path.len() as u64;
                if entries > limits.walk_entries || bytes > limits.walk_bytes {
                    let what = format!(
                        "a walk of more than {} entries or {} bytes of paths (the sandbox's bounds)",
                        limits.walk_entries, limits.walk_bytes
                    );
                    return Err(broken(what).await);
                }
                last = Some(info.path.clone());
                match visitor(&info)? {
                    WalkControl::Continue => resume = Some(ResumePoint::After(info.path)),
                    WalkControl::SkipDir if info.is_dir => {
                        resume = Some(ResumePoint::AfterSubtree(info.path));
                        refetch = true;
                        break;
                    }
                    WalkControl::SkipDir => resume = Some(ResumePoint::After(info.path)),
                    WalkControl::Stop => return Ok(()),
                }
            }
            if page.done && !refetch {
                return Ok(());
            }
        }
    }
}
