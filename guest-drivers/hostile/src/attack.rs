//! Attacks on the host's bounds rather than on the sandbox's walls: answers that carry
//! terminal escapes or header injections, walks that never end, open files hoarded until the
//! host runs out, trees deeper than the host's own walk and delete expect, and a component that
//! blocks while it is being instantiated.

use std::fs::{self, File};
use std::time::Duration;

use wharf_guest_sdk::{Error, Result};

/// The raw descriptor of the guest's first preopen (`/data`).
fn data_dir() -> Option<wasip2::filesystem::types::Descriptor> {
    wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .map(|(d, _)| d)
        .next()
}

/// `redirect_url(trigger)` in `bad-url`, by `variant`: 0 a header injection (CR/LF), 1 a
/// `javascript:` URL, 2 a `file:` URL, 3 a URL of 64 KiB, 4 user information in the authority,
/// 5 a relative reference, 6 a terminal escape.
pub fn bad_url(variant: u64) -> String {
    match variant {
        0 => "http://example.com/x\r\nSet-Cookie: session=stolen".into(),
        1 => "javascript:alert(document.cookie)".into(),
        2 => "file:///etc/passwd".into(),
        3 => format!("https://example.com/{}", "a".repeat(64 << 10)),
        4 => "http://admin:hunter2@example.com/".into(),
        5 => "/relative/only".into(),
        _ => "http://example.com/\x1b]0;pwned\x07".into(),
    }
}

/// An error whose text tries to take over the operator's terminal and forge log lines, and is
/// far longer than any message needs to be.
pub fn loud_error() -> Error {
    let mut text = String::from(
        "\x1b[2J\x1b[31mFORGED\x1b[0m\r\n2026-01-01T00:00:00Z ERROR wharf: forged line\u{9b}31m",
    );
    text.push_str(&"A".repeat(1 << 20));
    Error::backend(text, false)
}

/// Opens files under `/data` and never closes them, until the host says no or `most` are open:
/// answers how many were opened and how the last attempt failed.
pub fn hoard_files(most: u64) -> Vec<u8> {
    let mut hoard: Vec<File> = Vec::new();
    let mut failure = String::from("none");
    if let Err(e) = fs::write("/data/hoarded", b"x") {
        return format!("0 cannot make /data/hoarded: {e}").into_bytes();
    }
    while (hoard.len() as u64) < most {
        match File::open("/data/hoarded") {
            Ok(f) => hoard.push(f),
            Err(e) => {
                failure = e.to_string();
                break;
            }
        }
    }
    let answer = format!("{} {failure}", hoard.len());
    std::mem::forget(hoard);
    answer.into_bytes()
}

/// Makes a chain of `depth` nested directories `/data/<name>/d/d/…/d` with a file at the
/// bottom, through relative steps (so no path is ever long): what a native driver sharing the
/// directory must then walk and delete. Answers the depth reached.
pub fn deep_tree(name: &str, depth: u64) -> Result<Vec<u8>> {
    let fail = |what: &str, e: std::io::Error| Error::backend(format!("{what}: {e}"), false);
    let top = format!("/data/{name}");
    fs::create_dir_all(&top).map_err(|e| fail("create the top", e))?;
    let mut dir = top;
    let mut reached = 0;
    // wasi-libc resolves each path from the preopen, so the chain is built in bounded steps:
    // directories are made one level at a time from the deepest one reached, by descending
    // with a descriptor rather than a long path.
    let root = data_dir().ok_or_else(|| Error::backend("no preopen", false))?;
    use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let mut here = root
        .open_at(
            PathFlags::empty(),
            name,
            OpenFlags::DIRECTORY,
            DescriptorFlags::READ,
        )
        .map_err(|e| Error::backend(format!("open {dir}: {e:?}"), false))?;
    while reached < depth {
        if let Err(e) = here.create_directory_at("d") {
            return Ok(format!("{reached} {e:?}").into_bytes());
        }
        match here.open_at(
            PathFlags::empty(),
            "d",
            OpenFlags::DIRECTORY,
            DescriptorFlags::READ,
        ) {
            Ok(next) => here = next,
            Err(e) => return Ok(format!("{reached} {e:?}").into_bytes()),
        }
        dir.push_str("/d");
        reached += 1;
    }
    let _ = here.open_at(
        PathFlags::empty(),
        "bottom",
        OpenFlags::CREATE,
        DescriptorFlags::WRITE,
    );
    Ok(format!("{reached} ok").into_bytes())
}

/// Blocks for an hour inside a host call if the environment asks for it: run from the
/// component's initialisation (a constructor, called while the host instantiates it), where no
/// export has been entered yet. `WHARF_HOSTILE_AT_INSTANTIATION` is `sleep` (always) or
/// `sleep-if:PATH` (when the file PATH exists, so that a test can let the first instance start
/// and make its replacements block).
pub fn at_instantiation() {
    let Ok(setting) = std::env::var("WHARF_HOSTILE_AT_INSTANTIATION") else {
        return;
    };
    let sleeps = match setting.strip_prefix("sleep-if:") {
        Some(path) => fs::metadata(path).is_ok(),
        None => setting == "sleep",
    };
    if sleeps {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Tries to make files of `size` bytes under `/data` three ways — through a stream
/// (`std::fs::write`), through `descriptor.write` at an offset, and through `set-size` — and
/// answers one line per way: `ok` or the error.
pub fn fill(size: u64) -> Vec<u8> {
    use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let mut report = String::new();
    let stream = fs::write("/data/fill-stream", vec![b'f'; size as usize]);
    report.push_str(&format!(
        "stream {}\n",
        outcome(stream.map_err(|e| e.to_string()))
    ));
    let Some(root) = data_dir() else {
        return b"no preopen".to_vec();
    };
    let open = |name: &str| {
        root.open_at(
            PathFlags::empty(),
            name,
            OpenFlags::CREATE,
            DescriptorFlags::WRITE,
        )
    };
    let written = open("fill-write").and_then(|f| f.write(&vec![b'w'; 4096], size - 4096));
    report.push_str(&format!(
        "write {}\n",
        outcome(written.map(|_| ()).map_err(|e| format!("{e:?}")))
    ));
    let sized = open("fill-size").and_then(|f| f.set_size(size));
    report.push_str(&format!(
        "set-size {}\n",
        outcome(sized.map_err(|e| format!("{e:?}")))
    ));
    report.into_bytes()
}

fn outcome(result: std::result::Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".into(),
        Err(e) => e,
    }
}

/// Opens `count` listings of `/data` and holds them all: answers how many it got.
pub fn hold_listings(count: usize) -> Vec<u8> {
    let mut held = Vec::new();
    let Some(root) = data_dir() else {
        return b"no preopen".to_vec();
    };
    while held.len() < count {
        match root.read_directory() {
            Ok(listing) => held.push(listing),
            Err(e) => return format!("{} {e:?}", held.len()).into_bytes(),
        }
    }
    let answer = format!("{} held", held.len());
    std::mem::forget(held);
    answer.into_bytes()
}

/// Writes `/data/moved` and moves it to `/other/moved`, another grant: answers `ok` or the
/// error.
pub fn move_between_grants() -> Vec<u8> {
    let moved =
        fs::write("/data/moved", b"m").and_then(|()| fs::rename("/data/moved", "/other/moved"));
    match moved {
        Ok(()) => b"ok".to_vec(),
        Err(e) => format!("{e}").into_bytes(),
    }
}
