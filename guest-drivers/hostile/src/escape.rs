//! Attempts to reach outside the preopen `/data`: `..`, absolute host paths, symbolic links the
//! test placed inside the preopen (absolute and relative, to a file and to a directory), links
//! the guest makes itself, hard links, renames and removals, through `std::fs` and through the
//! raw `wasi:filesystem` descriptors (which skip wasi-libc's path handling). Each attempt is one
//! line of the report: `DENIED`, `ESCAPED` (with what was read or done), or `CONTROL` for the
//! reads inside the preopen that must work, so an empty sandbox cannot pass for a tight one.
//!
//! The test lays out `<tmp>/outside/secret.txt` and the preopen `<tmp>/data` (at `/data`) with
//! `inside.txt`, `abs-link` → `<tmp>/outside/secret.txt`, `rel-link` → `../outside/secret.txt`,
//! `dir-link` → `<tmp>/outside`, `rel-dir-link` → `../outside`; `outside` is `<tmp>/outside`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};

/// Most bytes of an escaped read shown in the report.
const SHOWN: usize = 64;

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned()
}

/// The report being written.
struct Report(String);

impl Report {
    fn line(&mut self, verdict: &str, label: &str, detail: &str) {
        let detail = detail.replace(['\n', '\t'], " ");
        self.0.push_str(&format!("{verdict}\t{label}\t{detail}\n"));
    }

    /// A read that must fail.
    fn read(&mut self, label: &str, result: io::Result<Vec<u8>>) {
        match result {
            Ok(bytes) => self.line("ESCAPED", label, &format!("read {:?}", shown(&bytes))),
            Err(e) => self.line("DENIED", label, &e.to_string()),
        }
    }

    /// A change that must fail.
    fn change(&mut self, label: &str, result: io::Result<()>) {
        match result {
            Ok(()) => self.line("ESCAPED", label, "done"),
            Err(e) => self.line("DENIED", label, &e.to_string()),
        }
    }

    /// A listing that must fail.
    fn listing(&mut self, label: &str, result: io::Result<fs::ReadDir>) {
        match result {
            Ok(entries) => {
                let names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                self.line("ESCAPED", label, &format!("listed {names:?}"))
            }
            Err(e) => self.line("DENIED", label, &e.to_string()),
        }
    }

    /// An operation inside the preopen that must work.
    fn control(&mut self, label: &str, result: io::Result<Vec<u8>>) {
        match result {
            Ok(bytes) => self.line("CONTROL", label, &format!("ok {:?}", shown(&bytes))),
            Err(e) => self.line("CONTROL-FAILED", label, &e.to_string()),
        }
    }
}

fn write_file(path: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(b"written by the hostile guest")
}

fn append_file(path: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().append(true).open(path)?;
    file.write_all(b"appended by the hostile guest")
}

fn raw_error(e: wasip2::filesystem::types::ErrorCode) -> io::Error {
    io::Error::other(format!("{e:?}"))
}

/// Reads a whole file through a raw descriptor opened relative to `dir`.
fn raw_read(dir: &Descriptor, path_flags: PathFlags, path: &str) -> io::Result<Vec<u8>> {
    let file = dir
        .open_at(path_flags, path, OpenFlags::empty(), DescriptorFlags::READ)
        .map_err(raw_error)?;
    let (bytes, _end) = file.read(1 << 16, 0).map_err(raw_error)?;
    Ok(bytes)
}

/// Writes through a raw descriptor opened relative to `dir`, creating the file.
fn raw_write(dir: &Descriptor, path: &str) -> io::Result<()> {
    let file = dir
        .open_at(
            PathFlags::SYMLINK_FOLLOW,
            path,
            OpenFlags::CREATE,
            DescriptorFlags::WRITE,
        )
        .map_err(raw_error)?;
    file.write(b"written by the hostile guest", 0)
        .map(|_| ())
        .map_err(raw_error)
}

/// Tries every way out and reports each.
pub fn report(outside: &str) -> String {
    let mut r = Report(String::new());
    let secret = format!("{outside}/secret.txt");

    r.control("read /data/inside.txt", fs::read("/data/inside.txt"));

    r.read(
        "read /data/../outside/secret.txt",
        fs::read("/data/../outside/secret.txt"),
    );
    r.read(
        "read /data/./../outside/secret.txt",
        fs::read("/data/./../outside/secret.txt"),
    );
    r.read(
        "read /data/../../../../../../etc/passwd",
        fs::read("/data/../../../../../../etc/passwd"),
    );
    r.read("read /etc/passwd", fs::read("/etc/passwd"));
    r.read(
        "read ../outside/secret.txt",
        fs::read("../outside/secret.txt"),
    );
    r.read(&format!("read {secret}"), fs::read(&secret));
    r.read("read /data/abs-link", fs::read("/data/abs-link"));
    r.read("read /data/rel-link", fs::read("/data/rel-link"));
    r.read(
        "read /data/dir-link/secret.txt",
        fs::read("/data/dir-link/secret.txt"),
    );
    r.read(
        "read /data/rel-dir-link/secret.txt",
        fs::read("/data/rel-dir-link/secret.txt"),
    );
    r.read(
        "metadata /data/../outside/secret.txt",
        fs::metadata("/data/../outside/secret.txt").map(|m| m.len().to_string().into_bytes()),
    );
    r.read(
        "metadata /data/abs-link (followed)",
        fs::metadata("/data/abs-link").map(|m| m.len().to_string().into_bytes()),
    );

    r.listing("list /data/..", fs::read_dir("/data/.."));
    r.listing("list /data/dir-link", fs::read_dir("/data/dir-link"));
    r.listing(
        "list /data/rel-dir-link",
        fs::read_dir("/data/rel-dir-link"),
    );
    r.listing("list /", fs::read_dir("/"));
    r.listing(&format!("list {outside}"), fs::read_dir(outside));

    r.change(
        "write /data/../escaped.txt",
        write_file("/data/../escaped.txt"),
    );
    r.change(
        "write /data/../outside/escaped.txt",
        write_file("/data/../outside/escaped.txt"),
    );
    r.change(
        &format!("write {outside}/escaped.txt"),
        write_file(&format!("{outside}/escaped.txt")),
    );
    r.change(
        "write /data/dir-link/escaped.txt",
        write_file("/data/dir-link/escaped.txt"),
    );
    r.change(
        "write /data/rel-dir-link/escaped.txt",
        write_file("/data/rel-dir-link/escaped.txt"),
    );
    r.change(
        "truncate and write through /data/abs-link",
        write_file("/data/abs-link"),
    );
    r.change(
        "truncate and write through /data/rel-link",
        write_file("/data/rel-link"),
    );
    r.change(
        "append through /data/rel-link",
        append_file("/data/rel-link"),
    );
    r.change(
        "create_dir /data/../escaped-dir",
        fs::create_dir("/data/../escaped-dir"),
    );
    r.change(
        "rename /data/inside.txt to /data/../escaped-moved.txt",
        fs::rename("/data/inside.txt", "/data/../escaped-moved.txt"),
    );
    r.change(
        "rename /data/inside.txt to /data/dir-link/escaped-moved.txt",
        fs::rename("/data/inside.txt", "/data/dir-link/escaped-moved.txt"),
    );
    r.change(
        "rename /data/../outside/secret.txt into /data",
        fs::rename("/data/../outside/secret.txt", "/data/stolen.txt"),
    );
    r.change(
        "remove /data/../outside/secret.txt",
        fs::remove_file("/data/../outside/secret.txt"),
    );
    r.change(
        "remove /data/dir-link/secret.txt",
        fs::remove_file("/data/dir-link/secret.txt"),
    );
    r.change(
        "remove_dir_all /data/../outside",
        fs::remove_dir_all("/data/../outside"),
    );
    r.change(
        "hard link /data/../outside/secret.txt into /data",
        fs::hard_link("/data/../outside/secret.txt", "/data/hard.txt"),
    );
    r.read("read /data/hard.txt", fs::read("/data/hard.txt"));

    // The raw descriptors: paths reach the host exactly as written.
    let preopens = get_directories();
    match preopens.iter().find(|(_, path)| path == "/data") {
        None => r.line("CONTROL-FAILED", "find the /data preopen", "not granted"),
        Some((dir, _)) => {
            r.control(
                "raw read inside.txt",
                raw_read(dir, PathFlags::empty(), "inside.txt"),
            );
            r.read(
                "raw read ../outside/secret.txt",
                raw_read(dir, PathFlags::empty(), "../outside/secret.txt"),
            );
            r.read(
                &format!("raw read {secret}"),
                raw_read(dir, PathFlags::empty(), &secret),
            );
            r.read(
                "raw read abs-link (followed)",
                raw_read(dir, PathFlags::SYMLINK_FOLLOW, "abs-link"),
            );
            r.read(
                "raw read rel-link (followed)",
                raw_read(dir, PathFlags::SYMLINK_FOLLOW, "rel-link"),
            );
            r.read(
                "raw read dir-link/secret.txt",
                raw_read(dir, PathFlags::SYMLINK_FOLLOW, "dir-link/secret.txt"),
            );
            r.change(
                "raw write ../outside/escaped-raw.txt",
                raw_write(dir, "../outside/escaped-raw.txt"),
            );
            r.change(
                "raw write dir-link/escaped-raw.txt",
                raw_write(dir, "dir-link/escaped-raw.txt"),
            );
            // Links the guest makes itself: making one that leads out of the preopen must be
            // refused, and following one (had it been made) must not work either.
            r.change(
                "make guest-rel-link -> ../outside/secret.txt",
                dir.symlink_at("../outside/secret.txt", "guest-rel-link")
                    .map_err(raw_error),
            );
            r.read(
                "read /data/guest-rel-link",
                fs::read("/data/guest-rel-link"),
            );
            r.change(
                &format!("make guest-abs-link -> {secret}"),
                dir.symlink_at(&secret, "guest-abs-link").map_err(raw_error),
            );
            r.read(
                "read /data/guest-abs-link",
                fs::read("/data/guest-abs-link"),
            );
            r.change(
                "make sub/guest-deep-link -> ../../outside",
                fs::create_dir_all("/data/sub").and_then(|()| {
                    dir.symlink_at("../../outside", "sub/guest-deep-link")
                        .map_err(raw_error)
                }),
            );
            // A link that cannot lead anywhere else is an ordinary thing to make.
            r.control(
                "make and read inside-link -> inside.txt",
                dir.symlink_at("inside.txt", "inside-link")
                    .map_err(raw_error)
                    .and_then(|()| fs::read("/data/inside-link")),
            );
        }
    }
    r.0
}
