//! JSON string literals inside a filter (RFC 8259, section 7).

use super::FilterError;

/// Decodes the JSON string that opens with the quote at `start`.
///
/// Returns the decoded text and the offset just past the closing quote.
/// Errors point at the byte that breaks the string: a raw control
/// character, a bad escape, a lone surrogate, or the opening quote when the
/// string never closes.
pub(crate) fn decode_string(source: &str, start: usize) -> Result<(String, usize), FilterError> {
    let bytes = source.as_bytes();
    debug_assert_eq!(bytes[start], b'"');
    let mut text = String::new();
    let mut position = start + 1;
    loop {
        // Copy the run of plain bytes up to the next quote, backslash or control byte.
        let run_end = bytes[position..]
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
            .map_or(bytes.len(), |relative| position + relative);
        text.push_str(&source[position..run_end]);
        position = run_end;
        match bytes.get(position) {
            None => return Err(FilterError::at(start, "unterminated string")),
            Some(b'"') => return Ok((text, position + 1)),
            Some(b'\\') => {
                let (character, next) = decode_escape(bytes, position)?;
                text.push(character);
                position = next;
            }
            Some(_) => {
                return Err(FilterError::at(
                    position,
                    "control character in string (write it as an escape such as \\n or \\u0009)",
                ))
            }
        }
    }
}

/// Decodes the escape whose backslash is at `start`; returns the character
/// and the offset past the escape. Also the prefilter's decoder of an
/// event's escaped strings (JSON's escapes are the same).
pub(crate) fn decode_escape(bytes: &[u8], start: usize) -> Result<(char, usize), FilterError> {
    let simple = match bytes.get(start + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return decode_unicode_escape(bytes, start),
        _ => {
            return Err(FilterError::at(
                start,
                "invalid escape in string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
            ))
        }
    };
    Ok((simple, start + 2))
}

/// Decodes `\uXXXX`, joining a UTF-16 surrogate pair written as two escapes.
fn decode_unicode_escape(bytes: &[u8], start: usize) -> Result<(char, usize), FilterError> {
    let high = hex4(bytes, start)?;
    if (0xDC00..0xE000).contains(&high) {
        return Err(FilterError::at(start, "lone low surrogate in \\u escape"));
    }
    if !(0xD800..0xDC00).contains(&high) {
        let character = char::from_u32(high).expect("a non-surrogate below 0x10000 is a char");
        return Ok((character, start + 6));
    }
    let low_start = start + 6;
    let low = if bytes.get(low_start) == Some(&b'\\') && bytes.get(low_start + 1) == Some(&b'u') {
        hex4(bytes, low_start)?
    } else {
        return Err(FilterError::at(start, "high surrogate not followed by a low surrogate \\u escape"));
    };
    if !(0xDC00..0xE000).contains(&low) {
        return Err(FilterError::at(low_start, "expected a low surrogate \\u escape"));
    }
    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
    let character = char::from_u32(code).expect("a surrogate pair decodes to a char");
    Ok((character, low_start + 6))
}

/// Reads the four hex digits of the `\u` escape at `start`.
fn hex4(bytes: &[u8], start: usize) -> Result<u32, FilterError> {
    let digits =
        bytes.get(start + 2..start + 6).ok_or_else(|| FilterError::at(start, "\\u escape needs four hex digits"))?;
    let mut value = 0;
    for &digit in digits {
        let nibble =
            (digit as char).to_digit(16).ok_or_else(|| FilterError::at(start, "\\u escape needs four hex digits"))?;
        value = value * 16 + nibble;
    }
    Ok(value)
}
