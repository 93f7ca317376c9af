//! Scalar parameter values read from their text (CONTRACT §5): what a host's configuration
//! hands a driver as a string where it means a boolean, an integer, a size or a duration. Each reader returns
//! `None` for text that is not of its form; the caller names the key and quotes the `EXPECTED_*`
//! form in its error.

/// What [`parse_bool`] accepts, for error messages.
pub const EXPECTED_BOOL: &str = "a boolean (true or false)";
/// What [`parse_integer`] accepts, for error messages.
pub const EXPECTED_INTEGER: &str = "a non-negative integer (e.g. 10 or 0x10)";
/// What [`parse_size`] accepts, for error messages.
pub const EXPECTED_SIZE: &str = "a size in bytes (e.g. 10485760 or 10MiB)";
/// What [`parse_duration`] accepts, for error messages.
pub const EXPECTED_DURATION: &str = "a duration (e.g. 100ms, 30s, 5m)";

/// A boolean: `true`, `false`, `yes`, `no`, `on`, `off`, `1`, `0` (any case, surrounding white
/// space ignored).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A non-negative integer in decimal (an optional leading `+`, as Go's `strconv` reads it), `0x`
/// hex, `0o` octal or `0b` binary, with optional `_` separators.
pub fn parse_integer(s: &str) -> Option<u64> {
    let lower = s.trim().replace('_', "").to_ascii_lowercase();
    let (digits, radix) = if let Some(hex) = lower.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = lower.strip_prefix("0o") {
        (oct, 8)
    } else if let Some(bin) = lower.strip_prefix("0b") {
        (bin, 2)
    } else {
        (lower.as_str(), 10)
    };
    // A sign belongs before the prefix, never after it (`0x+10` is not a number).
    if radix != 10 && digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// A byte size: an integer ([`parse_integer`]), or a decimal number with a unit (`10MiB`, `5mb`,
/// `1G`, `512k`, `1.5GiB`). Binary units (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024; decimal
/// ones (`KB`, `MB`, …) of 1000; a bare letter (`K`, `M`, `G`, `T`) is read as binary, as most
/// registry configurations mean it. The value is exact: a fraction of a byte, more than
/// `u64::MAX` bytes, or a fraction written with more than 38 significant digits is refused.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(n) = parse_integer(s) {
        return Some(n);
    }
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = s.split_at(split);
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    };
    decimal_times(number.trim(), multiplier)
}

/// `number` (decimal digits, at most one `.`, an optional leading `+`) times `multiplier`, when
/// that is a whole number of at most `u64::MAX`.
fn decimal_times(number: &str, multiplier: u64) -> Option<u64> {
    let number = number.strip_prefix('+').unwrap_or(number);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    // Past 20 digits a whole part overflows u64. Every unit's exact fractions fit in 40 digits
    // (2^-40 has 40); a fraction of more is never a whole number of bytes.
    if whole.len() > 20 || fraction.len() > 40 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let multiplier = u128::from(multiplier);
    let fraction_bytes = if fraction.is_empty() {
        0
    } else {
        // numerator / 10^len × multiplier is whole exactly when 10^len, without the factors of
        // 2 and 5 it shares with the multiplier, divides the numerator. (More than 38
        // significant digits do not fit a u128 and are refused.)
        let numerator: u128 = fraction.parse().ok()?;
        let len = fraction.len() as u32;
        let twos = multiplier.trailing_zeros().min(len);
        let mut fives = 0;
        let mut rest = multiplier >> twos;
        while fives < len && rest.is_multiple_of(5) {
            rest /= 5;
            fives += 1;
        }
        let scale = 2u128
            .checked_pow(len - twos)
            .and_then(|t| t.checked_mul(5u128.checked_pow(len - fives)?));
        // A scale past u128 is larger than any numerator that fits one: not whole.
        let scale = scale?;
        if !numerator.is_multiple_of(scale) {
            return None;
        }
        numerator / scale * rest
    };
    let bytes = whole * multiplier + fraction_bytes;
    u64::try_from(bytes).ok()
}

/// A duration such as `100ms`, `30s`, `5m`, `1h30m`, `2.5s` (humantime's units: ns, us, ms, s,
/// m, h, d, …); a bare integer is seconds.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let s = s.trim();
    match s.parse::<u64>() {
        Ok(secs) => Some(std::time::Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(s).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (text, value) in [("Yes", true), (" on ", true), ("1", true), ("OFF", false)] {
            assert_eq!(parse_bool(text), Some(value), "{text:?}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_integer("10"), Some(10));
        assert_eq!(parse_integer("+10"), Some(10));
        assert_eq!(parse_integer("1_000"), Some(1000));
        assert_eq!(parse_integer("0x10"), Some(16));
        assert_eq!(parse_integer("0X1f"), Some(31));
        assert_eq!(parse_integer("0b101"), Some(5));
        assert_eq!(parse_integer("0o17"), Some(15));
        assert_eq!(parse_integer("0x+10"), None);
        assert_eq!(parse_integer("-5"), None);
        assert_eq!(parse_integer("++5"), None);
        assert_eq!(parse_integer(""), None);
        assert_eq!(parse_integer("ten"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Some(10 << 20));
        assert_eq!(parse_size("5mb"), Some(5_000_000));
        assert_eq!(parse_size("512k"), Some(512 * 1024));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("1.3"), None);
        assert_eq!(parse_size("0.5b"), None);
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("5 parsecs"), None);
        // Exact past 2^53, where a float would round.
        assert_eq!(parse_size("9007199254740993B"), Some(9_007_199_254_740_993));
        assert_eq!(parse_size("18446744073709551615 b"), Some(u64::MAX));
        assert_eq!(parse_size("18446744073709551616b"), None);
        assert_eq!(parse_size("16777216TiB"), None);
        assert_eq!(parse_size("16777215.999999999999TiB"), None);
        assert_eq!(
            parse_size("17179869183.5GiB"),
            Some(u64::MAX - ((1 << 29) - 1))
        );
        assert_eq!(parse_size("+.5k"), Some(512));
        assert_eq!(parse_size("2.MB"), Some(2_000_000));
        assert_eq!(parse_size("0000000000000000000000001k"), Some(1024));
        assert_eq!(parse_size("1.0000000000000000000000k"), Some(1024));
        assert_eq!(parse_size("1.0009765625k"), Some(1025));
        assert_eq!(parse_size("1.00097656249k"), None);
        // A binary unit's fraction may need more digits than any decimal one: 2^-20 MiB.
        assert_eq!(parse_size("0.00000095367431640625MiB"), Some(1));
        assert_eq!(
            parse_size("0.0000000000009094947017729282379150390625TiB"),
            Some(1)
        );
        assert_eq!(
            parse_size("0.00000000000090949470177292823791503906TiB"),
            None
        );
        for refused in [
            ".k", "k", "1e3k", "1..5k", "1.5.k", "inf k", "NaNk", "- 1k", "1,5k",
        ] {
            assert_eq!(parse_size(refused), None, "{refused:?}");
        }
    }
}
