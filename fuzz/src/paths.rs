//! Target `paths`: the path rules of CONTRACT §1 (`wharf_runtime::path`, which re-exports
//! `wharf_contract::path`). Paths are built from pieces that make valid paths, near misses (`.`,
//! `..`, `//`, a trailing `/`) and any other character; the rules are checked against a model
//! written another way (a byte-by-byte recogniser, component lists), pair by pair for the
//! relations (`is_ancestor`, `walk_order`) and three at a time for the order's transitivity.

use std::cmp::Ordering;

use bolero::TypeGenerator;
use wharf_runtime::ErrorKind;
use wharf_runtime::path::{
    ROOT, base_name, components, is_ancestor, is_valid, join, parent, validate,
    validate_allow_root, walk_order,
};

/// One piece of a path.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Piece {
    /// `/`.
    Slash,
    /// `.`.
    Dot,
    /// One of a few letters (few, so that paths share prefixes and components).
    Letter(u8),
    /// An upper-case letter.
    Upper(u8),
    /// A digit.
    Digit(u8),
    /// `-`.
    Dash,
    /// `_`.
    Underscore,
    /// Any character at all (spaces, `\`, `:`, `%`, control characters, non-ASCII).
    Other(char),
}

impl Piece {
    fn push_to(&self, s: &mut String) {
        match self {
            Piece::Slash => s.push('/'),
            Piece::Dot => s.push('.'),
            Piece::Letter(n) => s.push(char::from(b'a' + n % 3)),
            Piece::Upper(n) => s.push(char::from(b'A' + n % 26)),
            Piece::Digit(n) => s.push(char::from(b'0' + n % 10)),
            Piece::Dash => s.push('-'),
            Piece::Underscore => s.push('_'),
            Piece::Other(c) => s.push(*c),
        }
    }
}

/// Three paths of pieces (the first starting with `/` unless `relative`, the others with `/` or
/// with the path before them) and one arbitrary string.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Input {
    /// Pieces of the first path.
    #[generator(bolero::produce::<Vec<Piece>>().with().len(0usize..=10))]
    pub a: Vec<Piece>,
    /// Pieces of the second path.
    #[generator(bolero::produce::<Vec<Piece>>().with().len(0usize..=10))]
    pub b: Vec<Piece>,
    /// Pieces of the third path.
    #[generator(bolero::produce::<Vec<Piece>>().with().len(0usize..=10))]
    pub c: Vec<Piece>,
    /// Leave out the leading `/` of the first path.
    pub relative: bool,
    /// Start the second path with the first (so one is often an ancestor of the other).
    pub b_under_a: bool,
    /// Start the third path with the second.
    pub c_under_b: bool,
    /// Any text at all.
    #[generator(bolero::produce::<String>().with().len(0usize..=16))]
    pub raw: String,
}

impl Input {
    /// The four candidate paths.
    pub fn candidates(&self) -> Vec<String> {
        let path = |start: &str, pieces: &[Piece]| {
            let mut s = start.to_owned();
            for p in pieces {
                p.push_to(&mut s);
            }
            s
        };
        let a = path(if self.relative { "" } else { "/" }, &self.a);
        let b = path(if self.b_under_a { &a } else { "/" }, &self.b);
        let c = path(if self.c_under_b { &b } else { "/" }, &self.c);
        vec![a, b, c, self.raw.clone()]
    }
}

/// The grammar `^(/[A-Za-z0-9._-]+)+$` without `.` and `..` components, recognised byte by byte
/// (the rules split on `/`; this model does not).
pub fn model_is_valid(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    // The current component: its length, and whether it is all dots.
    let (mut len, mut dots) = (0usize, 0usize);
    for &b in &bytes[1..] {
        if b == b'/' {
            if len == 0 || (dots == len && len <= 2) {
                return false;
            }
            (len, dots) = (0, 0);
        } else if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            len += 1;
            if b == b'.' {
                dots += 1;
            }
        } else {
            return false;
        }
    }
    len > 0 && !(dots == len && len <= 2)
}

/// The walk order's model: component-wise byte order is plain byte order once `/` is replaced by
/// a byte below every byte a component may hold.
fn model_walk_order(a: &str, b: &str) -> Ordering {
    let key = |s: &str| -> Vec<u8> {
        s.bytes()
            .map(|c| if c == b'/' { 0 } else { c })
            .skip_while(|&c| c == 0)
            .collect()
    };
    key(a).cmp(&key(b))
}

/// The components of a valid path, or none for the root.
fn parts(path: &str) -> Vec<&str> {
    if path == ROOT {
        Vec::new()
    } else {
        path[1..].split('/').collect()
    }
}

/// Checks every rule on the input's paths.
pub fn check(input: &Input) {
    let candidates = input.candidates();
    let mut valid: Vec<&str> = vec![ROOT];
    for path in &candidates {
        check_one(path);
        if is_valid(path) {
            valid.push(path);
        }
    }
    for &a in &valid {
        for &b in &valid {
            check_pair(a, b);
            for &c in &valid {
                if walk_order(a, b).is_lt() && walk_order(b, c).is_lt() {
                    assert!(
                        walk_order(a, c).is_lt(),
                        "{a} < {b} < {c} but not {a} < {c}"
                    );
                }
            }
        }
    }
    // Sorted in walk order, every directory comes before what is under it.
    let mut sorted = valid.clone();
    sorted.sort_by(|a, b| walk_order(a, b));
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[..i] {
            assert!(!is_ancestor(a, b), "{b} sorted before its ancestor {a}");
        }
    }
}

/// Validation and the helpers on one path.
fn check_one(path: &str) {
    let model = model_is_valid(path);
    assert_eq!(is_valid(path), model, "is_valid({path:?})");
    match validate(path) {
        Ok(()) => assert!(model, "validate accepted {path:?}"),
        Err(e) => {
            assert!(!model, "validate refused {path:?}: {e}");
            assert_eq!(
                e.kind(),
                &ErrorKind::InvalidPath {
                    path: path.to_owned()
                },
                "the error names the path"
            );
        }
    }
    match validate_allow_root(path) {
        Ok(()) => assert!(
            model || path == ROOT,
            "validate_allow_root accepted {path:?}"
        ),
        Err(e) => {
            assert!(
                !model && path != ROOT,
                "validate_allow_root refused {path:?}"
            );
            assert!(
                matches!(e.kind(), ErrorKind::InvalidPath { path: p } if p == path),
                "{e:?}"
            );
        }
    }
    if !model {
        return;
    }
    let comps: Vec<&str> = components(path).collect();
    assert_eq!(comps, parts(path), "components of {path}");
    assert_eq!(format!("/{}", comps.join("/")), path, "components rejoined");
    assert!(comps.iter().all(|c| is_valid(&format!("/{c}"))));
    let up = parent(path);
    assert!(up == ROOT || is_valid(up), "parent of {path} is {up:?}");
    assert_eq!(
        join(up, base_name(path)),
        path,
        "parent joined with the base name"
    );
    assert_eq!(
        base_name(path),
        *comps.last().expect("a valid path has a component")
    );
    assert!(is_ancestor(up, path), "{up} is the parent of {path}");
    assert!(!is_ancestor(path, up));
    assert!(is_ancestor(ROOT, path));
    assert!(!is_ancestor(path, path));
    assert_eq!(walk_order(up, path), Ordering::Less);
    assert_eq!(walk_order(path, path), Ordering::Equal);
    // Every strict prefix that ends before a `/` is an ancestor (and the root); no other prefix
    // is.
    for (i, _) in path.match_indices('/').skip(1) {
        assert!(is_ancestor(&path[..i], path), "{} of {path}", &path[..i]);
    }
    for cut in 2..path.len() {
        if path.is_char_boundary(cut) && path.as_bytes()[cut] != b'/' {
            assert!(
                !is_ancestor(&path[..cut], path),
                "{} of {path}",
                &path[..cut]
            );
        }
    }
}

/// The relations between two valid paths (the root included).
fn check_pair(a: &str, b: &str) {
    let (pa, pb) = (parts(a), parts(b));
    let model_ancestor = pa.len() < pb.len() && pb[..pa.len()] == pa[..];
    assert_eq!(is_ancestor(a, b), model_ancestor, "is_ancestor({a}, {b})");
    let order = walk_order(a, b);
    assert_eq!(order, model_walk_order(a, b), "walk_order({a}, {b})");
    assert_eq!(
        order,
        walk_order(b, a).reverse(),
        "walk_order is antisymmetric"
    );
    assert_eq!(
        order.is_eq(),
        a == b,
        "walk_order({a}, {b}) is equal only for one path"
    );
    if model_ancestor {
        assert!(!is_ancestor(b, a));
        assert!(order.is_lt(), "{a} comes before {b}, under it");
        assert!(b.starts_with(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_contract::path::examples;

    #[test]
    fn the_model_agrees_with_the_contract_examples() {
        for p in examples::REFERENCE_VALID
            .iter()
            .chain(&examples::DOTTED_VALID)
        {
            assert!(model_is_valid(p), "{p}");
        }
        for p in examples::INVALID {
            assert!(!model_is_valid(p), "{p:?}");
        }
        assert!(!model_is_valid("/"));
        assert_eq!(model_walk_order("/a/c", "/a-b"), Ordering::Less);
        assert_eq!(model_walk_order("/", "/a"), Ordering::Less);
    }
}
