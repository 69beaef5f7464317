//! Hand-written JSON output: strings, integers and fixed-point decimals
//! appended straight to a byte buffer.
//!
//! Why not `serde_json`: the generator writes ~600 bytes of mostly constant
//! keys per event, and `serde` would need an owned or borrowed struct tree per
//! event plus its formatter's dispatch. Pushing the constant parts as byte
//! slices and formatting the few numbers by hand is what lets one core emit
//! over a million events per second (see the `clickstream` module docs
//! for the measured figure).
//!
//! Output follows RFC 8259: strings escape `"`, `\` and the control
//! characters U+0000..U+001F (section 7), everything else, non-ASCII
//! included, is written as raw UTF-8 (section 8.1).

/// Appends `text` as a JSON string, quotes included.
#[inline]
pub fn push_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    push_string_body(out, text);
    out.push(b'"');
}

/// Appends `text` escaped for the inside of a JSON string, without quotes,
/// so that several pieces can form one string value.
#[inline]
pub fn push_string_body(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if needs_escape(byte) {
            out.extend_from_slice(&bytes[clean_from..index]);
            push_escape(out, byte);
            clean_from = index + 1;
        }
    }
    out.extend_from_slice(&bytes[clean_from..]);
}

/// Whether RFC 8259 section 7 requires `byte` to be escaped in a string.
/// UTF-8 continuation and lead bytes are all >= 0x80, so a multi-byte
/// character never matches.
#[inline]
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends the escape sequence of one byte that `needs_escape`.
#[cold]
fn push_escape(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        _ => {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]])
        }
    }
}

/// Appends the decimal digits of `value`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, value: u64) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `scaled / 10^decimals` with exactly `decimals` digits after the
/// point (`push_fixed(out, -5, 4)` writes `-0.0005`). Fixed decimals keep
/// prices and coordinates looking like what real trackers send, and are
/// exact, unlike formatting an `f64`.
#[inline]
pub fn push_fixed(out: &mut Vec<u8>, scaled: i64, decimals: u32) {
    if scaled < 0 {
        out.push(b'-');
    }
    let magnitude = scaled.unsigned_abs();
    let divisor = 10u64.pow(decimals);
    push_u64(out, magnitude / divisor);
    if decimals > 0 {
        out.push(b'.');
        let fraction = magnitude % divisor;
        // Left-pad the fraction with zeros to `decimals` digits.
        let mut place = divisor / 10;
        while place > 0 {
            out.push(b'0' + ((fraction / place) % 10) as u8);
            place /= 10;
        }
    }
}

/// Appends `value` as 16 lowercase hexadecimal digits.
#[inline]
pub fn push_hex16(out: &mut Vec<u8>, value: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    for (index, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((value >> (60 - 4 * index)) & 0xf) as usize];
    }
    out.extend_from_slice(&digits);
}

/// Appends `value` as `true` or `false`.
#[inline]
pub fn push_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Appends `text` percent-encoded for a URL query value
/// (`application/x-www-form-urlencoded`: space becomes `+`, unreserved
/// characters of RFC 3986 section 2.3 stay, every other byte is `%XX`). The
/// result is plain ASCII without `"` or `\`, so it needs no JSON escaping.
pub fn push_query_value(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).expect("writers emit UTF-8")
    }

    #[test]
    fn strings_escape_what_rfc_8259_requires() {
        let cases = [
            ("plain", r#""plain""#),
            ("Zürich – São Paulo", "\"Zürich – São Paulo\""),
            (r#"say "hi""#, r#""say \"hi\"""#),
            (r"back\slash", r#""back\\slash""#),
            ("tab\there\nline", r#""tab\there\nline""#),
            ("\u{1}\u{1f}\u{8}\u{c}\r", r#""\u0001\u001f\b\f\r""#),
        ];
        for (input, expected) in cases {
            assert_eq!(written(|out| push_string(out, input)), expected);
            let decoded: String = serde_json::from_str(expected).expect("valid JSON string");
            assert_eq!(decoded, input);
        }
    }

    #[test]
    fn integers_and_fixed_decimals() {
        let cases: [(u64, &str); 4] =
            [(0, "0"), (7, "7"), (1_717_200_000_123, "1717200000123"), (u64::MAX, "18446744073709551615")];
        for (value, expected) in cases {
            assert_eq!(written(|out| push_u64(out, value)), expected);
        }
        let fixed = [
            (488_566, 4, "48.8566"),
            (-1_278, 4, "-0.1278"),
            (-5, 4, "-0.0005"),
            (61_240, 2, "612.40"),
            (5, 2, "0.05"),
            (42, 0, "42"),
        ];
        for (scaled, decimals, expected) in fixed {
            assert_eq!(written(|out| push_fixed(out, scaled, decimals)), expected);
        }
    }

    #[test]
    fn hex_and_query_values() {
        assert_eq!(written(|out| push_hex16(out, 0x00ab_cdef_0123_4567)), "00abcdef01234567");
        assert_eq!(
            written(|out| push_query_value(out, "hotels in São Paulo & \"spa\"")),
            "hotels+in+S%C3%A3o+Paulo+%26+%22spa%22"
        );
    }
}
