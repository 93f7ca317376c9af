//! Target `guest_boundary`: the host's handling of whatever a guest answers. The chaos guest
//! (`guest-drivers/chaos`) takes the fuzz input as its tape and draws every answer from it; the
//! target creates a driver of it through the factory, under a policy read from the input's first
//! byte (the second steers the script; the rest is the guest's tape), and runs one fixed script
//! of every operation through the host. Every result must be a
//! value the contract allows (a `stat` of the path asked, children of the directory listed, in
//! order; a walk under its root, in walk order; chunks no longer than asked; a writer's size that
//! never goes back; a checked redirect URL) or an error of a kind that operation can give, with
//! clean text; a lying guest is a `DriverFault`. What the host allocates stays within its bounds
//! whatever sizes the guest declares (measured by [`crate::alloc`], when installed).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use wharf_runtime::params::Params;
use wharf_runtime::path::{is_ancestor, is_valid, parent, walk_order};
use wharf_runtime::wasm::driver::CHUNK;
use wharf_runtime::wasm::{GuestComponent, GuestRuntime, SandboxPolicy, register_guest};
use wharf_runtime::{
    DriverRegistry, Error, ErrorKind, FileWriter, RedirectMethod, StorageDriver, WalkControl,
    WalkOptions,
};

use crate::alloc::{Usage, measure};

/// The largest content the script puts: over the size the host streams through `begin-put`.
const BIG_PUT: usize = (1 << 20) + 1;
/// Chunks the script reads from one reader at most (a guest's reader may never end).
const MAX_CHUNKS: usize = 8;
/// Entries the script visits in one walk at most (a guest's walk may go on to the host's bound).
const MAX_VISITS: usize = 5000;

/// The process's runtime and the chaos component, made once.
struct Harness {
    tokio: tokio::runtime::Runtime,
    component: Arc<GuestComponent>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let component = tokio
            .block_on(async {
                GuestRuntime::global()?
                    .load_bytes(wharf_guest_artifacts::CHAOS.to_vec(), "chaos")
                    .await
            })
            .expect("load the chaos component");
        Harness { tokio, component }
    })
}

/// The policy the input's first byte picks (its bits 0 to 6), read as a `wharf.toml` sandbox
/// table would be.
pub fn policy(byte: u8) -> SandboxPolicy {
    let bit = |n: u8| byte & (1 << n) != 0;
    let table = Params::from_pairs([
        // A deadline far beyond any clock: a call must still get one.
        (
            "timeout",
            if bit(0) {
                "18446744073709551615"
            } else {
                "30s"
            },
        ),
        ("answer_bytes", if bit(1) { "64KiB" } else { "4MiB" }),
        ("list_entries", if bit(2) { "100" } else { "1000000" }),
        ("walk_entries", if bit(3) { "1000" } else { "50000000" }),
        ("restart_budget", if bit(4) { "0" } else { "1000000" }),
        (
            "restart_window",
            if bit(5) {
                "18446744073709551615"
            } else {
                "60s"
            },
        ),
        ("memory", if bit(6) { "16MiB" } else { "64MiB" }),
    ]);
    SandboxPolicy::from_params(table).expect("the fuzz policies are valid")
}

/// The operations of the script, for the errors each may give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Get,
    Put,
    Reader,
    Read,
    Writer,
    Write,
    Finish,
    Stat,
    List,
    Move,
    Delete,
    Redirect,
    Walk,
}

/// An error the operation may give: any kind a guest's error maps to, a fault or a deadline;
/// parameters only at creation, writer states only from writers; never the registry's. Its
/// text (guest text included) is cleaned: no control characters, bounded.
fn sensible(op: Op, e: &Error) {
    match e.kind() {
        ErrorKind::Registry => panic!("{op:?}: a registry error: {e}"),
        ErrorKind::InvalidParameter { .. } if op != Op::Create => {
            panic!("{op:?}: a parameter error: {e}")
        }
        ErrorKind::WriterState if !matches!(op, Op::Write | Op::Finish) => {
            panic!("{op:?}: a writer state error: {e}")
        }
        _ => {}
    }
    let text = e.to_string();
    assert!(
        !text.chars().any(char::is_control),
        "{op:?}: control characters in {text:?}"
    );
    assert!(
        text.len() <= 16 << 10,
        "{op:?}: {} bytes of error text",
        text.len()
    );
}

/// The bounds the host keeps under `policy`.
struct Bounds {
    answer_bytes: u64,
    list_entries: usize,
}

/// Runs the script on `input` and checks every result, and what the host allocated.
pub fn check(input: &[u8]) {
    let h = harness();
    let policy = policy(input.first().copied().unwrap_or(0));
    let answer_bytes = policy.answers.bytes;
    let ((), usage) = measure(|| h.tokio.block_on(script(h, policy, input)));
    if let Some(Usage {
        peak_growth,
        largest,
    }) = usage
    {
        // The host holds at most a few answers at once, each within `answer_bytes`, and the
        // script's own contents (one of a little over 1 MiB).
        let bound = 8 * answer_bytes as usize + 4 * BIG_PUT + (8 << 20);
        assert!(
            peak_growth <= bound,
            "the host's allocations grew by {peak_growth} bytes (bound {bound})"
        );
        let single = 2 * answer_bytes as usize + 2 * CHUNK;
        assert!(
            largest <= single,
            "one allocation of {largest} bytes (bound {single})"
        );
    }
}

/// A driver of the chaos guest under `policy`, created through the factory, reading `tape`.
async fn driver(
    h: &Harness,
    policy: SandboxPolicy,
    tape: &[u8],
) -> wharf_runtime::Result<Arc<dyn StorageDriver>> {
    let mut registry = DriverRegistry::new();
    register_guest(&mut registry, "chaos", h.component.clone(), policy)
        .expect("register the chaos guest");
    registry
        .create("chaos", Params::from_pairs([("input", hex::encode(tape))]))
        .await
}

/// Runs `work` on a driver of the chaos guest reading `tape`, under the policy of
/// [`policy`]`(policy_byte)`: for tests of one answer, with a tape written by hand.
pub fn with_driver<T>(
    policy_byte: u8,
    tape: &[u8],
    work: impl AsyncFnOnce(&dyn StorageDriver) -> T,
) -> wharf_runtime::Result<T> {
    let h = harness();
    h.tokio.block_on(async {
        let d = driver(h, policy(policy_byte), tape).await?;
        Ok(work(&*d).await)
    })
}

async fn script(h: &Harness, policy: SandboxPolicy, input: &[u8]) {
    // The policy byte's last bit: move contents over 1 MiB (a put through `begin-put`, writes
    // split into chunks), or only small ones.
    let large = input.first().is_some_and(|b| b & 0x80 != 0);
    let choices = input.get(1).copied().unwrap_or(0);
    let bounds = Bounds {
        answer_bytes: policy.answers.bytes,
        list_entries: policy.answers.list_entries,
    };
    let driver = match driver(h, policy, input.get(2..).unwrap_or_default()).await {
        Ok(d) => d,
        Err(e) => return sensible(Op::Create, &e),
    };
    let d = &*driver;

    if let Err(e) = d.put_content("/a/b", Bytes::from_static(b"small")).await {
        sensible(Op::Put, &e);
    }
    if large && let Err(e) = d.put_content("/big", Bytes::from(vec![7u8; BIG_PUT])).await {
        sensible(Op::Put, &e);
    }
    match d.get_content("/a/b").await {
        Ok(bytes) => assert!(
            bytes.len() as u64 <= bounds.answer_bytes,
            "{} bytes",
            bytes.len()
        ),
        Err(e) => sensible(Op::Get, &e),
    }
    for path in ["/a/b", "/"] {
        match d.stat(path).await {
            Ok(info) => {
                assert_eq!(info.path, path, "stat answered for another path");
                assert!(
                    !info.is_dir || info.size == 0,
                    "a directory with a size: {info:?}"
                );
            }
            Err(e) => sensible(Op::Stat, &e),
        }
    }
    for dir in ["/a", "/"] {
        match d.list(dir).await {
            Ok(children) => {
                assert!(children.len() <= bounds.list_entries);
                for c in &children {
                    assert!(is_valid(c) && parent(c) == dir, "{c:?} listed in {dir}");
                }
                assert!(
                    children.windows(2).all(|w| w[0] < w[1]),
                    "unsorted: {children:?}"
                );
            }
            Err(e) => sensible(Op::List, &e),
        }
    }
    read(d, u64::from(choices & 3)).await;
    write(d, false, choices >> 2, large).await;
    write(d, true, choices >> 4, large).await;
    if let Err(e) = d.rename("/a/b", "/c").await {
        sensible(Op::Move, &e);
    }
    match d
        .redirect_url(RedirectMethod::Get, "/c", Duration::from_secs(60))
        .await
    {
        Ok(Some(url)) => {
            assert!(url.len() <= 8 << 10);
            assert!(url.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{url:?}");
            assert!(
                url.starts_with("http://") || url.starts_with("https://"),
                "{url}"
            );
        }
        Ok(None) => {}
        Err(e) => sensible(Op::Redirect, &e),
    }
    walk(d, "/", choices).await;
    walk(d, "/a", choices.rotate_left(3)).await;
    if let Err(e) = d.delete("/a").await {
        sensible(Op::Delete, &e);
    }
    drop(driver);
}

/// Opens a reader at `offset` and reads at most [`MAX_CHUNKS`] chunks.
async fn read(d: &dyn StorageDriver, offset: u64) {
    let mut stream = match d.reader("/a/b", offset).await {
        Ok(s) => s,
        Err(e) => return sensible(Op::Reader, &e),
    };
    for _ in 0..MAX_CHUNKS {
        match stream.next().await {
            None => break,
            Some(Ok(chunk)) => assert!(chunk.len() <= CHUNK, "a chunk of {}", chunk.len()),
            Some(Err(e)) => {
                sensible(Op::Read, &e);
                break;
            }
        }
    }
}

/// Opens a writer, writes a little and (with `large`) a lot, then commits, closes, cancels or
/// drops it (as `how` says); its size must never go back.
async fn write(d: &dyn StorageDriver, append: bool, how: u8, large: bool) {
    let mut w = match d.writer("/w", append).await {
        Ok(w) => w,
        Err(e) => return sensible(Op::Writer, &e),
    };
    let mut size = w.size();
    let mut step = |w: &dyn FileWriter| {
        let now = w.size();
        assert!(
            now >= size,
            "the writer's size went back from {size} to {now}"
        );
        size = now;
    };
    let lot = if large { 2 * CHUNK + 3 } else { 300 };
    for data in [Bytes::from_static(b"first"), Bytes::from(vec![1u8; lot])] {
        if let Err(e) = w.write(data).await {
            sensible(Op::Write, &e);
        }
        step(&*w);
    }
    let finished = match how & 3 {
        0 => w.commit().await,
        1 => w.close().await,
        2 => w.cancel().await,
        _ => Ok(()),
    };
    if let Err(e) = finished {
        sensible(Op::Finish, &e);
    }
    if how & 3 != 2 {
        step(&*w);
    }
}

/// Walks `root`, the visitor answering as `how` says; every entry is under the root, in walk
/// order, and a directory has no size.
async fn walk(d: &dyn StorageDriver, root: &str, how: u8) {
    let mut last: Option<String> = None;
    let mut visits = 0usize;
    let options = WalkOptions {
        start_after: (how & 0x80 != 0).then(|| format!("{}/e0", root.trim_end_matches('/'))),
    };
    let mut visitor = |info: &wharf_runtime::FileInfo| {
        assert!(
            is_valid(&info.path) && (root == "/" || is_ancestor(root, &info.path)),
            "{} walked under {root}",
            info.path
        );
        if let Some(prev) = &last {
            assert!(
                walk_order(prev, &info.path).is_lt(),
                "{} after {prev}",
                info.path
            );
        }
        assert!(
            !info.is_dir || info.size == 0,
            "a directory with a size: {info:?}"
        );
        last = Some(info.path.clone());
        visits += 1;
        Ok(match (visits + usize::from(how)) % 7 {
            _ if visits >= MAX_VISITS => WalkControl::Stop,
            0 => WalkControl::SkipDir,
            6 if how & 0x40 != 0 => WalkControl::Stop,
            _ => WalkControl::Continue,
        })
    };
    if let Err(e) = d.walk(root, &options, &mut visitor).await {
        sensible(Op::Walk, &e);
    }
}
