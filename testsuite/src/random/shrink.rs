//! Shrinking a failing sequence to a short one that fails the same way (the same operation
//! disagrees): cut everything after the failing step, drop chunks of steps (halving the chunk
//! size down to single steps, delta-debugging style), then simplify what is left one step at a
//! time (split batches, shorter contents, offsets at 0, plain walks, the first instance) and
//! rename path components to short ones throughout. Every candidate is replayed from empty
//! storage; a budget of replays bounds the whole search.

use std::collections::BTreeSet;

use super::ops::{Call, Content, Instance, Op, Step};
use super::{Failure, Runner};

/// The search's state: the best sequence so far and what it costs to look further.
struct Search<'a> {
    runner: &'a Runner,
    signature: String,
    steps: Vec<Step>,
    failure: Failure,
    replays: usize,
    budget: usize,
}

impl Search<'_> {
    /// Replays `candidate`; keeps it if it fails the same way. False once the budget is spent.
    async fn attempt(&mut self, mut candidate: Vec<Step>) -> bool {
        if self.replays >= self.budget || candidate == self.steps {
            return false;
        }
        self.replays += 1;
        match self.runner.replay(&candidate).await {
            Err(f) if f.signature == self.signature => {
                candidate.truncate(f.index + 1);
                self.steps = candidate;
                self.failure = f;
                true
            }
            _ => false,
        }
    }

    fn spent(&self) -> bool {
        self.replays >= self.budget
    }

    /// Drops chunks of steps, from half the sequence down to single steps.
    async fn drop_chunks(&mut self) -> bool {
        let mut progress = false;
        let mut chunk = (self.steps.len() / 2).max(1);
        loop {
            let mut removed = false;
            let mut i = 0;
            while i < self.steps.len() && !self.spent() {
                let end = (i + chunk).min(self.steps.len());
                let mut candidate = self.steps[..i].to_vec();
                candidate.extend_from_slice(&self.steps[end..]);
                if self.attempt(candidate).await {
                    removed = true;
                } else {
                    i += chunk;
                }
            }
            progress |= removed;
            if self.spent() || (chunk == 1 && !removed) {
                return progress;
            }
            chunk = (chunk / 2).max(1);
        }
    }

    /// Replaces steps, one at a time, with simpler ones.
    async fn simplify_steps(&mut self) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.steps.len() && !self.spent() {
            for replacement in simpler_steps(&self.steps[i]) {
                let mut candidate = self.steps[..i].to_vec();
                candidate.extend(replacement);
                candidate.extend_from_slice(&self.steps[i + 1..]);
                if self.attempt(candidate).await {
                    progress = true;
                    break;
                }
            }
            i += 1;
        }
        progress
    }

    /// Renames path components throughout the sequence to shorter or earlier ones.
    async fn rename_components(&mut self) -> bool {
        let mut progress = false;
        for name in components(&self.steps) {
            for short in ["a", "b", "c", "d"] {
                if self.spent() {
                    return progress;
                }
                if (short.len(), short) >= (name.len(), name.as_str()) {
                    continue;
                }
                let mut candidate = self.steps.clone();
                rename(&mut candidate, &name, short);
                if self.attempt(candidate).await {
                    progress = true;
                    break;
                }
            }
        }
        progress
    }
}

/// What shrinking found.
pub(crate) struct Shrunk {
    /// The shortest sequence found.
    pub(crate) steps: Vec<Step>,
    /// How it fails.
    pub(crate) failure: Failure,
    /// Replays spent.
    pub(crate) replays: usize,
    /// False when the sequence, replayed as it was, did not fail the same way again (then it is
    /// not shrunk: the disagreement depends on more than the steps).
    pub(crate) reproducible: bool,
}

/// Shrinks `steps`, which fail with `failure`, within `budget` replays.
pub(crate) async fn shrink(
    runner: &Runner,
    mut steps: Vec<Step>,
    failure: Failure,
    budget: usize,
) -> Shrunk {
    steps.truncate(failure.index + 1);
    let mut search = Search {
        runner,
        signature: failure.signature.clone(),
        steps,
        failure,
        replays: 0,
        budget,
    };
    // First the sequence as it is: if it does not fail again, no candidate can be judged.
    if budget > 0 {
        search.replays += 1;
        match runner.replay(&search.steps).await {
            Err(f) if f.signature == search.signature => {}
            _ => {
                return Shrunk {
                    steps: search.steps,
                    failure: search.failure,
                    replays: search.replays,
                    reproducible: false,
                };
            }
        }
    }
    loop {
        let mut progress = search.drop_chunks().await;
        progress |= search.simplify_steps().await;
        progress |= search.rename_components().await;
        if !progress || search.spent() {
            break;
        }
    }
    Shrunk {
        steps: search.steps,
        failure: search.failure,
        replays: search.replays,
        reproducible: true,
    }
}

/// Simpler versions of a step, each a replacement sequence (a batch may become several steps).
fn simpler_steps(step: &Step) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    match step {
        Step::One(call) => {
            for c in simpler_calls(call) {
                out.push(vec![Step::One(c)]);
            }
        }
        Step::Batch(calls) => {
            // One call fewer, then the calls one after another, then simpler calls.
            for j in 0..calls.len() {
                let mut rest = calls.clone();
                rest.remove(j);
                out.push(vec![batch(rest)]);
            }
            out.push(calls.iter().cloned().map(Step::One).collect());
            for (j, call) in calls.iter().enumerate() {
                for c in simpler_calls(call) {
                    let mut changed = calls.clone();
                    changed[j] = c;
                    out.push(vec![Step::Batch(changed)]);
                }
            }
        }
    }
    out
}

fn batch(mut calls: Vec<Call>) -> Step {
    if calls.len() == 1 {
        Step::One(calls.remove(0))
    } else {
        Step::Batch(calls)
    }
}

fn simpler_calls(call: &Call) -> Vec<Call> {
    let mut out = Vec::new();
    if call.on == Instance::Second {
        out.push(Call {
            on: Instance::First,
            op: call.op.clone(),
        });
    }
    let with = |op: Op| Call { on: call.on, op };
    match &call.op {
        Op::PutContent { path, content } => {
            for c in shorter(content) {
                out.push(with(Op::PutContent {
                    path: path.clone(),
                    content: c,
                }));
            }
        }
        Op::Write { writer, content } => {
            for c in shorter(content) {
                out.push(with(Op::Write {
                    writer: *writer,
                    content: c,
                }));
            }
        }
        Op::Read { path, offset } if *offset > 0 => {
            for o in [0, offset / 2] {
                out.push(with(Op::Read {
                    path: path.clone(),
                    offset: o,
                }));
            }
            out.push(with(Op::GetContent { path: path.clone() }));
        }
        Op::Walk {
            path,
            start_after,
            skip,
            end,
        } => {
            let walk = |start_after: &Option<String>, skip: &[String], end: &Option<_>| {
                with(Op::Walk {
                    path: path.clone(),
                    start_after: start_after.clone(),
                    skip: skip.to_vec(),
                    end: end.clone(),
                })
            };
            if start_after.is_some() {
                out.push(walk(&None, skip, end));
            }
            for j in 0..skip.len() {
                let mut fewer = skip.clone();
                fewer.remove(j);
                out.push(walk(start_after, &fewer, end));
            }
            if end.is_some() {
                out.push(walk(start_after, skip, &None));
            }
        }
        Op::OpenWriter {
            writer,
            path,
            append: true,
        } => out.push(with(Op::OpenWriter {
            writer: *writer,
            path: path.clone(),
            append: false,
        })),
        // A new upload becomes a plain put (the writer's later steps are then skipped, and
        // dropped by the next pass).
        Op::OpenWriter {
            path,
            append: false,
            ..
        } => out.push(with(Op::PutContent {
            path: path.clone(),
            content: Content { len: 0, seed: 0 },
        })),
        _ => {}
    }
    // Shallower paths: one path at a time loses its last component.
    let count = call.op.clone().paths_mut().len();
    for k in 0..count {
        let mut op = call.op.clone();
        let mut paths = op.paths_mut();
        let p = &mut paths[k];
        if let Some(cut) = p.rfind('/').filter(|&i| i > 0) {
            p.truncate(cut);
            out.push(with(op));
        }
    }
    out
}

/// Shorter contents, shortest first.
fn shorter(content: &Content) -> Vec<Content> {
    let mut lens = vec![0, 1, content.len / 2];
    lens.retain(|&l| l < content.len);
    lens.dedup();
    lens.into_iter()
        .map(|len| Content {
            len,
            seed: content.seed,
        })
        .collect()
}

/// Every path component the sequence uses, longest first.
fn components(steps: &[Step]) -> Vec<String> {
    let mut names = BTreeSet::new();
    let mut copy = steps.to_vec();
    for step in &mut copy {
        for call in step.calls_mut() {
            for p in call.op.paths_mut() {
                names.extend(p.split('/').filter(|c| !c.is_empty()).map(str::to_owned));
            }
        }
    }
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    names
}

/// Renames the component `from` to `to` in every path of the sequence.
fn rename(steps: &mut [Step], from: &str, to: &str) {
    for step in steps {
        for call in step.calls_mut() {
            for p in call.op.paths_mut() {
                let renamed: Vec<&str> = p
                    .split('/')
                    .map(|c| if c == from { to } else { c })
                    .collect();
                *p = renamed.join("/");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renaming_keeps_paths_valid_and_related() {
        let mut steps = super::super::ops::parse_steps(
            "put_content /a-b/a-b 3B#0001\nwalk / after=/a-b skip=/a-b/x stop=/a-b/a-b",
        )
        .unwrap();
        rename(&mut steps, "a-b", "c");
        let text: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                "put_content /c/c 3B#0001",
                "walk / after=/c skip=/c/x stop=/c/c"
            ]
        );
        assert_eq!(components(&steps), ["c", "x"]);
    }

    #[test]
    fn batches_simplify_into_fewer_or_sequential_calls() {
        let step: Step = "batch put_content /a 4B#0001 | stat@2 /b".parse().unwrap();
        let simpler: Vec<Vec<String>> = simpler_steps(&step)
            .iter()
            .map(|s| s.iter().map(|x| x.to_string()).collect())
            .collect();
        assert!(simpler.contains(&vec!["stat@2 /b".to_owned()]));
        assert!(simpler.contains(&vec![
            "put_content /a 4B#0001".to_owned(),
            "stat@2 /b".to_owned()
        ]));
        assert!(simpler.contains(&vec!["batch put_content /a 0B#0001 | stat@2 /b".to_owned()]));
        assert!(simpler.contains(&vec!["batch put_content /a 4B#0001 | stat /b".to_owned()]));
    }
}
