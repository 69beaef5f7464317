//! Tests of the filter sets, checked against an independent transcription
//! of the FILTERS.md grammar (the engine's parser is not used here, so that
//! a fixture bug and a parser bug cannot hide each other).

use super::*;

#[test]
fn selective_filters_name_one_user_each() {
    assert_eq!(selective_filter(1), r#"user.id == "u-1""#);
    assert_eq!(selective_filter(50_000), r#"user.id == "u-50000""#);
    assert!(grammar::is_valid(&selective_filter(123)));
}

#[test]
fn mixed_filters_are_valid_deterministic_and_never_match_all() {
    let first: Vec<String> = {
        let mut filters = MixedFilters::new(7, 1_000_000);
        (0..5_000).map(|_| filters.next_filter()).collect()
    };
    let mut again = MixedFilters::new(7, 1_000_000);
    assert!(first.iter().all(|filter| *filter == again.next_filter()));
    for filter in &first {
        assert!(grammar::is_valid(filter), "invalid filter: {filter}");
        assert!(!filter.contains('\n'), "one filter per line");
        assert!(filter.len() <= 4_096, "FILTERS.md rejects filters over 4 KiB");
        assert_ne!(filter.trim(), "*");
    }
    let user_ids = first.iter().filter(|filter| filter.starts_with("user.id == ")).count();
    assert!((1_200..2_000).contains(&user_ids), "{user_ids} user-id filters of 5000");
    for needle in [
        " in [",
        " contains ",
        " startswith ",
        " endswith ",
        " matches ",
        "not exists(",
        "props[\"utm.source\"]",
        "cart.items.sku",
        " > ",
        " && ",
        " or ",
        "!(",
        "\\\"",
    ] {
        assert!(first.iter().any(|filter| filter.contains(needle)), "no filter has {needle:?}");
    }
    assert!(first.iter().any(|filter| !filter.is_ascii()), "no filter has a non-ASCII literal");
}

#[test]
fn every_recipe_is_valid() {
    let mut filters = MixedFilters::new(1, 10);
    for (index, (_, recipe)) in RECIPES.iter().enumerate() {
        for _ in 0..20 {
            let filter = recipe(&mut filters);
            assert!(grammar::is_valid(&filter), "recipe {index}: {filter}");
        }
    }
}

#[test]
fn the_validator_rejects_what_the_grammar_rejects() {
    for valid in [
        "*",
        r#"user.id == "u-123""#,
        r#"type == "click" and page.url contains "/hotels""#,
        r#"device.country in ["FR", "DE"] and not exists(user.id)"#,
        r#"cart.total >= 250.5 or "paris""#,
        r#"props["utm.source"] startswith "news""#,
        r#"page.path matches "^/trip/[0-9]+$""#,
        r#"NOT (a = 1e3 || b != -2) && c <= null"#,
    ] {
        assert!(grammar::is_valid(valid), "{valid}");
    }
    for invalid in [
        "",
        "user.id ==",
        "user.id == u-1",
        r#"user.id === "u-1""#,
        r#"(type == "click""#,
        r#"device.country in []"#,
        r#"a == "unterminated"#,
        r#"a == 01"#,
        r#"exists(user.id"#,
        r#"props[utm] == 1"#,
        r#"a == 1 b == 2"#,
        "* and *x",
    ] {
        assert!(!grammar::is_valid(invalid), "{invalid}");
    }
}

/// A direct transcription of the FILTERS.md grammar into a recognizer.
mod grammar {
    /// Whether `filter` is a sentence of the grammar.
    pub fn is_valid(filter: &str) -> bool {
        let Some(tokens) = tokenize(filter) else {
            return false;
        };
        let mut parser = Parser { tokens, position: 0 };
        parser.or() && parser.position == parser.tokens.len()
    }

    #[derive(Debug, PartialEq)]
    enum Token {
        /// A segment-shaped word: a path segment or a keyword.
        Word(String),
        /// A string literal, already checked to be a JSON string.
        String,
        /// A number literal, already checked to be a JSON number.
        Number,
        /// Punctuation and operators: `( ) [ ] , . * == = != < <= > >= && || !`.
        Symbol(&'static str),
    }

    fn tokenize(text: &str) -> Option<Vec<Token>> {
        const SYMBOLS: [&str; 17] =
            ["==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", ",", ".", "*", "=", "<", ">", "!"];
        let bytes = text.as_bytes();
        let mut tokens = Vec::new();
        let mut index = 0;
        while index < bytes.len() {
            let rest = &text[index..];
            let byte = bytes[index];
            if byte.is_ascii_whitespace() {
                index += 1;
            } else if byte == b'"' {
                let mut end = index + 1;
                while end < bytes.len() && bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let literal = text.get(index..=end)?;
                serde_json::from_str::<String>(literal).ok()?;
                tokens.push(Token::String);
                index = end + 1;
            } else if byte == b'-' || byte.is_ascii_digit() {
                let length = rest.find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c))).unwrap_or(rest.len());
                let value: serde_json::Value = serde_json::from_str(&rest[..length]).ok()?;
                if !value.is_number() {
                    return None;
                }
                tokens.push(Token::Number);
                index += length;
            } else if byte.is_ascii_alphabetic() || b"_$@".contains(&byte) {
                let length =
                    rest.find(|c: char| !(c.is_ascii_alphanumeric() || "_$@-".contains(c))).unwrap_or(rest.len());
                tokens.push(Token::Word(rest[..length].to_ascii_lowercase()));
                index += length;
            } else {
                let symbol = SYMBOLS.iter().find(|symbol| rest.starts_with(**symbol))?;
                tokens.push(Token::Symbol(symbol));
                index += symbol.len();
            }
        }
        Some(tokens)
    }

    struct Parser {
        tokens: Vec<Token>,
        position: usize,
    }

    impl Parser {
        fn peek(&self) -> Option<&Token> {
            self.tokens.get(self.position)
        }

        fn eat_symbol(&mut self, symbol: &str) -> bool {
            let found = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
            self.position += usize::from(found);
            found
        }

        fn eat_word(&mut self, word: &str) -> bool {
            let found = matches!(self.peek(), Some(Token::Word(w)) if w == word);
            self.position += usize::from(found);
            found
        }

        fn or(&mut self) -> bool {
            if !self.and() {
                return false;
            }
            while self.eat_word("or") || self.eat_symbol("||") {
                if !self.and() {
                    return false;
                }
            }
            true
        }

        fn and(&mut self) -> bool {
            if !self.unary() {
                return false;
            }
            while self.eat_word("and") || self.eat_symbol("&&") {
                if !self.unary() {
                    return false;
                }
            }
            true
        }

        fn unary(&mut self) -> bool {
            if self.eat_word("not") || self.eat_symbol("!") {
                return self.unary();
            }
            self.primary()
        }

        fn primary(&mut self) -> bool {
            if self.eat_symbol("(") {
                return self.or() && self.eat_symbol(")");
            }
            if self.eat_symbol("*") {
                return true;
            }
            if self.peek() == Some(&Token::String) {
                self.position += 1;
                return true;
            }
            let is_exists_call = matches!(self.peek(), Some(Token::Word(w)) if w == "exists")
                && matches!(self.tokens.get(self.position + 1), Some(Token::Symbol("(")));
            if is_exists_call {
                self.position += 2;
                return self.path() && self.eat_symbol(")");
            }
            if !self.path() {
                return false;
            }
            if self.eat_word("in") {
                if !self.eat_symbol("[") || !self.literal() {
                    return false;
                }
                while self.eat_symbol(",") {
                    if !self.literal() {
                        return false;
                    }
                }
                return self.eat_symbol("]");
            }
            let is_operator = ["==", "=", "!=", "<", "<=", ">", ">="].iter().any(|symbol| self.eat_symbol(symbol))
                || ["contains", "startswith", "endswith", "matches"].iter().any(|word| self.eat_word(word));
            is_operator && self.literal()
        }

        fn path(&mut self) -> bool {
            if !matches!(self.peek(), Some(Token::Word(_))) {
                return false;
            }
            self.position += 1;
            loop {
                if self.eat_symbol(".") {
                    if !matches!(self.peek(), Some(Token::Word(_))) {
                        return false;
                    }
                    self.position += 1;
                } else if self.eat_symbol("[") {
                    if self.peek() != Some(&Token::String) {
                        return false;
                    }
                    self.position += 1;
                    if !self.eat_symbol("]") {
                        return false;
                    }
                } else {
                    return true;
                }
            }
        }

        fn literal(&mut self) -> bool {
            let found = matches!(self.peek(), Some(Token::String | Token::Number))
                || ["true", "false", "null"]
                    .iter()
                    .any(|word| matches!(self.peek(), Some(Token::Word(w)) if w == word));
            self.position += usize::from(found);
            found
        }
    }
}
