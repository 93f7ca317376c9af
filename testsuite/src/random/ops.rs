//! The operations a random run sends to a driver, and their one-line text form: what a mismatch
//! prints, and what [`Step::from_str`] reads back, so a shrunk sequence can be pasted into a test
//! and replayed with [`super::replay`].
//!
//! ```text
//! put_content /a/a-b 512B#3f2a        content: length and the seed of its bytes (crate::data)
//! put_content@2 /a 0B#0001            @2: on the fixture's second instance
//! get_content /a
//! read /a 17                          a reader at offset 17, read to its end
//! stat /a
//! list /
//! walk / after=/a/b skip=/a,/c stop=/b    also fail=PATH: the visitor returns an error there
//! move /a /b
//! delete /a
//! redirect_url GET /a
//! writer w3 /a/b new                  open writer w3 (new upload; `append` resumes)
//! write w3 100B#0007
//! commit w3                           commit, then close
//! close w3
//! cancel w3
//! batch put_content /a 1B#0001 | get_content /b      concurrent calls on paths that cannot interfere
//! ```

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use wharf_runtime::RedirectMethod;

use crate::data;

/// Which driver instance of the fixture a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// [`crate::Fixture::driver`].
    First,
    /// [`crate::Fixture::second_instance`] (same configuration, same storage).
    Second,
}

/// File content, described by its length and the seed of its position-dependent bytes
/// ([`crate::data::bytes`]), so a step stays one short line whatever the size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    /// Length in bytes.
    pub len: usize,
    /// Seed of the bytes.
    pub seed: u16,
}

impl Content {
    /// The bytes.
    pub fn bytes(&self) -> Bytes {
        data::bytes(u64::from(self.seed), 0, self.len)
    }
}

/// What the walk's visitor does when it reaches a given entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkEnd {
    /// The entry.
    pub at: String,
    /// True: return an error (the walk must return it unchanged); false: stop the walk.
    pub fail: bool,
}

/// One operation of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `put_content(path, content)`.
    PutContent {
        /// Path.
        path: String,
        /// Content.
        content: Content,
    },
    /// `get_content(path)`.
    GetContent {
        /// Path.
        path: String,
    },
    /// `reader(path, offset)`, read to its end.
    Read {
        /// Path.
        path: String,
        /// Offset.
        offset: u64,
    },
    /// `stat(path)`.
    Stat {
        /// Path.
        path: String,
    },
    /// `list(path)`.
    List {
        /// Path.
        path: String,
    },
    /// `walk(path)` with a visitor that skips the contents of `skip` and ends at `end`.
    Walk {
        /// Path walked.
        path: String,
        /// `WalkOptions::start_after`.
        start_after: Option<String>,
        /// Entries the visitor answers `SkipDir` for.
        skip: Vec<String>,
        /// Where the visitor stops or fails.
        end: Option<WalkEnd>,
    },
    /// `move(source, dest)` (`StorageDriver::rename`).
    Move {
        /// Source.
        source: String,
        /// Destination.
        dest: String,
    },
    /// `delete(path)`.
    Delete {
        /// Path.
        path: String,
    },
    /// `redirect_url(method, path, 20 minutes)`.
    RedirectUrl {
        /// GET or HEAD.
        method: RedirectMethod,
        /// Path.
        path: String,
    },
    /// `writer(path, append)`, kept as writer number `writer` for the steps that follow.
    OpenWriter {
        /// The writer's number in the sequence.
        writer: u32,
        /// Path.
        path: String,
        /// Resume (true) or start a new upload (false).
        append: bool,
    },
    /// `write(content)` on an open writer.
    Write {
        /// The writer's number.
        writer: u32,
        /// What is written.
        content: Content,
    },
    /// `commit()` then `close()` on an open writer.
    Commit {
        /// The writer's number.
        writer: u32,
    },
    /// `close()` without commit: the upload is kept for a later resume.
    Close {
        /// The writer's number.
        writer: u32,
    },
    /// `cancel()`.
    Cancel {
        /// The writer's number.
        writer: u32,
    },
}

impl Op {
    /// The operation's name, as its text form starts.
    pub fn name(&self) -> &'static str {
        match self {
            Op::PutContent { .. } => "put_content",
            Op::GetContent { .. } => "get_content",
            Op::Read { .. } => "read",
            Op::Stat { .. } => "stat",
            Op::List { .. } => "list",
            Op::Walk { .. } => "walk",
            Op::Move { .. } => "move",
            Op::Delete { .. } => "delete",
            Op::RedirectUrl { .. } => "redirect_url",
            Op::OpenWriter { .. } => "writer",
            Op::Write { .. } => "write",
            Op::Commit { .. } => "commit",
            Op::Close { .. } => "close",
            Op::Cancel { .. } => "cancel",
        }
    }

    /// The writer number a writer operation uses.
    pub fn writer(&self) -> Option<u32> {
        match self {
            Op::OpenWriter { writer, .. }
            | Op::Write { writer, .. }
            | Op::Commit { writer }
            | Op::Close { writer }
            | Op::Cancel { writer } => Some(*writer),
            _ => None,
        }
    }

    /// Every path the operation names (for renaming paths while shrinking).
    pub(crate) fn paths_mut(&mut self) -> Vec<&mut String> {
        match self {
            Op::PutContent { path, .. }
            | Op::GetContent { path }
            | Op::Read { path, .. }
            | Op::Stat { path }
            | Op::List { path }
            | Op::Delete { path }
            | Op::RedirectUrl { path, .. }
            | Op::OpenWriter { path, .. } => vec![path],
            Op::Move { source, dest } => vec![source, dest],
            Op::Walk {
                path,
                start_after,
                skip,
                end,
            } => {
                let mut all = vec![path];
                all.extend(start_after.as_mut());
                all.extend(skip.iter_mut());
                all.extend(end.as_mut().map(|e| &mut e.at));
                all
            }
            Op::Write { .. } | Op::Commit { .. } | Op::Close { .. } | Op::Cancel { .. } => {
                Vec::new()
            }
        }
    }
}

/// An operation and the instance it runs on (writer operations other than the opening run on
/// the writer, wherever it was opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The instance.
    pub on: Instance,
    /// The operation.
    pub op: Op,
}

impl Call {
    /// A call on the first instance.
    pub fn new(op: Op) -> Self {
        Self {
            on: Instance::First,
            op,
        }
    }
}

/// One step of a sequence: a call, or calls run at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// One call.
    One(Call),
    /// Calls started together and awaited together. Their paths cannot interfere (none is
    /// equal to or an ancestor of another's where one of them changes something), so the
    /// outcome does not depend on how they interleave.
    Batch(Vec<Call>),
}

impl Step {
    /// The calls of the step.
    pub fn calls(&self) -> &[Call] {
        match self {
            Step::One(call) => std::slice::from_ref(call),
            Step::Batch(calls) => calls,
        }
    }

    pub(crate) fn calls_mut(&mut self) -> &mut [Call] {
        match self {
            Step::One(call) => std::slice::from_mut(call),
            Step::Batch(calls) => calls,
        }
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B#{:04x}", self.len, self.seed)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.name())?;
        if self.on == Instance::Second {
            f.write_str("@2")?;
        }
        match &self.op {
            Op::PutContent { path, content } => write!(f, " {path} {content}"),
            Op::GetContent { path }
            | Op::Stat { path }
            | Op::List { path }
            | Op::Delete { path } => write!(f, " {path}"),
            Op::Read { path, offset } => write!(f, " {path} {offset}"),
            Op::Walk {
                path,
                start_after,
                skip,
                end,
            } => {
                write!(f, " {path}")?;
                if let Some(a) = start_after {
                    write!(f, " after={a}")?;
                }
                if !skip.is_empty() {
                    write!(f, " skip={}", skip.join(","))?;
                }
                match end {
                    Some(WalkEnd { at, fail: false }) => write!(f, " stop={at}"),
                    Some(WalkEnd { at, fail: true }) => write!(f, " fail={at}"),
                    None => Ok(()),
                }
            }
            Op::Move { source, dest } => write!(f, " {source} {dest}"),
            Op::RedirectUrl { method, path } => write!(f, " {} {path}", method.as_str()),
            Op::OpenWriter {
                writer,
                path,
                append,
            } => write!(
                f,
                " w{writer} {path} {}",
                if *append { "append" } else { "new" }
            ),
            Op::Write { writer, content } => write!(f, " w{writer} {content}"),
            Op::Commit { writer } | Op::Close { writer } | Op::Cancel { writer } => {
                write!(f, " w{writer}")
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::One(call) => call.fmt(f),
            Step::Batch(calls) => {
                f.write_str("batch ")?;
                for (i, call) in calls.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    call.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for Step {
    type Err = String;

    /// Reads a step in the form [`Display`](fmt::Display) writes.
    fn from_str(line: &str) -> Result<Self, String> {
        let line = line.trim();
        match line.strip_prefix("batch ") {
            Some(rest) => rest
                .split(" | ")
                .map(str::parse)
                .collect::<Result<Vec<Call>, String>>()
                .map(Step::Batch),
            None => line.parse().map(Step::One),
        }
    }
}

impl FromStr for Call {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut words = text.split_whitespace();
        let head = words.next().ok_or("an empty step")?;
        let (name, on) = match head.strip_suffix("@2") {
            Some(name) => (name, Instance::Second),
            None => (head, Instance::First),
        };
        let args: Vec<&str> = words.collect();
        let bad = || format!("cannot read {text:?}");
        let arg = |i: usize| args.get(i).copied().ok_or_else(bad);
        let path = |i: usize| -> Result<String, String> {
            let p = arg(i)?;
            if wharf_runtime::path::validate_allow_root(p).is_err() {
                return Err(format!("{p:?} is not a valid path in {text:?}"));
            }
            Ok(p.to_owned())
        };
        let writer = |i: usize| -> Result<u32, String> {
            arg(i)?
                .strip_prefix('w')
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)
        };
        let content = |i: usize| -> Result<Content, String> {
            let (len, seed) = arg(i)?.split_once("B#").ok_or_else(bad)?;
            Ok(Content {
                len: len.parse().map_err(|_| bad())?,
                seed: u16::from_str_radix(seed, 16).map_err(|_| bad())?,
            })
        };
        let arity = |n: usize| if args.len() == n { Ok(()) } else { Err(bad()) };
        let op = match name {
            "put_content" => {
                arity(2)?;
                Op::PutContent {
                    path: path(0)?,
                    content: content(1)?,
                }
            }
            "get_content" => {
                arity(1)?;
                Op::GetContent { path: path(0)? }
            }
            "read" => {
                arity(2)?;
                Op::Read {
                    path: path(0)?,
                    offset: arg(1)?.parse().map_err(|_| bad())?,
                }
            }
            "stat" => {
                arity(1)?;
                Op::Stat { path: path(0)? }
            }
            "list" => {
                arity(1)?;
                Op::List { path: path(0)? }
            }
            "walk" => {
                let mut op = Op::Walk {
                    path: path(0)?,
                    start_after: None,
                    skip: Vec::new(),
                    end: None,
                };
                if let Op::Walk {
                    start_after,
                    skip,
                    end,
                    ..
                } = &mut op
                {
                    for option in &args[1..] {
                        let (key, value) = option.split_once('=').ok_or_else(bad)?;
                        match key {
                            "after" => *start_after = Some(value.to_owned()),
                            "skip" => skip.extend(value.split(',').map(str::to_owned)),
                            "stop" | "fail" => {
                                *end = Some(WalkEnd {
                                    at: value.to_owned(),
                                    fail: key == "fail",
                                })
                            }
                            _ => return Err(bad()),
                        }
                    }
                }
                op
            }
            "move" => {
                arity(2)?;
                Op::Move {
                    source: path(0)?,
                    dest: path(1)?,
                }
            }
            "delete" => {
                arity(1)?;
                Op::Delete { path: path(0)? }
            }
            "redirect_url" => {
                arity(2)?;
                let method = match arg(0)? {
                    "GET" => RedirectMethod::Get,
                    "HEAD" => RedirectMethod::Head,
                    _ => return Err(bad()),
                };
                Op::RedirectUrl {
                    method,
                    path: path(1)?,
                }
            }
            "writer" => {
                arity(3)?;
                Op::OpenWriter {
                    writer: writer(0)?,
                    path: path(1)?,
                    append: match arg(2)? {
                        "append" => true,
                        "new" => false,
                        _ => return Err(bad()),
                    },
                }
            }
            "write" => {
                arity(2)?;
                Op::Write {
                    writer: writer(0)?,
                    content: content(1)?,
                }
            }
            "commit" | "close" | "cancel" => {
                arity(1)?;
                let writer = writer(0)?;
                match name {
                    "commit" => Op::Commit { writer },
                    "close" => Op::Close { writer },
                    _ => Op::Cancel { writer },
                }
            }
            _ => return Err(format!("unknown operation {name:?} in {text:?}")),
        };
        Ok(Call { on, op })
    }
}

/// Reads a sequence written one step per line (blank lines and `#` comments are ignored).
pub fn parse_steps(text: &str) -> Result<Vec<Step>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        let text = "\
            put_content /a/a-b 512B#3f2a
            put_content@2 /a 0B#0001
            get_content /a
            read@2 /a 17
            stat /
            list /a.b
            walk / after=/a/b skip=/a,/c stop=/b
            walk /a fail=/a/b
            move /a /b
            delete /a
            redirect_url HEAD /a
            writer@2 w3 /a/b new
            writer w4 /a/b append
            write w3 100B#0007
            commit w3
            close w4
            cancel w5
            batch put_content /a 1B#0001 | get_content@2 /b | write w1 3B#00ff";
        let steps = parse_steps(text).unwrap();
        assert_eq!(steps.len(), 18);
        let written: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        let expected: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(written, expected);
        assert_eq!(parse_steps(&written.join("\n")).unwrap(), steps);
    }

    #[test]
    fn bad_lines_are_refused() {
        for line in [
            "",
            "put_content /a",
            "put_content a 1B#0001",
            "read /a x",
            "writer w1 /a maybe",
            "frobnicate /a",
            "walk / sideways=/a",
            "stat /a/../b",
        ] {
            assert!(line.parse::<Step>().is_err(), "{line:?}");
        }
    }
}
