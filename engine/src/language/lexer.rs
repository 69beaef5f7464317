//! Splits a filter into tokens, each with its byte offset.

use super::ast::{is_segment_continue, is_segment_start, Number};
use super::string::decode_string;
use super::FilterError;

/// One token of the filter language.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Token {
    LeftParen,
    RightParen,
    LeftBracket,
    RightBracket,
    Comma,
    Dot,
    Star,
    /// `!`
    Bang,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `==`
    Equal,
    /// `=`, the same operator as `==`; kept apart only to quote it back in errors.
    SingleEqual,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    /// A decoded string literal.
    String(String),
    Number(Number),
    /// A bare word: a path segment or a keyword, told apart by the parser.
    Word(String),
    End,
}

/// A token and where it starts (0-based byte offset).
#[derive(Clone, Debug)]
pub(crate) struct Spanned {
    pub token: Token,
    pub offset: usize,
}

/// Tokenizes the whole filter up front: filters are at most 4 KiB.
pub(crate) fn tokenize(source: &str) -> Result<Vec<Spanned>, FilterError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut position = 0;
    loop {
        while position < bytes.len() && matches!(bytes[position], b' ' | b'\t' | b'\n' | b'\r') {
            position += 1;
        }
        let offset = position;
        let Some(&byte) = bytes.get(position) else {
            tokens.push(Spanned { token: Token::End, offset });
            return Ok(tokens);
        };
        let next = bytes.get(position + 1).copied();
        let (token, length) = match (byte, next) {
            (b'(', _) => (Token::LeftParen, 1),
            (b')', _) => (Token::RightParen, 1),
            (b'[', _) => (Token::LeftBracket, 1),
            (b']', _) => (Token::RightBracket, 1),
            (b',', _) => (Token::Comma, 1),
            (b'.', _) => (Token::Dot, 1),
            (b'*', _) => (Token::Star, 1),
            (b'&', Some(b'&')) => (Token::AndAnd, 2),
            (b'|', Some(b'|')) => (Token::OrOr, 2),
            (b'&', _) => return Err(FilterError::at(offset, "expected '&&' (a single '&' is not an operator)")),
            (b'|', _) => return Err(FilterError::at(offset, "expected '||' (a single '|' is not an operator)")),
            (b'=', Some(b'=')) => (Token::Equal, 2),
            (b'=', _) => (Token::SingleEqual, 1),
            (b'!', Some(b'=')) => (Token::NotEqual, 2),
            (b'!', _) => (Token::Bang, 1),
            (b'<', Some(b'=')) => (Token::LessEqual, 2),
            (b'<', _) => (Token::Less, 1),
            (b'>', Some(b'=')) => (Token::GreaterEqual, 2),
            (b'>', _) => (Token::Greater, 1),
            (b'"', _) => {
                let (text, end) = decode_string(source, offset)?;
                (Token::String(text), end - offset)
            }
            (b'-' | b'0'..=b'9', _) => {
                let (number, end) = lex_number(source, offset)?;
                (Token::Number(number), end - offset)
            }
            (byte, _) if is_segment_start(byte) => {
                let length =
                    bytes[offset..].iter().position(|&byte| !is_segment_continue(byte)).unwrap_or(bytes.len() - offset);
                (Token::Word(source[offset..offset + length].to_owned()), length)
            }
            _ => {
                let character = source[offset..].chars().next().expect("offset is on a char boundary");
                return Err(FilterError::at(offset, format!("unexpected character {character:?}")));
            }
        };
        tokens.push(Spanned { token, offset });
        position += length;
    }
}

/// Lexes a JSON number (RFC 8259, section 6) starting at `start`.
///
/// Integers without fraction or exponent that fit in i64 or u64 stay exact;
/// every other number becomes an f64, which must be finite.
fn lex_number(source: &str, start: usize) -> Result<(Number, usize), FilterError> {
    let bytes = source.as_bytes();
    let invalid = || FilterError::at(start, "invalid number (expected a JSON number such as 42, -1.5 or 2e10)");
    let digits_from = |from: usize| bytes[from..].iter().take_while(|byte| byte.is_ascii_digit()).count();
    let mut position = start;
    if bytes[position] == b'-' {
        position += 1;
    }
    let integer_digits = digits_from(position);
    if integer_digits == 0 || (integer_digits > 1 && bytes[position] == b'0') {
        return Err(invalid());
    }
    position += integer_digits;
    let mut is_integer = true;
    if bytes.get(position) == Some(&b'.') {
        let fraction_digits = digits_from(position + 1);
        if fraction_digits == 0 {
            return Err(invalid());
        }
        position += 1 + fraction_digits;
        is_integer = false;
    }
    if matches!(bytes.get(position), Some(b'e' | b'E')) {
        position += 1;
        if matches!(bytes.get(position), Some(b'+' | b'-')) {
            position += 1;
        }
        let exponent_digits = digits_from(position);
        if exponent_digits == 0 {
            return Err(invalid());
        }
        position += exponent_digits;
        is_integer = false;
    }
    // A number glued to a word or another number (`12abc`, `1.2.3`) is a typo, not two tokens.
    if bytes.get(position).is_some_and(|&byte| is_segment_continue(byte) || byte == b'.') {
        return Err(invalid());
    }
    let text = &source[start..position];
    if is_integer {
        if let Ok(value) = text.parse::<i128>() {
            if value >= i64::MIN as i128 && value <= u64::MAX as i128 {
                return Ok((Number::Integer(value), position));
            }
        }
    }
    let value: f64 = text.parse().map_err(|_| invalid())?;
    if !value.is_finite() {
        return Err(FilterError::at(start, "number out of range (it is not a finite f64)"));
    }
    Ok((Number::Float(value), position))
}
