//! The reference model: CONTRACT.md as a plain in-memory map of path → bytes, with parked uploads
//! and open writers beside it. Given a call and what the driver answered, it says whether the
//! contract allows that answer and moves to the state the answer implies.
//!
//! Where the contract leaves drivers a choice, the model accepts every allowed answer and
//! follows the driver's: a directory move either moves the subtree or fails with nothing
//! changed; an append to non-empty committed content appends or is `Unsupported`; a directory
//! emptied by `delete` or `move` may persist (the model keeps such paths as *maybe-directories*,
//! as it does the parents of uploads, which a driver may create early); reads of a path with an
//! upload in progress may or may not see it; an error where the contract names no kind may be
//! of any kind (a move from under a file, a directory read as a file). Modification times are
//! never compared.
//!
//! Some calls are left alone because the contract does not decide them at all (a file over a
//! directory, a file under a file, reading a path while a writer may be changing it); the
//! generator never makes them, and a replay skips them when shrinking or another answer led
//! there ([`Model::allows`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bytes::Bytes;
use wharf_runtime::ErrorKind;
use wharf_runtime::path::{ROOT, is_ancestor, parent, walk_order};
use wharf_runtime::walk::{Position, position_after};

use super::exec::{Answer, Failed, Outcome, visitor_error};
use super::ops::{Call, Op, WalkEnd};

/// An upload closed without commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Upload {
    /// Its bytes: a resume continues from them.
    Known(Vec<u8>),
    /// Something touched its path since (a `put_content`, `move` or `delete`): whether it
    /// survived is up to the driver, so it is never resumed, only discarded.
    Unknown,
}

/// A writer the driver opened.
#[derive(Debug, Clone)]
pub(crate) struct OpenWriter {
    pub(crate) path: String,
    pub(crate) buf: Vec<u8>,
}

/// The state of the storage as the contract sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    pub(crate) files: BTreeMap<String, Bytes>,
    /// Paths that may exist as (empty) directories although no file lies under them. Never a
    /// file, never a directory of the model, never the root.
    pub(crate) maybe_dirs: BTreeSet<String>,
    pub(crate) uploads: BTreeMap<String, Upload>,
    pub(crate) writers: BTreeMap<u32, OpenWriter>,
}

/// Whether a driver's answer is one the contract allows; if not, what was expected.
type Verdict = Result<(), String>;

impl Model {
    pub(crate) fn is_file(&self, p: &str) -> bool {
        self.files.contains_key(p)
    }

    /// A directory: the root, or a component-prefix of a file.
    pub(crate) fn is_dir(&self, p: &str) -> bool {
        if p == ROOT {
            return true;
        }
        let prefix = format!("{p}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(f, _)| f.starts_with(&prefix))
    }

    pub(crate) fn is_maybe_dir(&self, p: &str) -> bool {
        self.maybe_dirs.contains(p)
    }

    /// The file above `p`, if one of its ancestors is a file.
    pub(crate) fn file_above(&self, p: &str) -> Option<&str> {
        let mut q = parent(p);
        while q != ROOT {
            if let Some((f, _)) = self.files.get_key_value(q) {
                return Some(f);
            }
            q = parent(q);
        }
        None
    }

    /// True when an upload is in progress at `p`: a writer is open there or an upload is
    /// parked. Readers of `p` may or may not see it.
    pub(crate) fn in_progress(&self, p: &str) -> bool {
        self.uploads.contains_key(p) || self.writers.values().any(|w| w.path == p)
    }

    fn writer_at_or_above(&self, p: &str) -> bool {
        self.writers
            .values()
            .any(|w| w.path == p || is_ancestor(&w.path, p))
    }

    fn writer_at_or_under(&self, p: &str) -> bool {
        self.writers
            .values()
            .any(|w| w.path == p || is_ancestor(p, &w.path))
    }

    fn uploads_at_or_under(&self, p: &str) -> bool {
        self.uploads.keys().any(|u| u == p || is_ancestor(p, u))
    }

    fn upload_above(&self, p: &str) -> bool {
        self.uploads.keys().any(|u| is_ancestor(u, p))
    }

    /// Every directory of the model but the root.
    pub(crate) fn dirs(&self) -> BTreeSet<String> {
        let mut dirs = BTreeSet::new();
        for f in self.files.keys() {
            let mut q = parent(f);
            while q != ROOT && dirs.insert(q.to_owned()) {
                q = parent(q);
            }
        }
        dirs
    }

    /// The path of open writer `w`.
    pub(crate) fn writer_path(&self, w: u32) -> Option<&str> {
        self.writers.get(&w).map(|o| o.path.as_str())
    }

    /// A path a new file may be created at: the contract decides nothing about a file over a
    /// directory (or a maybe-directory), nor under a file, nor one a writer is about to commit.
    fn may_create_file(&self, p: &str) -> bool {
        p != ROOT
            && !self.is_dir(p)
            && !self.is_maybe_dir(p)
            && self.file_above(p).is_none()
            && !self.writer_at_or_above(p)
    }

    /// Whether the contract decides the outcome of `call` in this state. Calls it does not
    /// decide are skipped, never compared.
    pub(crate) fn allows(&self, call: &Call) -> bool {
        match &call.op {
            Op::PutContent { path, .. } => self.may_create_file(path),
            Op::GetContent { .. }
            | Op::Read { .. }
            | Op::Stat { .. }
            | Op::List { .. }
            | Op::RedirectUrl { .. } => true,
            Op::Walk { skip, end, .. } => {
                // The visitor's targets must be real entries or none: whether the driver shows
                // a maybe-directory would decide what the visitor does.
                skip.iter()
                    .chain(end.as_ref().map(|e| &e.at))
                    .all(|t| !self.is_maybe_dir(t))
            }
            Op::Move { source, dest } => {
                source != dest
                    && !is_ancestor(source, dest)
                    && self.may_create_file(dest)
                    && !(self.is_dir(source) && self.is_file(dest))
                    && (self.is_dir(source) || !self.is_maybe_dir(source))
                    && !self.writer_at_or_under(source)
            }
            Op::Delete { path } => !self.writer_at_or_under(path),
            Op::OpenWriter {
                writer,
                path,
                append,
            } => {
                !self.writers.contains_key(writer)
                    && !self.writers.values().any(|w| w.path == *path)
                    && !self.is_dir(path)
                    && !self.is_maybe_dir(path)
                    && !self.upload_above(path)
                    && !self.writer_at_or_above(path)
                    && if *append {
                        self.uploads.get(path) != Some(&Upload::Unknown)
                    } else {
                        self.file_above(path).is_none()
                    }
            }
            Op::Write { writer, .. } | Op::Close { writer } | Op::Cancel { writer } => {
                self.writers.contains_key(writer)
            }
            Op::Commit { writer } => self.writer_path(*writer).is_some_and(|p| {
                !self.is_dir(p) && !self.is_maybe_dir(p) && self.file_above(p).is_none()
            }),
        }
    }

    /// Judges the driver's answer `got` to `call` (`None`: no driver, take the contract's
    /// plainest answer — the generator's simulation) and moves to the state it implies.
    pub(crate) fn apply(&mut self, call: &Call, got: Option<&Outcome>) -> Verdict {
        let before = self.dirs();
        let verdict = self.apply_op(&call.op, got);
        self.settle(before);
        verdict
    }

    /// Keeps the maybe-directories up to date after a change: directories that stopped being
    /// ones may persist, and so may the parents of uploads.
    fn settle(&mut self, before: BTreeSet<String>) {
        let now = self.dirs();
        self.maybe_dirs.extend(before.difference(&now).cloned());
        let pending: Vec<String> = self
            .uploads
            .keys()
            .cloned()
            .chain(self.writers.values().map(|w| w.path.clone()))
            .collect();
        for p in pending {
            self.add_maybe_parents(&p);
        }
        let files = &self.files;
        self.maybe_dirs
            .retain(|d| !now.contains(d) && !files.contains_key(d));
    }

    fn add_maybe_parents(&mut self, p: &str) {
        if self.file_above(p).is_some() {
            return;
        }
        let mut q = parent(p);
        while q != ROOT {
            self.maybe_dirs.insert(q.to_owned());
            q = parent(q);
        }
    }

    /// Marks every upload at or under `p` as unknown: something touched it.
    fn touch_uploads(&mut self, p: &str) {
        for (u, state) in self.uploads.iter_mut() {
            if u == p || is_ancestor(p, u) {
                *state = Upload::Unknown;
            }
        }
    }

    fn forget_maybe_dirs(&mut self, p: &str) {
        self.maybe_dirs.retain(|d| d != p && !is_ancestor(p, d));
    }

    fn apply_op(&mut self, op: &Op, got: Option<&Outcome>) -> Verdict {
        match op {
            Op::PutContent { path, content } => {
                expect_done(got)?;
                self.files.insert(path.clone(), content.bytes());
                self.touch_uploads(path);
                Ok(())
            }
            Op::GetContent { path } => {
                if self.in_progress(path) {
                    return Ok(());
                }
                match self.files.get(path) {
                    Some(want) => expect_content(got, want),
                    None if self.is_dir(path) || self.is_maybe_dir(path) => expect_error(got),
                    None => expect_not_found(got),
                }
            }
            Op::Read { path, offset } => {
                if self.in_progress(path) {
                    return Ok(());
                }
                if !self.is_file(path) && (self.is_dir(path) || self.is_maybe_dir(path)) {
                    return expect_error(got);
                }
                match self.files.get(path) {
                    Some(want) if *offset <= want.len() as u64 => {
                        expect_content(got, &want.slice(*offset as usize..))
                    }
                    Some(_) => expect_kind(
                        got,
                        &ErrorKind::InvalidOffset {
                            path: path.clone(),
                            offset: *offset,
                        },
                    ),
                    None => expect_not_found(got),
                }
            }
            Op::Stat { path } => self.judge_stat(path, got),
            Op::List { path } => self.judge_list(path, got),
            Op::Walk {
                path,
                start_after,
                skip,
                end,
            } => self.judge_walk(path, start_after.as_deref(), skip, end.as_ref(), got),
            Op::Move { source, dest } => self.apply_move(source, dest, got),
            Op::Delete { path } => {
                if self.is_file(path) || self.is_dir(path) {
                    expect_done(got)?;
                } else if self.is_maybe_dir(path) || self.uploads_at_or_under(path) {
                    // An emptied directory that persisted is deleted, one that did not is
                    // missing; a driver that deletes uploads in progress may count them as
                    // something found (the contract does not say).
                    if !matches!(got, None | Some(Ok(Answer::Done))) {
                        expect_not_found(got).map_err(|_| {
                            "ok, or PathNotFound (only an emptied directory or an upload there)"
                                .to_owned()
                        })?;
                    }
                } else {
                    expect_not_found(got)?;
                }
                self.files.retain(|f, _| f != path && !is_ancestor(path, f));
                self.forget_maybe_dirs(path);
                self.touch_uploads(path);
                Ok(())
            }
            Op::RedirectUrl { path, .. } => {
                if !self.is_file(path) || self.in_progress(path) {
                    // The contract says nothing about URLs of anything but a file.
                    return Ok(());
                }
                match got {
                    None | Some(Ok(Answer::Url(None))) => Ok(()),
                    Some(Ok(Answer::Url(Some(url))))
                        if url.starts_with("http://") || url.starts_with("https://") =>
                    {
                        Ok(())
                    }
                    Some(_) => Err("no URL, or an http(s) URL".into()),
                }
            }
            Op::OpenWriter {
                writer,
                path,
                append,
            } => self.apply_open(*writer, path, *append, got),
            Op::Write { writer, content } => {
                let Some(open) = self.writers.get_mut(writer) else {
                    return Err("no such writer (the model was not asked to open it)".into());
                };
                let written = (open.buf.len() + content.len) as u64;
                match got {
                    None => {}
                    Some(Ok(Answer::Size(n))) if *n <= written => {}
                    Some(_) => {
                        return Err(format!(
                            "ok, size() at most {written} (it may lag, never run ahead)"
                        ));
                    }
                }
                open.buf.extend_from_slice(&content.bytes());
                Ok(())
            }
            Op::Commit { writer } => {
                let Some(open) = self.writers.remove(writer) else {
                    return Err("no such writer".into());
                };
                let n = open.buf.len() as u64;
                match got {
                    None => {}
                    Some(Ok(Answer::Committed(a, b))) if *a == n && *b == n => {}
                    Some(_) => return Err(format!("ok, size() = {n} after commit and close")),
                }
                self.files.insert(open.path, Bytes::from(open.buf));
                Ok(())
            }
            Op::Close { writer } => {
                let Some(open) = self.writers.remove(writer) else {
                    return Err("no such writer".into());
                };
                let n = open.buf.len() as u64;
                match got {
                    None => {}
                    Some(Ok(Answer::Size(m))) if *m == n => {}
                    Some(_) => return Err(format!("ok, size() = {n} after close")),
                }
                self.uploads.insert(open.path, Upload::Known(open.buf));
                Ok(())
            }
            Op::Cancel { writer } => {
                if self.writers.remove(writer).is_none() {
                    return Err("no such writer".into());
                }
                expect_done(got)
            }
        }
    }

    fn judge_stat(&self, path: &str, got: Option<&Outcome>) -> Verdict {
        if self.in_progress(path) {
            return Ok(());
        }
        let Some(got) = got else { return Ok(()) };
        let info = match got {
            Ok(Answer::Info(info)) => Some(info),
            Ok(_) => None,
            Err(e) if is_not_found(&e.kind) => {
                return if path == ROOT || self.is_maybe_dir(path) || !self.exists(path) {
                    Ok(())
                } else {
                    Err(self.stat_want(path))
                };
            }
            Err(_) => None,
        };
        let Some(info) = info else {
            return Err(self.stat_want(path));
        };
        let fine = info.path == path
            && match self.files.get(path) {
                Some(b) => !info.is_dir && info.size == b.len() as u64,
                None => {
                    (self.is_dir(path) || self.is_maybe_dir(path)) && info.is_dir && info.size == 0
                }
            };
        if fine {
            Ok(())
        } else {
            Err(self.stat_want(path))
        }
    }

    fn exists(&self, p: &str) -> bool {
        self.is_file(p) || self.is_dir(p)
    }

    fn stat_want(&self, path: &str) -> String {
        match self.files.get(path) {
            Some(b) => format!("{path} ({} B)", b.len()),
            None if path == ROOT => "/ (dir), or PathNotFound".into(),
            None if self.is_dir(path) => format!("{path} (dir)"),
            None if self.is_maybe_dir(path) => {
                format!("{path} (dir), or PathNotFound (an emptied directory)")
            }
            None => "PathNotFound".into(),
        }
    }

    /// The children `list(path)` must show, and those it may show (persisting emptied
    /// directories).
    fn children(&self, path: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut must = BTreeSet::new();
        for f in self.files.keys().filter(|f| is_ancestor(path, f)) {
            let mut child = f.as_str();
            while parent(child) != path {
                child = parent(child);
            }
            must.insert(child.to_owned());
        }
        let may = self
            .maybe_dirs
            .iter()
            .filter(|d| parent(d) == path)
            .cloned()
            .collect();
        (must, may)
    }

    fn judge_list(&self, path: &str, got: Option<&Outcome>) -> Verdict {
        let Some(got) = got else { return Ok(()) };
        let not_found = ErrorKind::PathNotFound {
            path: path.to_owned(),
        };
        let listable = self.is_dir(path) || self.is_maybe_dir(path);
        let (must, may) = self.children(path);
        let want = || {
            let mut text = String::new();
            if listable {
                let _ = write!(text, "{must:?}");
                if !may.is_empty() {
                    let _ = write!(text, " and any of {may:?} (emptied directories)");
                }
                if !self.is_dir(path) {
                    text.push_str(", or PathNotFound (an emptied directory)");
                }
            } else {
                let _ = write!(text, "{not_found:?}");
            }
            text
        };
        match got {
            Err(e) if e.kind == not_found && !self.is_dir(path) => Ok(()),
            Ok(Answer::Children(children)) if listable => {
                let sorted = children.windows(2).all(|w| w[0] < w[1]);
                let shown: BTreeSet<String> = children.iter().cloned().collect();
                let fine = sorted
                    && must.is_subset(&shown)
                    && shown.iter().all(|c| must.contains(c) || may.contains(c));
                if fine {
                    Ok(())
                } else {
                    Err(format!("{}, sorted by byte order", want()))
                }
            }
            _ => Err(want()),
        }
    }

    /// What `walk(path)` must show: every file and directory under `path` in walk order, as the
    /// start point, the visitor's skips and its end leave them.
    fn walk_want(
        &self,
        path: &str,
        start_after: Option<&str>,
        skip: &[String],
        end: Option<&WalkEnd>,
    ) -> (Vec<(String, Option<u64>)>, Option<Failed>) {
        let mut all: Vec<(String, Option<u64>)> = self
            .files
            .iter()
            .filter(|(f, _)| is_ancestor(path, f))
            .map(|(f, b)| (f.clone(), Some(b.len() as u64)))
            .chain(
                self.dirs()
                    .into_iter()
                    .filter(|d| is_ancestor(path, d))
                    .map(|d| (d, None)),
            )
            .collect();
        all.sort_by(|a, b| walk_order(&a.0, &b.0));
        let mut shown = Vec::new();
        let mut skipped: Option<String> = None;
        for (p, size) in all {
            if skipped.as_deref().is_some_and(|s| is_ancestor(s, &p)) {
                continue;
            }
            if position_after(&p, start_after) != Position::Emit {
                continue;
            }
            shown.push((p.clone(), size));
            if let Some(e) = end.filter(|e| e.at == p) {
                let error = e.fail.then(|| Failed::from(visitor_error()));
                return (shown, error);
            }
            if size.is_none() && skip.contains(&p) {
                skipped = Some(p);
            }
        }
        (shown, None)
    }

    fn judge_walk(
        &self,
        path: &str,
        start_after: Option<&str>,
        skip: &[String],
        end: Option<&WalkEnd>,
        got: Option<&Outcome>,
    ) -> Verdict {
        let Some(got) = got else { return Ok(()) };
        if self.is_file(path) {
            // Walking a file is not decided by the contract, as long as it shows nothing.
            return match got {
                Ok(Answer::Walked { entries, .. }) if !entries.is_empty() => {
                    Err("nothing (walking a file)".into())
                }
                _ => Ok(()),
            };
        }
        let missing = !self.is_dir(path) && !self.is_maybe_dir(path);
        let (want, want_error) = if missing {
            (Vec::new(), None)
        } else {
            self.walk_want(path, start_after, skip, end)
        };
        let describe = || {
            let mut text = String::new();
            if missing {
                text.push_str("PathNotFound");
            } else {
                text.push_str("visited [");
                for (i, (p, size)) in want.iter().take(20).enumerate() {
                    if i > 0 {
                        text.push_str(", ");
                    }
                    match size {
                        Some(n) => {
                            let _ = write!(text, "{p} ({n} B)");
                        }
                        None => {
                            let _ = write!(text, "{p} (dir)");
                        }
                    }
                }
                if want.len() > 20 {
                    let _ = write!(text, ", … {} more", want.len() - 20);
                }
                text.push(']');
                if self.maybe_dirs.iter().any(|d| is_ancestor(path, d)) {
                    text.push_str(" and any emptied directories");
                }
                match &want_error {
                    Some(e) => {
                        let _ = write!(text, ", then {e}");
                    }
                    None => text.push_str(", then ok"),
                }
                if !self.is_dir(path) {
                    text.push_str(", or PathNotFound (an emptied directory)");
                }
            }
            text
        };
        let (entries, error) = match got {
            Ok(Answer::Walked { entries, error }) => (entries, error),
            _ => return Err(describe()),
        };
        if let Some(e) = error
            && is_not_found(&e.kind)
            && !self.is_dir(path)
            && entries.is_empty()
        {
            return Ok(());
        }
        if missing {
            return Err(describe());
        }
        // Entries must come in walk order; persisting emptied directories may appear among
        // them (after the start point, outside skipped directories); the rest must be exactly
        // the model's.
        let ordered = entries
            .windows(2)
            .all(|w| walk_order(&w[0].path, &w[1].path).is_lt());
        let mut real = Vec::new();
        let mut skipped: Vec<&str> = Vec::new();
        for e in entries {
            let under_skipped = skipped.iter().any(|s| is_ancestor(s, &e.path));
            if self.is_maybe_dir(&e.path) && is_ancestor(path, &e.path) {
                if !e.is_dir
                    || under_skipped
                    || position_after(&e.path, start_after) != Position::Emit
                {
                    return Err(describe());
                }
                continue;
            }
            if e.is_dir && skip.contains(&e.path) {
                skipped.push(&e.path);
            }
            real.push(e);
        }
        let same_entries = real.len() == want.len()
            && real.iter().zip(&want).all(|(e, (p, size))| {
                e.path == *p
                    && match size {
                        Some(n) => !e.is_dir && e.size == *n,
                        None => e.is_dir,
                    }
            });
        let same_result = match (error, &want_error) {
            (None, None) => true,
            (Some(a), Some(b)) => a.kind == b.kind,
            _ => false,
        };
        if ordered && same_entries && same_result {
            Ok(())
        } else {
            Err(describe())
        }
    }

    fn apply_move(&mut self, source: &str, dest: &str, got: Option<&Outcome>) -> Verdict {
        if let Some(content) = self.files.get(source).cloned() {
            expect_done(got)?;
            self.files.remove(source);
            self.files.insert(dest.to_owned(), content);
            self.touch_uploads(source);
            self.touch_uploads(dest);
            return Ok(());
        }
        if self.is_dir(source) {
            // The whole subtree moves, or the move fails with nothing changed.
            if matches!(got, Some(Err(_))) {
                return Ok(());
            }
            expect_done(got)
                .map_err(|_| "ok (the subtree moves), or an error (nothing changes)".to_owned())?;
            let under = |p: &str| p == source || is_ancestor(source, p);
            let moved: Vec<String> = self.files.keys().filter(|f| under(f)).cloned().collect();
            for from in moved {
                if let Some(b) = self.files.remove(&from) {
                    self.files
                        .insert(format!("{dest}{}", &from[source.len()..]), b);
                }
            }
            let emptied: Vec<String> = self
                .maybe_dirs
                .iter()
                .filter(|d| under(d))
                .map(|d| format!("{dest}{}", &d[source.len()..]))
                .collect();
            self.maybe_dirs.extend(emptied);
            self.touch_uploads(source);
            self.touch_uploads(dest);
            return Ok(());
        }
        if self.file_above(source).is_some() {
            // A source under a file: an error, of any kind.
            return match got {
                None | Some(Err(_)) => Ok(()),
                Some(Ok(_)) => Err("an error (the source lies under a file)".into()),
            };
        }
        expect_not_found(got)
    }

    fn apply_open(
        &mut self,
        writer: u32,
        path: &str,
        append: bool,
        got: Option<&Outcome>,
    ) -> Verdict {
        self.add_maybe_parents(path);
        let resumed: Option<(Vec<u8>, bool)> = if !append {
            Some((Vec::new(), false))
        } else if let Some(Upload::Known(buf)) = self.uploads.get(path) {
            Some((buf.clone(), false))
        } else {
            // Committed content: a zero-length file resumes at 0; otherwise the driver appends
            // or answers Unsupported.
            self.files
                .get(path)
                .map(|content| (content.to_vec(), !content.is_empty()))
        };
        let Some((buf, may_refuse)) = resumed else {
            return expect_not_found(got);
        };
        let n = buf.len() as u64;
        match got {
            None => {}
            Some(Ok(Answer::Size(m))) if *m == n => {}
            Some(Err(e)) if may_refuse && matches!(e.kind, ErrorKind::Unsupported { .. }) => {
                return Ok(());
            }
            Some(_) => {
                return Err(if may_refuse {
                    format!("a writer with size() = {n}, or Unsupported")
                } else {
                    format!("a writer with size() = {n}")
                });
            }
        }
        self.uploads.remove(path);
        self.writers.insert(
            writer,
            OpenWriter {
                path: path.to_owned(),
                buf,
            },
        );
        Ok(())
    }
}

fn is_not_found(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::PathNotFound { .. })
}

fn expect_done(got: Option<&Outcome>) -> Verdict {
    match got {
        None | Some(Ok(Answer::Done)) => Ok(()),
        Some(_) => Err("ok".into()),
    }
}

fn expect_content(got: Option<&Outcome>, want: &Bytes) -> Verdict {
    let got = match got {
        None => return Ok(()),
        Some(Ok(Answer::Content(b))) => b,
        Some(_) => return Err(format!("{} bytes", want.len())),
    };
    if got == want {
        return Ok(());
    }
    Err(
        match got.iter().zip(want.iter()).position(|(a, b)| a != b) {
            Some(i) => format!(
                "{} bytes (they differ from offset {i}: got 0x{:02x}, expected 0x{:02x})",
                want.len(),
                got[i],
                want[i]
            ),
            None => format!("{} bytes (one is a prefix of the other)", want.len()),
        },
    )
}

/// Expects `PathNotFound` naming any path (the contract lets a driver name the missing parent;
/// only `list` must name the path asked for).
fn expect_not_found(got: Option<&Outcome>) -> Verdict {
    match got {
        None => Ok(()),
        Some(Err(e)) if is_not_found(&e.kind) => Ok(()),
        Some(_) => Err("PathNotFound".into()),
    }
}

/// Expects an error of any kind: reading a directory is an error the contract gives no kind
/// (drivers say `PathNotFound`; a store that keeps directories may fail otherwise).
fn expect_error(got: Option<&Outcome>) -> Verdict {
    match got {
        None | Some(Err(_)) => Ok(()),
        Some(Ok(_)) => Err("an error (reading a directory)".into()),
    }
}

fn expect_kind(got: Option<&Outcome>, kind: &ErrorKind) -> Verdict {
    match got {
        None => Ok(()),
        Some(Err(e)) if e.kind == *kind => Ok(()),
        Some(_) => Err(format!("{kind:?}")),
    }
}
