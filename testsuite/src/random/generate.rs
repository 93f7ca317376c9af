//! The seeded generator: a sequence of steps over a small, crowded tree (few names, so paths
//! collide: `/a`, `/a-b`, `/a.b`, `/a/b`, deep chains), every operation of the contract, writers
//! open across steps and resumed on the other instance, and batches of calls that run at the
//! same time without being able to interfere.
//!
//! The generator keeps its own [`Model`] of the state the steps lead to (taking the contract's
//! plainest answer where a driver has a choice), so most steps do something meaningful: reads
//! of what exists, overwrites, moves of whole directories, resumes of parked uploads. Its random
//! numbers come from SplitMix64, written out here, so a seed names the same sequence whatever
//! the version of any dependency.

use wharf_runtime::RedirectMethod;
use wharf_runtime::path::{ROOT, is_ancestor, join, parent};

use super::model::{Model, Upload};
use super::ops::{Call, Content, Instance, Op, Step, WalkEnd};

/// SplitMix64: tiny, fast, and fixed forever (a seed's sequence never changes).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }

    /// An index chosen with the given weights (not all zero).
    fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut x = self.below(total.max(1));
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// Path components, few and alike, so that paths collide and prefix siblings abound (`a`,
/// `a-b`, `a.b`, `ab` sort around the separator `/`). Repeated entries weigh more.
const NAMES: [&str; 10] = ["a", "a", "a", "b", "b", "a-b", "a-b", "a.b", "ab", "c"];

/// How large the tree may grow before deletes take over.
const CROWDED: usize = 40;

/// The most writers open at once.
const OPEN_WRITERS: usize = 4;

/// What the generator may build, and how.
pub(crate) struct Generator {
    rng: Rng,
    model: Model,
    concurrency: usize,
    next_writer: u32,
}

impl Generator {
    pub(crate) fn new(seed: u64, concurrency: usize) -> Self {
        Self {
            rng: Rng::new(seed),
            model: Model::default(),
            concurrency: concurrency.max(1),
            next_writer: 1,
        }
    }

    /// Steps until they hold at least `ops` calls.
    pub(crate) fn steps(mut self, ops: usize) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut calls = 0;
        while calls < ops {
            let step = if self.concurrency > 1 && self.rng.chance(12) {
                self.batch(ops - calls)
            } else {
                self.call().map(Step::One)
            };
            let Some(step) = step else { continue };
            for call in step.calls() {
                // The simulation takes the plainest answer; it always agrees with itself.
                let _ = self.model.apply(call, None);
            }
            calls += step.calls().len();
            steps.push(step);
        }
        steps
    }

    /// A batch of calls that cannot interfere: readers of one file, or a mix of anything on
    /// unrelated paths.
    fn batch(&mut self, room: usize) -> Option<Step> {
        let size = self.rng.between(2, self.concurrency).min(room.max(2));
        let files: Vec<String> = self.model.files.keys().cloned().collect();
        let mut calls = Vec::new();
        if self.rng.chance(40)
            && let Some(file) = self.rng.pick(&files).cloned()
            && !self.model.in_progress(&file)
        {
            for _ in 0..size {
                let op = match self.rng.below(3) {
                    0 => Op::GetContent { path: file.clone() },
                    1 => Op::Read {
                        offset: self.offset(&file),
                        path: file.clone(),
                    },
                    _ => Op::Stat { path: file.clone() },
                };
                let on = self.instance();
                calls.push(Call { on, op });
            }
        } else {
            for _ in 0..size * 4 {
                if calls.len() == size {
                    break;
                }
                let Some(call) = self.call() else { continue };
                if calls
                    .iter()
                    .all(|other| !interfere(&self.model, &call, other))
                {
                    calls.push(call);
                }
            }
        }
        match calls.len() {
            0 => None,
            1 => calls.pop().map(Step::One),
            _ => Some(Step::Batch(calls)),
        }
    }

    /// One call the model allows, or none after a few tries.
    fn call(&mut self) -> Option<Call> {
        for _ in 0..20 {
            if let Some(call) = self.try_call()
                && self.model.allows(&call)
            {
                return Some(call);
            }
        }
        None
    }

    fn try_call(&mut self) -> Option<Call> {
        let crowded = self.model.files.len() >= CROWDED;
        let writers: Vec<u32> = self.model.writers.keys().copied().collect();
        let open = writers.len();
        let weights = [
            if crowded { 4 } else { 18 },            // put_content
            8,                                       // get_content
            6,                                       // read
            8,                                       // stat
            7,                                       // list
            6,                                       // walk
            7,                                       // move
            if crowded { 30 } else { 7 },            // delete
            2,                                       // redirect_url
            if open < OPEN_WRITERS { 6 } else { 0 }, // writer
            if open > 0 { 10 } else { 0 },           // write
            if open > 0 { 7 } else { 0 },            // commit, close, cancel
        ];
        let on = self.instance();
        let op = match self.rng.weighted(&weights) {
            0 => {
                let path = if self.rng.chance(35) {
                    self.existing_file()?
                } else {
                    self.fresh_path()
                };
                Op::PutContent {
                    path,
                    content: self.content(),
                }
            }
            1 => Op::GetContent {
                path: self.read_path(),
            },
            2 => {
                let path = self.read_path();
                Op::Read {
                    offset: self.offset(&path),
                    path,
                }
            }
            3 => Op::Stat {
                path: if self.rng.chance(5) {
                    ROOT.to_owned()
                } else {
                    self.read_path()
                },
            },
            4 => Op::List {
                path: self.dir_path(),
            },
            5 => self.walk(),
            6 => self.rename()?,
            7 => Op::Delete {
                path: self.delete_path(),
            },
            8 => Op::RedirectUrl {
                method: if self.rng.chance(50) {
                    RedirectMethod::Get
                } else {
                    RedirectMethod::Head
                },
                path: self.read_path(),
            },
            9 => self.open_writer(),
            10 => Op::Write {
                writer: *self.rng.pick(&writers)?,
                content: self.chunk(),
            },
            _ => {
                let writer = *self.rng.pick(&writers)?;
                match self.rng.weighted(&[5, 4, 2]) {
                    0 => Op::Commit { writer },
                    1 => Op::Close { writer },
                    _ => Op::Cancel { writer },
                }
            }
        };
        // Writer operations after the opening run on the writer itself.
        let on = if op.writer().is_some() && !matches!(op, Op::OpenWriter { .. }) {
            Instance::First
        } else {
            on
        };
        Some(Call { on, op })
    }

    fn instance(&mut self) -> Instance {
        if self.rng.chance(20) {
            Instance::Second
        } else {
            Instance::First
        }
    }

    /// Contents: mostly small, some empty, a few of a few hundred KiB.
    fn content(&mut self) -> Content {
        let len = match self.rng.weighted(&[8, 40, 30, 17, 5]) {
            0 => 0,
            1 => self.rng.between(1, 64),
            2 => self.rng.between(65, 4096),
            3 => self.rng.between(4097, 64 << 10),
            _ => self.rng.between((64 << 10) + 1, 300 << 10),
        };
        self.seeded(len)
    }

    /// A writer's chunk: like content, a little smaller.
    fn chunk(&mut self) -> Content {
        let len = match self.rng.weighted(&[5, 45, 35, 13, 2]) {
            0 => 0,
            1 => self.rng.between(1, 64),
            2 => self.rng.between(65, 4096),
            3 => self.rng.between(4097, 64 << 10),
            _ => self.rng.between((64 << 10) + 1, 200 << 10),
        };
        self.seeded(len)
    }

    fn seeded(&mut self, len: usize) -> Content {
        Content {
            len,
            seed: (self.rng.next() & 0xffff) as u16,
        }
    }

    /// A reader offset for `path`: the start, the end, one past it, or somewhere.
    fn offset(&mut self, path: &str) -> u64 {
        let len = self.model.files.get(path).map_or(0, |b| b.len() as u64);
        match self.rng.weighted(&[4, 2, 2, 5, 1]) {
            0 => 0,
            1 => len,
            2 => len + 1,
            3 => self.rng.between(0, len as usize) as u64,
            _ => len + self.rng.between(2, 100) as u64,
        }
    }

    fn existing_file(&mut self) -> Option<String> {
        let files: Vec<String> = self.model.files.keys().cloned().collect();
        self.rng.pick(&files).cloned()
    }

    fn existing_dir(&mut self) -> Option<String> {
        let dirs: Vec<String> = self.model.dirs().into_iter().collect();
        self.rng.pick(&dirs).cloned()
    }

    fn maybe_dir(&mut self) -> Option<String> {
        let dirs: Vec<String> = self.model.maybe_dirs.iter().cloned().collect();
        self.rng.pick(&dirs).cloned()
    }

    /// A path of `NAMES` components, often near what exists: under a directory, a prefix
    /// sibling of a file, or anywhere at a depth of one to six.
    fn fresh_path(&mut self) -> String {
        match self.rng.weighted(&[35, 20, 45]) {
            0 => {
                if let Some(dir) = self.existing_dir() {
                    let mut p = dir;
                    for _ in 0..self.rng.between(1, 2) {
                        p = join(&p, self.name());
                    }
                    return p;
                }
            }
            1 => {
                let known: Vec<String> = self
                    .model
                    .files
                    .keys()
                    .cloned()
                    .chain(self.model.dirs())
                    .collect();
                if let Some(p) = self.rng.pick(&known).cloned() {
                    let suffix = ["-b", ".b", "b", "-", "0"][self.rng.below(5)];
                    return format!("{p}{suffix}");
                }
            }
            _ => {}
        }
        let depth = 1 + self.rng.weighted(&[3, 4, 3, 2, 1, 1]);
        let mut p = String::new();
        for _ in 0..depth {
            p = join(if p.is_empty() { ROOT } else { &p }, self.name());
        }
        p
    }

    fn name(&mut self) -> &'static str {
        NAMES[self.rng.below(NAMES.len())]
    }

    /// A path to read: mostly a file, sometimes a directory, an emptied directory, a path under
    /// a file, or anything.
    fn read_path(&mut self) -> String {
        let picked = match self.rng.weighted(&[55, 15, 8, 7, 15]) {
            0 => self.existing_file(),
            1 => self.existing_dir(),
            2 => self.maybe_dir(),
            3 => self.existing_file().map(|f| join(&f, "x")),
            _ => None,
        };
        picked.unwrap_or_else(|| self.fresh_path())
    }

    /// A path to list or walk: mostly a directory (the root too).
    fn dir_path(&mut self) -> String {
        let picked = match self.rng.weighted(&[20, 45, 12, 10, 13]) {
            0 => Some(ROOT.to_owned()),
            1 => self.existing_dir(),
            2 => self.maybe_dir(),
            3 => self.existing_file(),
            _ => None,
        };
        picked.unwrap_or_else(|| self.fresh_path())
    }

    fn delete_path(&mut self) -> String {
        let crowded = self.model.files.len() >= CROWDED;
        let picked = match self
            .rng
            .weighted(&[45, if crowded { 50 } else { 30 }, 10, 15])
        {
            0 => self.existing_file(),
            1 => {
                // Crowded: clear whole top-level directories.
                let dir = self.existing_dir();
                if crowded {
                    dir.map(|d| {
                        let mut top = d.as_str();
                        while parent(top) != ROOT {
                            top = parent(top);
                        }
                        top.to_owned()
                    })
                } else {
                    dir
                }
            }
            2 => self.maybe_dir(),
            _ => None,
        };
        picked.unwrap_or_else(|| self.fresh_path())
    }

    fn walk(&mut self) -> Op {
        let path = self.dir_path();
        let under: Vec<(String, bool)> = self
            .model
            .files
            .keys()
            .map(|f| (f.clone(), false))
            .chain(self.model.dirs().into_iter().map(|d| (d, true)))
            .filter(|(p, _)| is_ancestor(&path, p))
            .collect();
        let dirs: Vec<String> = under
            .iter()
            .filter(|(_, d)| *d)
            .map(|(p, _)| p.clone())
            .collect();
        let start_after = match self.rng.weighted(&[50, 30, 20]) {
            0 => None,
            1 => self.rng.pick(&under).map(|(p, _)| p.clone()),
            _ => Some(self.fresh_path()),
        };
        let mut skip = Vec::new();
        if self.rng.chance(30) {
            for _ in 0..self.rng.between(1, 2) {
                if let Some(d) = self.rng.pick(&dirs) {
                    skip.push(d.clone());
                }
            }
            skip.sort();
            skip.dedup();
        }
        let end = if self.rng.chance(20) {
            let fail = self.rng.chance(30);
            self.rng.pick(&under).map(|(p, _)| WalkEnd {
                at: p.clone(),
                fail,
            })
        } else {
            None
        };
        Op::Walk {
            path,
            start_after,
            skip,
            end,
        }
    }

    fn rename(&mut self) -> Option<Op> {
        let source = match self.rng.weighted(&[60, 20, 10, 10]) {
            0 => self.existing_file()?,
            1 => self.existing_dir()?,
            2 => self.existing_file().map(|f| join(&f, "x"))?,
            _ => self.fresh_path(),
        };
        let dest = if self.model.is_file(&source) && self.rng.chance(40) {
            self.existing_file()?
        } else {
            self.fresh_path()
        };
        Some(Op::Move { source, dest })
    }

    fn open_writer(&mut self) -> Op {
        let writer = self.next_writer;
        self.next_writer += 1;
        if self.rng.chance(45) {
            let parked: Vec<String> = self
                .model
                .uploads
                .iter()
                .filter(|(_, u)| matches!(u, Upload::Known(_)))
                .map(|(p, _)| p.clone())
                .collect();
            let path = match self.rng.weighted(&[60, 25, 15]) {
                0 => self.rng.pick(&parked).cloned(),
                1 => self.existing_file(),
                _ => None,
            }
            .unwrap_or_else(|| self.fresh_path());
            return Op::OpenWriter {
                writer,
                path,
                append: true,
            };
        }
        // A new upload; now and then over an unknown one, which discards it.
        let unknown: Vec<String> = self
            .model
            .uploads
            .iter()
            .filter(|(_, u)| **u == Upload::Unknown)
            .map(|(p, _)| p.clone())
            .collect();
        let path = match self.rng.weighted(&[10, 30, 60]) {
            0 => self.rng.pick(&unknown).cloned(),
            1 => self.existing_file(),
            _ => None,
        }
        .unwrap_or_else(|| self.fresh_path());
        Op::OpenWriter {
            writer,
            path,
            append: false,
        }
    }
}

/// The paths a call reads or changes; `true` for a change.
fn footprint(model: &Model, call: &Call) -> Vec<(String, bool)> {
    match &call.op {
        Op::PutContent { path, .. } | Op::Delete { path } | Op::OpenWriter { path, .. } => {
            vec![(path.clone(), true)]
        }
        Op::Move { source, dest } => vec![(source.clone(), true), (dest.clone(), true)],
        Op::GetContent { path }
        | Op::Read { path, .. }
        | Op::Stat { path }
        | Op::List { path }
        | Op::RedirectUrl { path, .. }
        | Op::Walk { path, .. } => vec![(path.clone(), false)],
        Op::Write { writer, .. }
        | Op::Commit { writer }
        | Op::Close { writer }
        | Op::Cancel { writer } => model
            .writer_path(*writer)
            .map(|p| vec![(p.to_owned(), true)])
            .unwrap_or_default(),
    }
}

/// True when two calls of a batch could see or change each other's effects: one changes a
/// path equal to, above or below a path the other touches (or both name the same writer).
pub(crate) fn interfere(model: &Model, a: &Call, b: &Call) -> bool {
    if a.op.writer().is_some() && a.op.writer() == b.op.writer() {
        return true;
    }
    let (fa, fb) = (footprint(model, a), footprint(model, b));
    fa.iter().any(|(p, change_p)| {
        fb.iter().any(|(q, change_q)| {
            (*change_p || *change_q) && (p == q || is_ancestor(p, q) || is_ancestor(q, p))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_of_a_seed_is_fixed() {
        let mut rng = Rng::new(7);
        let first: Vec<u64> = (0..3).map(|_| rng.next()).collect();
        assert_eq!(
            first,
            [
                0x63cb_e1e4_5932_0dd7,
                0x044c_3cd7_f43c_661c,
                0xe698_4080_bab1_2a02
            ]
        );
    }

    #[test]
    fn weights_are_respected() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert_ne!(rng.weighted(&[3, 0, 5]), 1);
        }
    }
}
