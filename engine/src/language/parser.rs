//! Recursive-descent parser for the grammar of `FILTERS.md`.
//!
//! ```text
//! or      := and (("or" | "||") and)*
//! and     := unary (("and" | "&&") unary)*
//! unary   := ("not" | "!") unary | primary
//! primary := "(" or ")" | "exists" "(" path ")" | path op literal
//!          | path "in" "[" literal ("," literal)* "]" | string | "*"
//! ```

use super::ast::{CompareOp, Expr, Literal, Path};
use super::lexer::{tokenize, Spanned, Token};
use super::FilterError;

/// Filters longer than this many bytes are rejected (FILTERS.md, rule 9).
pub const FILTER_BYTES_MAX: usize = 4096;

/// Deepest nesting of parentheses and `not` accepted. The parser, the
/// compiler and the evaluator recurse once per level, so the bound keeps a
/// hostile filter from exhausting a thread's stack.
pub const NESTING_MAX: usize = 256;

/// Parses one filter into its syntax tree, or says where and why it is wrong.
///
/// Regular expressions are compiled here too, so a filter that parses is a
/// filter that the matcher accepts.
pub fn parse_filter(source: &str) -> Result<Expr, FilterError> {
    if source.len() > FILTER_BYTES_MAX {
        return Err(FilterError::at(
            FILTER_BYTES_MAX,
            format!("filter is {} bytes long, the limit is {FILTER_BYTES_MAX}", source.len()),
        ));
    }
    let tokens = tokenize(source)?;
    let mut parser = Parser { tokens, position: 0, depth: 0 };
    if parser.peek() == &Token::End {
        return Err(parser.error_here("empty filter: expected a criterion such as user.id == \"u-123\" or *"));
    }
    let expr = parser.parse_or()?;
    if parser.peek() != &Token::End {
        return Err(parser.error_here(format!(
            "expected 'and', 'or' or the end of the filter, found {}",
            parser.describe_current()
        )));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Spanned>,
    /// Index of the current token; the last token is always `End`.
    position: usize,
    /// Current nesting of parentheses and `not`.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.position].token
    }

    fn peek_second(&self) -> &Token {
        let index = (self.position + 1).min(self.tokens.len() - 1);
        &self.tokens[index].token
    }

    fn offset(&self) -> usize {
        self.tokens[self.position].offset
    }

    fn advance(&mut self) -> Token {
        let token = self.tokens[self.position].token.clone();
        if self.position + 1 < self.tokens.len() {
            self.position += 1;
        }
        token
    }

    fn error_here(&self, message: impl Into<String>) -> FilterError {
        FilterError::at(self.offset(), message)
    }

    fn describe_current(&self) -> String {
        describe(self.peek())
    }

    /// True when the current token is the keyword `keyword` (any case).
    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Token::Word(word) if word.eq_ignore_ascii_case(keyword))
    }

    /// Enters one level of nesting at the current token (`(` or `not`).
    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > NESTING_MAX {
            return Err(self.error_here(format!("filter nests deeper than {NESTING_MAX} levels")));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, FilterError> {
        self.parse_operands(&Token::OrOr, "or", Self::parse_and, Expr::Or)
    }

    fn parse_and(&mut self) -> Result<Expr, FilterError> {
        self.parse_operands(&Token::AndAnd, "and", Self::parse_unary, Expr::And)
    }

    /// `operand (separator operand)*`, where the separator is a symbol
    /// (`||`) or a keyword (`or`); one operand stands alone, more are joined.
    fn parse_operands(
        &mut self,
        symbol: &Token,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Expr, FilterError>,
        join: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let mut operands = vec![operand(self)?];
        while self.peek() == symbol || self.at_keyword(keyword) {
            self.advance();
            operands.push(operand(self)?);
        }
        Ok(if operands.len() == 1 { operands.pop().expect("one operand") } else { join(operands) })
    }

    fn parse_unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == &Token::Bang || self.at_keyword("not") {
            self.enter()?;
            self.advance();
            let operand = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(operand)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Expr, FilterError> {
        match self.peek().clone() {
            Token::LeftParen => {
                self.enter()?;
                self.advance();
                let inner = self.parse_or()?;
                self.depth -= 1;
                self.expect(&Token::RightParen, "expected ')' to close '('")?;
                Ok(inner)
            }
            Token::Star => {
                self.advance();
                Ok(Expr::All)
            }
            Token::String(term) => {
                self.advance();
                Ok(Expr::FullText(term))
            }
            Token::Word(word) if word.eq_ignore_ascii_case("exists") && self.peek_second() == &Token::LeftParen => {
                self.advance();
                self.advance();
                let path = self.parse_path()?;
                self.expect(&Token::RightParen, "expected ')' after the path of exists(")?;
                Ok(Expr::Exists(path))
            }
            Token::Word(_) => {
                let path = self.parse_path()?;
                self.parse_comparison(path)
            }
            _ => Err(self.error_here(format!(
                "expected a criterion (a path such as user.id, a \"full-text\" string, exists(...), '(', 'not' or *), found {}",
                self.describe_current()
            ))),
        }
    }

    fn parse_path(&mut self) -> Result<Path, FilterError> {
        let mut segments = Vec::new();
        match self.advance() {
            Token::Word(word) => segments.push(word),
            other => {
                self.position -= 1;
                return Err(self.error_here(format!("expected a path such as user.id, found {}", describe(&other))));
            }
        }
        loop {
            match self.peek() {
                Token::Dot => {
                    self.advance();
                    match self.peek().clone() {
                        Token::Word(word) => {
                            self.advance();
                            segments.push(word);
                        }
                        _ => {
                            return Err(self.error_here(format!(
                                "expected a key after '.' (write keys with other characters as [\"key\"]), found {}",
                                self.describe_current()
                            )))
                        }
                    }
                }
                Token::LeftBracket => {
                    self.advance();
                    match self.peek().clone() {
                        Token::String(key) => {
                            self.advance();
                            segments.push(key);
                        }
                        _ => {
                            return Err(self.error_here(format!(
                                "expected a quoted key after '[', found {}",
                                self.describe_current()
                            )))
                        }
                    }
                    self.expect(&Token::RightBracket, "expected ']' after the key")?;
                }
                _ => return Ok(Path { segments }),
            }
        }
    }

    fn parse_comparison(&mut self, path: Path) -> Result<Expr, FilterError> {
        let op = match self.peek() {
            Token::Equal | Token::SingleEqual => CompareOp::Eq,
            Token::NotEqual => CompareOp::Ne,
            Token::Less => CompareOp::Lt,
            Token::LessEqual => CompareOp::Le,
            Token::Greater => CompareOp::Gt,
            Token::GreaterEqual => CompareOp::Ge,
            Token::Word(word) => match word.to_ascii_lowercase().as_str() {
                "contains" => CompareOp::Contains,
                "startswith" => CompareOp::StartsWith,
                "endswith" => CompareOp::EndsWith,
                "matches" => CompareOp::Matches,
                "in" => return self.parse_in_list(path),
                _ => return Err(self.operator_error(&path)),
            },
            _ => return Err(self.operator_error(&path)),
        };
        let op_token = self.advance();
        let literal_offset = self.offset();
        let literal = self.parse_literal(&describe(&op_token))?;
        if op == CompareOp::Matches {
            if let Literal::String(pattern) = &literal {
                check_regex(pattern, literal_offset)?;
            }
        }
        Ok(Expr::Compare { path, op, literal })
    }

    fn operator_error(&self, path: &Path) -> FilterError {
        self.error_here(format!(
            "expected an operator after '{path}' (==, !=, <, <=, >, >=, contains, startswith, endswith, matches, in), found {}",
            self.describe_current()
        ))
    }

    fn parse_in_list(&mut self, path: Path) -> Result<Expr, FilterError> {
        self.advance();
        self.expect(&Token::LeftBracket, "expected '[' after 'in'")?;
        let mut literals = vec![self.parse_literal("'['")?];
        loop {
            match self.peek() {
                Token::Comma => {
                    self.advance();
                    literals.push(self.parse_literal("','")?);
                }
                Token::RightBracket => {
                    self.advance();
                    return Ok(Expr::In { path, literals });
                }
                _ => {
                    return Err(
                        self.error_here(format!("expected ',' or ']' in the list, found {}", self.describe_current()))
                    )
                }
            }
        }
    }

    fn parse_literal(&mut self, after: &str) -> Result<Literal, FilterError> {
        let literal = match self.peek() {
            Token::String(text) => Literal::String(text.clone()),
            Token::Number(number) => Literal::Number(*number),
            Token::Word(word) if word.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Token::Word(word) if word.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Token::Word(word) if word.eq_ignore_ascii_case("null") => Literal::Null,
            _ => {
                return Err(self.error_here(format!(
                    "expected a literal after {after} (a \"string\", a number, true, false or null), found {}",
                    self.describe_current()
                )))
            }
        };
        self.advance();
        Ok(literal)
    }

    fn expect(&mut self, token: &Token, message: &str) -> Result<(), FilterError> {
        if self.peek() == token {
            self.advance();
            Ok(())
        } else {
            Err(self.error_here(format!("{message}, found {}", self.describe_current())))
        }
    }
}

/// The largest compiled form of one `matches` pattern, in bytes: the
/// `regex` crate's own default (`RegexBuilder::size_limit`), written here so
/// that which filters are valid cannot move with a crate upgrade. `.{10000}`
/// fits; `.{100000}` does not and is rejected with the literal's column.
pub const REGEX_COMPILED_BYTES_MAX: usize = 10 * (1 << 20);

/// Compiles a `matches` pattern the one way every part of the engine does:
/// the parser accepts a pattern exactly when this succeeds, and the matcher
/// compiles accepted patterns with it again (so it cannot fail there).
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern).size_limit(REGEX_COMPILED_BYTES_MAX).build()
}

/// Rejects a `matches` pattern that Rust's `regex` crate cannot compile.
fn check_regex(pattern: &str, offset: usize) -> Result<(), FilterError> {
    compile_regex(pattern).map(drop).map_err(|error| {
        FilterError::at(offset, format!("invalid regular expression: {}", one_line(&error.to_string())))
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Names a token for an error message.
fn describe(token: &Token) -> String {
    match token {
        Token::LeftParen => "'('".into(),
        Token::RightParen => "')'".into(),
        Token::LeftBracket => "'['".into(),
        Token::RightBracket => "']'".into(),
        Token::Comma => "','".into(),
        Token::Dot => "'.'".into(),
        Token::Star => "'*'".into(),
        Token::Bang => "'!'".into(),
        Token::AndAnd => "'&&'".into(),
        Token::OrOr => "'||'".into(),
        Token::Equal => "'=='".into(),
        Token::SingleEqual => "'='".into(),
        Token::NotEqual => "'!='".into(),
        Token::Less => "'<'".into(),
        Token::LessEqual => "'<='".into(),
        Token::Greater => "'>'".into(),
        Token::GreaterEqual => "'>='".into(),
        Token::String(_) => "a string".into(),
        Token::Number(_) => "a number".into(),
        Token::Word(word) => format!("'{word}'"),
        Token::End => "the end of the filter".into(),
    }
}
