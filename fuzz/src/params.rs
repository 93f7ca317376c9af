//! Target `params`: typed parameters (`wharf_runtime::params`, with the scalar readers of
//! `wharf_contract::params`). Texts are built from pieces that make numbers, sizes, durations and
//! booleans, near misses and any character. What parses is rendered again in every form the
//! reader documents and must read back as the same value; each getter agrees with its reader;
//! an error names the key; a secret's value never shows, in `Debug` or in any error; `finish`
//! names a key nobody took.

use std::time::Duration;

use bolero::TypeGenerator;
use wharf_runtime::params::{
    Params, Secret, Value, is_secret_key, parse_duration, parse_integer, parse_size,
};
use wharf_runtime::{Error, ErrorKind};

/// One piece of a parameter's text.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Bit {
    /// A small decimal number.
    Small(u16),
    /// Any decimal number.
    Digits(u64),
    /// A radix prefix: `0x`, `0X`, `0o`, `0b`.
    Prefix(u8),
    /// Hexadecimal digits.
    Hex(u32),
    /// A unit of sizes or durations, or a near miss.
    Unit(u8),
    /// A word of booleans, or a near miss.
    Word(u8),
    /// `.`.
    Dot,
    /// ` `.
    Space,
    /// `+`.
    Plus,
    /// `-`.
    Minus,
    /// `_`.
    Underscore,
    /// Any character.
    Other(char),
}

const UNITS: [&str; 32] = [
    "b", "k", "K", "kb", "KB", "kib", "KiB", "m", "M", "mb", "MiB", "g", "G", "GB", "gib", "t",
    "TiB", "tb", "ns", "us", "ms", "s", "sec", "min", "h", "hours", "d", "w", "months", "y",
    "parsecs", "e3",
];
const WORDS: [&str; 10] = [
    "true", "false", "yes", "no", "on", "off", "TRUE", "On", "maybe", "nil",
];

/// The number a text starts with.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Number {
    /// A small decimal number.
    Small(u16),
    /// Any decimal number.
    Big(u64),
    /// A number with a radix prefix (`0x`, `0X`, `0o`, `0b`) in that radix.
    Radix(u8, u64),
    /// A decimal fraction.
    Fraction(u16, u8),
    /// A decimal number with `_` between groups of digits.
    Grouped(u32),
    /// A word of booleans, or a near miss.
    Word(u8),
    /// None.
    Empty,
}

/// The sign before a number.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Sign {
    /// None.
    Unsigned,
    /// `+`.
    Plus,
    /// `-`.
    Minus,
}

/// A parameter's text, shaped like the values parameters take: a number, a unit, and maybe
/// more pieces (`1h30m`, `10 MiB`, `0x10`, `yes`, `5 parsecs`).
#[derive(Debug, Clone, TypeGenerator)]
pub struct Text {
    /// The sign.
    pub sign: Sign,
    /// The number.
    pub number: Number,
    /// A space between number and unit.
    pub space: bool,
    /// The unit, if any.
    pub unit: Option<u8>,
    /// More pieces after it, if any.
    #[generator(bolero::produce::<Option<Vec<Bit>>>())]
    pub tail: Option<Vec<Bit>>,
}

impl Text {
    /// The text.
    pub fn render(&self) -> String {
        let mut s = match self.sign {
            Sign::Unsigned => String::new(),
            Sign::Plus => "+".into(),
            Sign::Minus => "-".into(),
        };
        match &self.number {
            Number::Small(n) => s.push_str(&n.to_string()),
            Number::Big(n) => s.push_str(&n.to_string()),
            Number::Radix(p, n) => {
                let (prefix, digits) = match p % 4 {
                    0 => ("0x", format!("{n:x}")),
                    1 => ("0X", format!("{n:X}")),
                    2 => ("0o", format!("{n:o}")),
                    _ => ("0b", format!("{n:b}")),
                };
                s.push_str(prefix);
                s.push_str(&digits);
            }
            Number::Fraction(n, f) => s.push_str(&format!("{n}.{f}")),
            Number::Grouped(n) => s.push_str(&group(&n.to_string())),
            Number::Word(n) => s.push_str(WORDS[usize::from(*n) % WORDS.len()]),
            Number::Empty => {}
        }
        if self.space {
            s.push(' ');
        }
        if let Some(u) = self.unit {
            s.push_str(UNITS[usize::from(u) % UNITS.len()]);
        }
        if let Some(tail) = &self.tail {
            s.push_str(&text(&tail[..tail.len().min(3)]));
        }
        s
    }
}

/// A text made of bits.
pub fn text(bits: &[Bit]) -> String {
    let mut s = String::new();
    for bit in bits {
        match bit {
            Bit::Small(n) => s.push_str(&n.to_string()),
            Bit::Digits(n) => s.push_str(&n.to_string()),
            Bit::Prefix(n) => s.push_str(["0x", "0X", "0o", "0b"][usize::from(n % 4)]),
            Bit::Hex(n) => s.push_str(&format!("{n:x}")),
            Bit::Unit(n) => s.push_str(UNITS[usize::from(*n) % UNITS.len()]),
            Bit::Word(n) => s.push_str(WORDS[usize::from(*n) % WORDS.len()]),
            Bit::Dot => s.push('.'),
            Bit::Space => s.push(' '),
            Bit::Plus => s.push('+'),
            Bit::Minus => s.push('-'),
            Bit::Underscore => s.push('_'),
            Bit::Other(c) => s.push(*c),
        }
    }
    s
}

/// Which key a value is stored under.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Key {
    /// A plain key.
    Plain(u8),
    /// A key whose value must never show.
    Secret(u8),
    /// Any text.
    Any(#[generator(bolero::produce::<String>().with().len(0usize..=12))] String),
}

const PLAIN_KEYS: [&str; 4] = ["maxthreads", "chunksize", "Region", "rootdirectory"];
const SECRET_KEYS: [&str; 8] = [
    "secretkey",
    "AccountKey",
    "password",
    "token",
    "client_secret",
    "keyfile_contents",
    "privatekey",
    "accesskey",
];

impl Key {
    fn name(&self) -> String {
        match self {
            Key::Plain(n) => PLAIN_KEYS[usize::from(*n) % PLAIN_KEYS.len()].to_owned(),
            Key::Secret(n) => SECRET_KEYS[usize::from(*n) % SECRET_KEYS.len()].to_owned(),
            Key::Any(s) => s.clone(),
        }
    }
}

/// The form of the value under test.
#[derive(Debug, Clone, TypeGenerator)]
pub enum Shape {
    /// The text.
    Text,
    /// The integer.
    Int,
    /// The float.
    Float,
    /// The boolean.
    Bool,
    /// A list holding the text.
    List,
    /// A map holding the text under a secret key and under a plain one.
    Map,
    /// Nothing.
    Null,
}

/// A value under a key, and the other keys a driver might take.
#[derive(Debug, Clone, TypeGenerator)]
pub struct Input {
    /// The key of the value.
    pub key: Key,
    /// The value's text.
    pub text: Text,
    /// The value as an integer.
    pub int: i64,
    /// The value as a float.
    pub float: f64,
    /// The value as a boolean.
    pub flag: bool,
    /// Which form is stored.
    pub shape: Shape,
    /// More keys beside it.
    #[generator(bolero::produce::<Vec<Key>>().with().len(0usize..=8))]
    pub others: Vec<Key>,
    /// Bits: which keys are taken before `finish`.
    pub taken: u32,
}

impl Input {
    fn value(&self) -> Value {
        let t = self.text.render();
        match self.shape {
            Shape::Text => Value::String(t),
            Shape::Int => Value::Int(self.int),
            Shape::Float => Value::Float(self.float),
            Shape::Bool => Value::Bool(self.flag),
            Shape::List => Value::List(vec![Value::String(t)]),
            Shape::Map => Value::Map(
                [
                    ("password".to_owned(), Value::String(t.clone())),
                    ("region".to_owned(), Value::String(t)),
                ]
                .into(),
            ),
            Shape::Null => Value::Null,
        }
    }
}

/// Checks the scalar readers, the getters, redaction and `finish`.
pub fn check(input: &Input) {
    let s = input.text.render();
    check_scalars(&s);
    let key = input.key.name();
    let value = input.value();
    check_getters(&key, &value);
    if is_secret_key(&key) {
        check_redaction(&key, &value, &input.shape);
    }
    check_nested_redaction(&s);
    check_finish(input, &key, value);
}

/// Every form a parsed value can be written in reads back as that value.
fn check_scalars(s: &str) {
    if let Some(b) = wharf_contract::params::parse_bool(s) {
        assert_eq!(wharf_contract::params::parse_bool(&b.to_string()), Some(b));
    }
    if let Some(n) = parse_integer(s) {
        for form in [
            n.to_string(),
            format!("+{n}"),
            format!("{n:#x}"),
            format!("{n:#X}").replacen("0X", "0x", 1),
            format!("{n:#o}"),
            format!("{n:#b}"),
            group(&n.to_string()),
            format!(" {n} "),
        ] {
            assert_eq!(parse_integer(&form), Some(n), "{form:?}, from {s:?}");
        }
        assert_eq!(parse_size(s), Some(n), "an integer is a size: {s:?}");
    }
    if let Some(n) = parse_size(s) {
        assert_eq!(parse_size(&n.to_string()), Some(n), "from {s:?}");
        for (unit, m) in [
            ("k", 1u64 << 10),
            ("KiB", 1 << 10),
            ("M", 1 << 20),
            ("mib", 1 << 20),
            ("G", 1 << 30),
            ("GiB", 1 << 30),
            ("TiB", 1 << 40),
            ("kb", 1_000),
            ("MB", 1_000_000),
            ("gb", 1_000_000_000),
            ("TB", 1_000_000_000_000),
        ] {
            if n % m == 0 {
                for form in [format!("{}{unit}", n / m), format!("{} {unit}", n / m)] {
                    assert_eq!(parse_size(&form), Some(n), "{form:?}, from {s:?}");
                }
            }
        }
    }
    if let Some(d) = parse_duration(s) {
        let form = humantime::format_duration(d).to_string();
        assert_eq!(parse_duration(&form), Some(d), "{form:?}, from {s:?}");
        if d.subsec_nanos() == 0 {
            let form = d.as_secs().to_string();
            assert_eq!(parse_duration(&form), Some(d), "{form:?}, from {s:?}");
        }
    }
}

/// `1234567` as `1_234_567`.
fn group(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// The error of a getter names the key (lowercase, as stored).
fn names_key(e: &Error, key: &str) {
    assert_eq!(
        e.kind(),
        &ErrorKind::InvalidParameter {
            key: key.to_ascii_lowercase()
        },
        "{e}"
    );
}

/// Each getter gives what its reader gives, or an error naming the key.
fn check_getters(key: &str, value: &Value) {
    let k = key.to_ascii_lowercase();
    let fresh = || Params::from_pairs([(key.to_owned(), value.clone())]);
    let null = matches!(value, Value::Null);

    let got = fresh().bool(&k);
    let expected = match value {
        Value::Bool(b) => Some(*b),
        Value::Int(0) => Some(false),
        Value::Int(1) => Some(true),
        Value::String(s) => wharf_contract::params::parse_bool(s),
        _ => None,
    };
    agrees(got, expected, null, key);

    let got = fresh().u64(&k);
    let expected = match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::Float(x) if x.fract() == 0.0 && *x >= 0.0 && *x < 1.8e19 => Some(*x as u64),
        Value::String(s) => parse_integer(s),
        _ => None,
    };
    agrees(got, expected, null, key);

    let got = fresh().size(&k);
    let expected = match value {
        Value::Int(i) => u64::try_from(*i).ok(),
        Value::String(s) => parse_size(s),
        _ => None,
    };
    agrees(got, expected, null, key);

    let got = fresh().duration(&k);
    let expected = match value {
        Value::Int(i) => u64::try_from(*i).ok().map(Duration::from_secs),
        Value::String(s) => parse_duration(s),
        _ => None,
    };
    agrees(got, expected, null, key);

    let got = fresh().string(&k);
    let expected = match value {
        Value::String(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(x) => Some(x.to_string()),
        _ => None,
    };
    agrees(got, expected, null, key);

    let got = fresh().secret(&k);
    let expected = match value {
        Value::String(s) => Some(Secret::new(s.clone())),
        Value::Int(i) => Some(Secret::new(i.to_string())),
        _ => None,
    };
    agrees(got, expected, null, key);

    match (fresh().map(&k), value) {
        (Ok(None), Value::Null) => {}
        (Ok(Some(nested)), Value::Map(m)) => {
            assert_eq!(nested.keys().count(), m.len());
            nested
                .finish()
                .expect_err("nothing of the nested map was taken");
        }
        (Err(e), v) if !matches!(v, Value::Map(_) | Value::Null) => names_key(&e, key),
        (other, v) => panic!("map({k}) of {v:?}: {other:?}"),
    }
}

/// A getter's result against the model: the value, nothing for `Null`, else an error naming the
/// key.
fn agrees<T: PartialEq + std::fmt::Debug>(
    got: wharf_runtime::Result<Option<T>>,
    expected: Option<T>,
    null: bool,
    key: &str,
) {
    match (got, expected) {
        (Ok(None), _) if null => {}
        (Ok(Some(v)), Some(e)) => assert_eq!(v, e, "{key}"),
        (Err(e), None) if !null => names_key(&e, key),
        (got, expected) => panic!("{key}: got {got:?}, expected {expected:?} (null: {null})"),
    }
}

/// The value of a secret key shows nowhere: `Debug` and every error read the same whatever it
/// is.
fn check_redaction(key: &str, value: &Value, shape: &Shape) {
    let k = key.to_ascii_lowercase();
    // Another value of the same form that no getter reads as a number, size, duration or
    // boolean.
    let other = match shape {
        Shape::Text => Value::String("other-secret".into()),
        Shape::Int => Value::Int(-424_242),
        Shape::Float => Value::Float(-0.5),
        Shape::Bool => Value::Bool(true),
        Shape::List => Value::List(vec![Value::String("other-secret".into())]),
        Shape::Map => Value::Map([("password".to_owned(), Value::from("other"))].into()),
        Shape::Null => Value::Null,
    };
    let with = |v: &Value| Params::from_pairs([(key.to_owned(), v.clone())]);
    let debug = |v: &Value| format!("{:?}", with(v));
    assert_eq!(debug(value), debug(&other), "Debug shows the secret");
    let errors = |v: &Value| -> Vec<Option<String>> {
        let text = |r: Result<(), Error>| r.err().map(|e| format!("{e:#} {e:?}"));
        vec![
            text(with(v).bool(&k).map(drop)),
            text(with(v).u64(&k).map(drop)),
            text(with(v).size(&k).map(drop)),
            text(with(v).duration(&k).map(drop)),
            text(with(v).string(&k).map(drop)),
            text(with(v).secret(&k).map(drop)),
            text(with(v).map(&k).map(drop)),
        ]
    };
    for (mine, theirs) in errors(value).into_iter().zip(errors(&other)) {
        if let (Some(mine), Some(theirs)) = (mine, theirs) {
            assert_eq!(mine, theirs, "an error shows the secret");
        }
    }
    if let Ok(Some(secret)) = with(value).secret(&k) {
        assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
    }
}

/// A secret key's value inside a map under a plain key shows nowhere either.
fn check_nested_redaction(secret: &str) {
    let debug = |v: &str| {
        let nested = Value::Map(
            [
                ("accountkey".to_owned(), Value::from(v)),
                ("region".to_owned(), Value::from("eu")),
            ]
            .into(),
        );
        format!("{:?}", Params::from_pairs([("credentials", nested)]))
    };
    assert_eq!(
        debug(secret),
        debug("other-secret"),
        "Debug shows a nested secret"
    );
}

/// `finish` fails exactly when a key was not taken, naming the first such key.
fn check_finish(input: &Input, key: &str, value: Value) {
    let mut pairs = vec![(key.to_owned(), value)];
    pairs.extend(
        input
            .others
            .iter()
            .take(8)
            .map(|k| (k.name(), Value::from("x"))),
    );
    let mut params = Params::from_pairs(pairs);
    let keys: Vec<String> = params.keys().map(str::to_owned).collect();
    let mut left = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if input.taken & (1 << i) != 0 {
            params.mark_taken(k);
        } else {
            left.push(k.clone());
        }
    }
    match (params.finish(), left.first()) {
        (Ok(()), None) => {}
        (Err(e), Some(first)) => {
            assert_eq!(
                e.kind(),
                &ErrorKind::InvalidParameter { key: first.clone() }
            );
            assert!(e.to_string().contains("unknown parameter"), "{e}");
        }
        (got, left) => panic!("finish: {got:?} with {left:?} untaken"),
    }
}
