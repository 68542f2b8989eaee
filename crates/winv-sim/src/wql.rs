//! A WQL subset ("WQL (SQL for WMI)" in the WMI reference; [MS-WMI] 2.2.1 names the
//! language): parser and evaluator.
//!
//! Grammar: `SELECT (* | prop {, prop}) FROM class [WHERE expr]` where `expr` has `OR`,
//! `AND`, `NOT`, parentheses, comparisons `= <> != < > <= >=` between a property and a
//! literal (either side) or two properties, `prop [NOT] LIKE 'pattern'` (`%`, `_`, `[abc]`,
//! `[a-z]`, `[^abc]`), `prop IS [NOT] NULL`. Literals: `'...'` or `"..."` (backslash
//! escapes the next character), decimal integers (optionally negative) and `0x` hex,
//! `TRUE`, `FALSE`, `NULL`. Keywords, class and property names are case-insensitive.
//!
//! Semantics, chosen to match Windows where known:
//! - string comparisons (`=`, `<`, `LIKE`) are case-insensitive;
//! - a literal is converted to the property's type: `uint32 = '5'` compares numbers, a
//!   string property against `5` compares with the text `5`, a boolean accepts
//!   `TRUE`/`FALSE`, `'true'`/`'false'` and integers (non-zero is true). A literal that does
//!   not convert (`uint32 = 'abc'`) is `WBEM_E_INVALID_QUERY`;
//! - NULL: any comparison or `LIKE` with a NULL property is unknown (the row does not
//!   match, and `NOT` of unknown is unknown); `prop = NULL` means `prop IS NULL` and
//!   `prop <> NULL` means `prop IS NOT NULL`, as WMI accepts both forms;
//! - array and embedded-object properties may be selected and tested with `IS [NOT] NULL`,
//!   any other test on them is `WBEM_E_INVALID_QUERY`.
//!
//! Errors (codes of [MS-WMI] 2.2.11): a syntax error, an unknown property in the SELECT
//! list or in WHERE, or a literal of the wrong type → `WBEM_E_INVALID_QUERY` 0x80041017 (what
//! Windows returns for an unknown property in a WQL query); an unknown class →
//! `WBEM_E_INVALID_CLASS` 0x80041010; a query language other than `WQL` →
//! `WBEM_E_INVALID_QUERY_TYPE` 0x80041018.
//!
//! Projection: `SELECT a, b` returns instances of the class trimmed to `a`, `b` and the
//! key properties, in the class's declaration order (Windows returns a projected class
//! with the selected properties and the system properties; keys keep `__RELPATH`
//! meaningful). `SELECT *` returns the full class.

use std::cmp::Ordering;

use winv_wmio::{CimBase, ClassDef, Instance, Property, Slot, Value};

use crate::codes::{WBEM_E_INVALID_CLASS, WBEM_E_INVALID_QUERY, WBEM_E_INVALID_QUERY_TYPE};
use crate::data::classes::is_key;

/// Deepest nesting of parentheses and `NOT` accepted.
pub const MAX_DEPTH: usize = 64;

/// A WQL error with its WMI code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WqlError {
    #[error("invalid query: {0}")]
    Syntax(String),
    #[error("invalid query: unknown property {0}")]
    UnknownProperty(String),
    #[error("invalid query: {0}")]
    BadLiteral(String),
    #[error("invalid class {0}")]
    InvalidClass(String),
    #[error("unsupported query language {0}")]
    InvalidQueryType(String),
}

impl WqlError {
    /// The HRESULT a WMI server returns for this error.
    pub fn code(&self) -> u32 {
        match self {
            WqlError::Syntax(_) | WqlError::UnknownProperty(_) | WqlError::BadLiteral(_) => {
                WBEM_E_INVALID_QUERY
            }
            WqlError::InvalidClass(_) => WBEM_E_INVALID_CLASS,
            WqlError::InvalidQueryType(_) => WBEM_E_INVALID_QUERY_TYPE,
        }
    }
}

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    Null,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Property(String),
    Literal(Literal),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CmpOp {
    fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// A WHERE expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cmp(Operand, CmpOp, Operand),
    Like {
        property: String,
        pattern: String,
        negated: bool,
    },
    IsNull {
        property: String,
        negated: bool,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` for `*`.
    pub select: Option<Vec<String>>,
    pub class: String,
    pub filter: Option<Expr>,
}

// ---------------------------------------------------------------------------------------
// Lexer.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i128),
    Star,
    Comma,
    LParen,
    RParen,
    Op(CmpOp),
}

fn syntax(msg: &str) -> WqlError {
    WqlError::Syntax(msg.to_string())
}

fn lex(text: &str) -> Result<Vec<Tok>, WqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '*' => {
                out.push(Tok::Star);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            '=' => {
                out.push(Tok::Op(CmpOp::Eq));
                i += 1
            }
            '<' | '>' | '!' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('<', Some('>')) => (CmpOp::Ne, 2),
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    ('!', Some('=')) => (CmpOp::Ne, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    ('>', _) => (CmpOp::Gt, 1),
                    _ => return Err(syntax("unexpected '!'")),
                };
                out.push(Tok::Op(op));
                i += len;
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax("unterminated string")),
                        Some('\\') => {
                            let escaped = chars
                                .get(i + 1)
                                .ok_or_else(|| syntax("unterminated string"))?;
                            s.push(*escaped);
                            i += 2;
                        }
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '-' | '0'..='9' => {
                let start = i;
                if c == '-' {
                    i += 1;
                }
                let hex = chars.get(i) == Some(&'0') && matches!(chars.get(i + 1), Some('x' | 'X'));
                if hex {
                    i += 2;
                }
                let digits_start = i;
                while chars.get(i).is_some_and(|d| d.is_ascii_alphanumeric()) {
                    i += 1;
                }
                let digits: String = chars[digits_start..i].iter().collect();
                let parsed = if hex {
                    i128::from_str_radix(&digits, 16).ok()
                } else {
                    digits.parse::<i128>().ok()
                };
                let mut n = parsed.ok_or_else(|| syntax("bad number"))?;
                if chars[start] == '-' {
                    n = -n;
                }
                if n > i128::from(u64::MAX) || n < i128::from(i64::MIN) {
                    return Err(syntax("number out of range"));
                }
                out.push(Tok::Int(n));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_alphanumeric() || *d == '_')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            _ => return Err(syntax("unexpected character")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Parser.

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "select", "from", "where", "and", "or", "not", "is", "null", "like", "true", "false",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), WqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(WqlError::Syntax(format!("expected {}", kw.to_uppercase())))
        }
    }
    fn name(&mut self) -> Result<String, WqlError> {
        match self.next() {
            Some(Tok::Ident(s)) if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&s)) => Ok(s),
            _ => Err(syntax("expected a name")),
        }
    }

    fn query(&mut self) -> Result<Query, WqlError> {
        self.expect_kw("select")?;
        let select = if self.peek() == Some(&Tok::Star) {
            self.pos += 1;
            None
        } else {
            let mut names = vec![self.name()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                names.push(self.name()?);
            }
            Some(names)
        };
        self.expect_kw("from")?;
        let class = self.name()?;
        let filter = if self.eat_kw("where") {
            Some(self.or(0)?)
        } else {
            None
        };
        if self.peek().is_some() {
            return Err(syntax("unexpected text after the query"));
        }
        Ok(Query {
            select,
            class,
            filter,
        })
    }

    fn or(&mut self, depth: usize) -> Result<Expr, WqlError> {
        let mut left = self.and(depth)?;
        while self.eat_kw("or") {
            let right = self.and(depth)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, WqlError> {
        let mut left = self.not(depth)?;
        while self.eat_kw("and") {
            let right = self.not(depth)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self, depth: usize) -> Result<Expr, WqlError> {
        if depth > MAX_DEPTH {
            return Err(syntax("expression nested too deeply"));
        }
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not(depth + 1)?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or(depth + 1)?;
            if self.next() != Some(Tok::RParen) {
                return Err(syntax("expected )"));
            }
            return Ok(e);
        }
        self.predicate()
    }

    fn operand(&mut self) -> Result<Operand, WqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Operand::Literal(Literal::Str(s))),
            Some(Tok::Int(n)) => Ok(Operand::Literal(Literal::Int(n))),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => {
                Ok(Operand::Literal(Literal::Bool(true)))
            }
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => {
                Ok(Operand::Literal(Literal::Bool(false)))
            }
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("null") => {
                Ok(Operand::Literal(Literal::Null))
            }
            Some(Tok::Ident(s)) if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&s)) => {
                Ok(Operand::Property(s))
            }
            _ => Err(syntax("expected a property or a literal")),
        }
    }

    fn predicate(&mut self) -> Result<Expr, WqlError> {
        let left = self.operand()?;
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            self.expect_kw("null")?;
            let Operand::Property(property) = left else {
                return Err(syntax("IS NULL needs a property"));
            };
            return Ok(Expr::IsNull { property, negated });
        }
        let negated = self.eat_kw("not");
        if self.eat_kw("like") {
            let (Operand::Property(property), Some(Tok::Str(pattern))) = (left, self.next()) else {
                return Err(syntax("LIKE needs a property and a string"));
            };
            return Ok(Expr::Like {
                property,
                pattern,
                negated,
            });
        }
        if negated {
            return Err(syntax("expected LIKE"));
        }
        let Some(Tok::Op(op)) = self.next() else {
            return Err(syntax("expected a comparison"));
        };
        let right = self.operand()?;
        if matches!((&left, &right), (Operand::Literal(_), Operand::Literal(_))) {
            return Err(syntax("a comparison needs a property"));
        }
        Ok(Expr::Cmp(left, op, right))
    }
}

/// Parses a WQL query. Never panics, whatever the input.
pub fn parse(text: &str) -> Result<Query, WqlError> {
    let toks = lex(text)?;
    Parser { toks, pos: 0 }.query()
}

/// Parses a query given with its language name (the `strQueryLanguage` of
/// `IWbemServices::ExecQuery`, [MS-WMI] 3.1.4.3.18): only `WQL` (any case) is accepted.
pub fn parse_with_language(language: &str, text: &str) -> Result<Query, WqlError> {
    if !language.eq_ignore_ascii_case("WQL") {
        return Err(WqlError::InvalidQueryType(language.to_string()));
    }
    parse(text)
}

// ---------------------------------------------------------------------------------------
// Binding and evaluation.

#[derive(Debug, Clone)]
enum Typed {
    Int(i128),
    Real(f64),
    Bool(bool),
    /// Lower-case text.
    Str(String),
}

#[derive(Debug, Clone)]
enum Bound {
    CmpLit(usize, CmpOp, Typed),
    CmpProp(usize, CmpOp, usize),
    Like(usize, Vec<char>, bool),
    IsNull(usize, bool),
    And(Box<Bound>, Box<Bound>),
    Or(Box<Bound>, Box<Bound>),
    Not(Box<Bound>),
}

fn index_of(class: &ClassDef, name: &str) -> Result<usize, WqlError> {
    class
        .properties
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| WqlError::UnknownProperty(name.to_string()))
}

fn scalar_base(p: &Property) -> Result<CimBase, WqlError> {
    if p.cim_type.array || p.cim_type.base == CimBase::Object {
        Err(WqlError::BadLiteral(format!(
            "property {} cannot be compared",
            p.name
        )))
    } else {
        Ok(p.cim_type.base)
    }
}

fn coerce(base: CimBase, lit: &Literal) -> Result<Typed, WqlError> {
    let bad = || {
        WqlError::BadLiteral(format!(
            "literal does not fit a {} property",
            base.mof_name()
        ))
    };
    Ok(match base {
        CimBase::Boolean => Typed::Bool(match lit {
            Literal::Bool(b) => *b,
            Literal::Int(n) => *n != 0,
            Literal::Str(s) if s.eq_ignore_ascii_case("true") => true,
            Literal::Str(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(bad()),
        }),
        CimBase::Real32 | CimBase::Real64 => Typed::Real(match lit {
            Literal::Int(n) => *n as f64,
            Literal::Str(s) => s.trim().parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        }),
        CimBase::String | CimBase::DateTime | CimBase::Reference => Typed::Str(match lit {
            Literal::Str(s) => s.to_lowercase(),
            Literal::Int(n) => n.to_string(),
            Literal::Bool(b) => if *b { "true" } else { "false" }.to_string(),
            Literal::Null => return Err(bad()),
        }),
        _ => Typed::Int(match lit {
            Literal::Int(n) => *n,
            Literal::Bool(b) => i128::from(*b),
            Literal::Str(s) => s.trim().parse().map_err(|_| bad())?,
            Literal::Null => return Err(bad()),
        }),
    })
}

fn bind(expr: &Expr, class: &ClassDef) -> Result<Bound, WqlError> {
    Ok(match expr {
        Expr::And(a, b) => Bound::And(Box::new(bind(a, class)?), Box::new(bind(b, class)?)),
        Expr::Or(a, b) => Bound::Or(Box::new(bind(a, class)?), Box::new(bind(b, class)?)),
        Expr::Not(a) => Bound::Not(Box::new(bind(a, class)?)),
        Expr::IsNull { property, negated } => Bound::IsNull(index_of(class, property)?, *negated),
        Expr::Like {
            property,
            pattern,
            negated,
        } => {
            let i = index_of(class, property)?;
            let base = scalar_base(&class.properties[i])?;
            if !matches!(
                base,
                CimBase::String | CimBase::DateTime | CimBase::Reference
            ) {
                return Err(WqlError::BadLiteral("LIKE needs a string property".into()));
            }
            Bound::Like(i, pattern.to_lowercase().chars().collect(), *negated)
        }
        Expr::Cmp(l, op, r) => {
            let (prop, op, other) = match (l, r) {
                (Operand::Property(p), other) => (p, *op, other),
                (Operand::Literal(_), Operand::Property(p)) => (p, op.flip(), l),
                // INVARIANT: the parser rejects literal-to-literal comparisons.
                _ => return Err(syntax("a comparison needs a property")),
            };
            let i = index_of(class, prop)?;
            match other {
                Operand::Literal(Literal::Null) => match op {
                    CmpOp::Eq => Bound::IsNull(i, false),
                    CmpOp::Ne => Bound::IsNull(i, true),
                    _ => {
                        return Err(WqlError::BadLiteral(
                            "NULL only compares with = or <>".into(),
                        ))
                    }
                },
                Operand::Literal(lit) => {
                    let base = scalar_base(&class.properties[i])?;
                    Bound::CmpLit(i, op, coerce(base, lit)?)
                }
                Operand::Property(p2) => {
                    let j = index_of(class, p2)?;
                    scalar_base(&class.properties[i])?;
                    scalar_base(&class.properties[j])?;
                    Bound::CmpProp(i, op, j)
                }
            }
        }
    })
}

fn value_of<'a>(class: &'a ClassDef, row: &'a [Slot], i: usize) -> Option<&'a Value> {
    match row.get(i)? {
        Slot::Set(v) => Some(v),
        Slot::Null => None,
        Slot::Default => match &class.properties.get(i)?.default {
            Slot::Set(v) => Some(v),
            _ => None,
        },
    }
}

fn typed(v: &Value) -> Option<Typed> {
    Some(match v {
        Value::Boolean(b) => Typed::Bool(*b),
        Value::Real32(f) => Typed::Real(f64::from(*f)),
        Value::Real64(f) => Typed::Real(*f),
        Value::String(s) | Value::DateTime(s) | Value::Reference(s) => Typed::Str(s.to_lowercase()),
        other => Typed::Int(other.as_i128()?),
    })
}

fn compare(a: &Typed, b: &Typed) -> Option<Ordering> {
    match (a, b) {
        (Typed::Int(x), Typed::Int(y)) => Some(x.cmp(y)),
        (Typed::Real(x), Typed::Real(y)) => x.partial_cmp(y),
        (Typed::Int(x), Typed::Real(y)) => (*x as f64).partial_cmp(y),
        (Typed::Real(x), Typed::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Typed::Bool(x), Typed::Bool(y)) => Some(x.cmp(y)),
        (Typed::Str(x), Typed::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// `LIKE` matching (both sides already lower-case): `%` any run, `_` one character,
/// `[set]` one character of the set (ranges `a-z`, negation `^`).
pub fn like(text: &[char], pattern: &[char]) -> bool {
    // Iterative matching with backtracking to the last `%` (linear memory, no recursion).
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                '%' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                c => {
                    if t < text.len() {
                        let (ok, width) = if c == '_' {
                            (true, 1)
                        } else if c == '[' {
                            set_match(&pattern[p..], text[t])
                        } else {
                            (c == text[t], 1)
                        };
                        if ok {
                            t += 1;
                            p += width;
                            continue;
                        }
                    }
                }
            }
        } else if t == text.len() {
            return true;
        }
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp + 1;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

/// Matches a `[...]` set at the start of `pat` against `c`: (matched, pattern width). An
/// unclosed `[` is a literal `[`.
fn set_match(pat: &[char], c: char) -> (bool, usize) {
    let Some(close) = pat.iter().skip(1).position(|x| *x == ']').map(|i| i + 1) else {
        return (c == '[', 1);
    };
    let body = &pat[1..close];
    let (negate, body) = match body.first() {
        Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut found = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            if body[i] <= c && c <= body[i + 2] {
                found = true;
            }
            i += 3;
        } else {
            if body[i] == c {
                found = true;
            }
            i += 1;
        }
    }
    (found != negate, close + 1)
}

/// Three-valued evaluation: `None` is unknown.
fn eval(b: &Bound, class: &ClassDef, row: &[Slot]) -> Option<bool> {
    match b {
        Bound::And(x, y) => match (eval(x, class, row), eval(y, class, row)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Bound::Or(x, y) => match (eval(x, class, row), eval(y, class, row)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Bound::Not(x) => eval(x, class, row).map(|v| !v),
        Bound::IsNull(i, negated) => Some(value_of(class, row, *i).is_none() != *negated),
        Bound::Like(i, pattern, negated) => {
            let text: Vec<char> = value_of(class, row, *i)?
                .as_str()?
                .to_lowercase()
                .chars()
                .collect();
            Some(like(&text, pattern) != *negated)
        }
        Bound::CmpLit(i, op, lit) => {
            let v = typed(value_of(class, row, *i)?)?;
            Some(op.holds(compare(&v, lit)?))
        }
        Bound::CmpProp(i, op, j) => {
            let a = typed(value_of(class, row, *i)?)?;
            let b = typed(value_of(class, row, *j)?)?;
            Some(op.holds(compare(&a, &b)?))
        }
    }
}

/// A query checked against a class: ready to run over rows.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The class of the result instances (trimmed to the selection and keys).
    pub result_class: std::sync::Arc<ClassDef>,
    /// For each result property, its index in the source class.
    columns: Vec<usize>,
    filter: Option<Bound>,
}

impl Prepared {
    /// Checks `query` against `class` (unknown properties, literal types).
    pub fn new(query: &Query, class: &ClassDef) -> Result<Prepared, WqlError> {
        let filter = query.filter.as_ref().map(|f| bind(f, class)).transpose()?;
        let columns: Vec<usize> = match &query.select {
            None => (0..class.properties.len()).collect(),
            Some(names) => {
                let mut wanted = vec![false; class.properties.len()];
                for n in names {
                    wanted[index_of(class, n)?] = true;
                }
                for (i, p) in class.properties.iter().enumerate() {
                    if is_key(p) {
                        wanted[i] = true;
                    }
                }
                (0..class.properties.len()).filter(|i| wanted[*i]).collect()
            }
        };
        let mut result_class = class.clone();
        if columns.len() != class.properties.len() {
            result_class.properties = columns
                .iter()
                .enumerate()
                .map(|(order, i)| {
                    let mut p = class.properties[*i].clone();
                    p.order = order as u16;
                    p
                })
                .collect();
        }
        Ok(Prepared {
            result_class: std::sync::Arc::new(result_class),
            columns,
            filter,
        })
    }

    /// Whether a row of the source class matches the WHERE clause.
    pub fn matches(&self, class: &ClassDef, row: &[Slot]) -> bool {
        match &self.filter {
            None => true,
            Some(b) => eval(b, class, row) == Some(true),
        }
    }

    /// The projected instance of a row.
    pub fn project(&self, class: &ClassDef, row: &[Slot]) -> Instance {
        let values = self
            .columns
            .iter()
            .map(|i| match row.get(*i) {
                Some(Slot::Default) | None => class
                    .properties
                    .get(*i)
                    .map(|p| p.default.clone())
                    .unwrap_or(Slot::Null),
                Some(s) => s.clone(),
            })
            .collect();
        Instance {
            class: std::sync::Arc::clone(&self.result_class),
            values,
            qualifiers: Vec::new(),
            property_qualifiers: Vec::new(),
        }
    }

    /// Runs over rows of `class`: the matching rows, projected.
    pub fn run<'a>(
        &self,
        class: &ClassDef,
        rows: impl IntoIterator<Item = &'a [Slot]>,
    ) -> Vec<Instance> {
        rows.into_iter()
            .filter(|r| self.matches(class, r))
            .map(|r| self.project(class, r))
            .collect()
    }
}

/// Runs `text` (language `language`) against a host's `namespace`: the result instances,
/// or the WMI error. Classes the namespace knows but that have no instances (such as
/// `StdRegProv`) give an empty result.
pub fn exec_query(
    host: &crate::data::host::HostData,
    namespace: &str,
    language: &str,
    text: &str,
) -> Result<Vec<Instance>, WqlError> {
    exec_query_at(host, namespace, language, text, None)
}

/// [`exec_query`] with the time the performance classes are computed at (a FILETIME;
/// `None`: the host's current time).
pub fn exec_query_at(
    host: &crate::data::host::HostData,
    namespace: &str,
    language: &str,
    text: &str,
    filetime: Option<u64>,
) -> Result<Vec<Instance>, WqlError> {
    let query = parse_with_language(language, text)?;
    let class = host
        .class(namespace, &query.class)
        .ok_or_else(|| WqlError::InvalidClass(query.class.clone()))?;
    let prepared = Prepared::new(&query, class)?;
    if let Some(rows) = host.dynamic_rows(namespace, class, filetime) {
        return Ok(prepared.run(class, rows.iter().map(Vec::as_slice)));
    }
    Ok(match host.table(namespace, &query.class) {
        Some(table) => prepared.run(table.class, table.rows.iter().map(Vec::as_slice)),
        None => Vec::new(),
    })
}
