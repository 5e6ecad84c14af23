//! `${VAR}` references in the values of an agent's `env`: their syntax, checked when the file is
//! loaded, and their expansion against the daemon's environment, done when an agent is spawned.
//!
//! The syntax is the small, shell-like subset that needs no quoting rules of its own: `${NAME}`,
//! `${NAME:-default}` (the default is plain text), `$$` for a literal `$`. Any other `$` is
//! literal, so a value such as `pa$word` needs no escaping; `$NAME` without braces is therefore
//! *not* expanded, which the documentation says plainly.

/// One piece of a parsed value, borrowing from it.
#[derive(Debug, PartialEq)]
enum Piece<'v> {
    Text(&'v str),
    Var { name: &'v str, default: Option<&'v str> },
}

/// A reference that cannot be read. `offset` is the byte offset of its `$` in the value.
#[derive(Debug, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) offset: usize,
    pub(crate) problem: String,
    pub(crate) fix: String,
}

/// Whether `name` can be an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks the syntax of `value` without looking anything up.
pub(crate) fn check(value: &str) -> Result<(), SyntaxError> {
    parse(value).map(drop)
}

/// Expands the references in an `env` value with `lookup` (at spawn time: the daemon's
/// environment). `${NAME:-default}` takes the default when `NAME` is unset or empty, as in a
/// shell; `${NAME}` with `NAME` unset is an error naming it.
pub fn expand_env_value(value: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let pieces = parse(value).map_err(|err| format!("{}; {}", err.problem, err.fix))?;
    let mut out = String::with_capacity(value.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var { name, default: None } => match lookup(name) {
                Some(found) => out.push_str(&found),
                None => {
                    return Err(format!(
                        "`${{{name}}}` is not set in the daemon's environment; set it or write `${{{name}:-}}`"
                    ));
                }
            },
            Piece::Var { name, default: Some(default) } => match lookup(name) {
                Some(found) if !found.is_empty() => out.push_str(&found),
                _ => out.push_str(default),
            },
        }
    }
    Ok(out)
}

/// The variables `value` refers to, in order, each with whether it has a default. A value with
/// a syntax error yields the references before the error.
pub fn referenced_vars(value: &str) -> Vec<(String, bool)> {
    let mut vars = Vec::new();
    let _ = parse_into(value, &mut |piece| {
        if let Piece::Var { name, default } = piece {
            vars.push((name.to_owned(), default.is_some()));
        }
    });
    vars
}

fn parse(value: &str) -> Result<Vec<Piece<'_>>, SyntaxError> {
    let mut pieces = Vec::new();
    parse_into(value, &mut |piece| pieces.push(piece))?;
    Ok(pieces)
}

/// Feeds the pieces of `value` to `emit` in order, stopping at the first syntax error.
fn parse_into<'v>(value: &'v str, emit: &mut impl FnMut(Piece<'v>)) -> Result<(), SyntaxError> {
    let mut text_start = 0;
    let mut at = 0;
    while let Some(found) = value[at..].find('$') {
        let dollar = at + found;
        let after = &value[dollar + 1..];
        if after.starts_with('$') {
            // Keep the first `$` of the pair as text, drop the second.
            emit(Piece::Text(&value[text_start..=dollar]));
            at = dollar + 2;
            text_start = at;
        } else if after.starts_with('{') {
            if text_start < dollar {
                emit(Piece::Text(&value[text_start..dollar]));
            }
            let (piece, end) = reference(value, dollar)?;
            emit(piece);
            at = end;
            text_start = at;
        } else {
            at = dollar + 1;
        }
    }
    if text_start < value.len() {
        emit(Piece::Text(&value[text_start..]));
    }
    Ok(())
}

/// The reference starting with the `${` at byte `dollar`, and the byte after its `}`.
fn reference(value: &str, dollar: usize) -> Result<(Piece<'_>, usize), SyntaxError> {
    let body_start = dollar + 2;
    let error = |problem: String, fix: String| SyntaxError { offset: dollar, problem, fix };
    let unclosed = |name: &str| {
        let shown: String = name.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').take(40).collect();
        let example = if shown.is_empty() { "GH_TOKEN" } else { &shown };
        error(
            format!("`${{{shown}` is not closed"),
            format!("end the reference with `}}`, e.g. `${{{example}}}`; write `$$` for a literal `$`"),
        )
    };
    let Some(close) = value[body_start..].find('}').map(|close| body_start + close) else {
        return Err(unclosed(&value[body_start..]));
    };
    let body = &value[body_start..close];
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    // `${A ${B}`: the first `}` belongs to a later reference, so the first one is unclosed.
    if name.contains(['$', '{']) {
        return Err(unclosed(name));
    }
    let written = &value[dollar..=close];
    if name.is_empty() {
        return Err(error(
            format!("`{written}` names no variable"),
            "put a variable name between the braces, e.g. `${GH_TOKEN}`; write `$${` for a literal `${`".to_owned(),
        ));
    }
    if !is_var_name(name) {
        return Err(error(
            format!("`{written}` does not name a variable: `{name}` is not a valid name"),
            "a name has letters, digits and `_` and does not start with a digit; a default is written \
             `${NAME:-default}`"
                .to_owned(),
        ));
    }
    if default.is_some_and(|default| default.contains("${")) {
        return Err(error(
            format!("`{written}` has a reference inside its default, which is not supported"),
            format!("write the default as plain text, e.g. `${{{name}:-fallback}}`"),
        ));
    }
    Ok((Piece::Var { name, default }, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variable_names() {
        for good in ["A", "_", "GH_TOKEN", "a1", "_9"] {
            assert!(is_var_name(good), "{good}");
        }
        for bad in ["", "1A", "GH-TOKEN", "A B", "A.B", "É"] {
            assert!(!is_var_name(bad), "{bad}");
        }
    }

    #[test]
    fn plain_text_and_lone_dollars_stay_as_written() {
        for value in ["", "plain", "pa$word", "$HOME", "cost: 5$", "$", "a$-b", "{}"] {
            assert_eq!(expand_env_value(value, env).as_deref(), Ok(value), "{value}");
            assert_eq!(check(value), Ok(()), "{value}");
        }
    }

    #[test]
    fn references_expand_from_the_lookup() {
        assert_eq!(expand_env_value("${HOME}", env).as_deref(), Ok("/home/me"));
        assert_eq!(expand_env_value("${HOME}/bin:${HOME}", env).as_deref(), Ok("/home/me/bin:/home/me"));
        assert_eq!(expand_env_value("x${EMPTY}y", env).as_deref(), Ok("xy"));
        assert_eq!(expand_env_value("${NOPE:-fallback}", env).as_deref(), Ok("fallback"));
        assert_eq!(expand_env_value("${NOPE:-}", env).as_deref(), Ok(""));
        assert_eq!(expand_env_value("${HOME:-fallback}", env).as_deref(), Ok("/home/me"));
        // As in a shell, `:-` also replaces an empty value.
        assert_eq!(expand_env_value("${EMPTY:-fallback}", env).as_deref(), Ok("fallback"));
        assert_eq!(expand_env_value("${NOPE:-a:-b $x}", env).as_deref(), Ok("a:-b $x"));
    }

    #[test]
    fn double_dollar_is_a_literal_dollar() {
        assert_eq!(expand_env_value("$$", env).as_deref(), Ok("$"));
        assert_eq!(expand_env_value("$${HOME}", env).as_deref(), Ok("${HOME}"));
        assert_eq!(expand_env_value("$$$${HOME}", env).as_deref(), Ok("$${HOME}"));
        assert_eq!(expand_env_value("$$$", env).as_deref(), Ok("$$"));
        assert_eq!(expand_env_value("a$$b", env).as_deref(), Ok("a$b"));
        assert_eq!(expand_env_value("$$${HOME}", env).as_deref(), Ok("$/home/me"));
    }

    #[test]
    fn unset_without_default_names_the_variable() {
        assert_eq!(
            expand_env_value("token ${GH_TOKEN}", env),
            Err("`${GH_TOKEN}` is not set in the daemon's environment; set it or write `${GH_TOKEN:-}`".to_owned())
        );
    }

    #[test]
    fn syntax_errors_say_where_and_what() {
        let err = check("ab ${GH_TOKEN").expect_err("unclosed");
        assert_eq!(err.offset, 3);
        assert_eq!(err.problem, "`${GH_TOKEN` is not closed");
        assert_eq!(err.fix, "end the reference with `}`, e.g. `${GH_TOKEN}`; write `$$` for a literal `$`");
        assert_eq!(check("${").expect_err("unclosed").problem, "`${` is not closed");
        assert_eq!(check("${A ${B}").expect_err("unclosed").problem, "`${A` is not closed");

        let err = check("x${}").expect_err("empty");
        assert_eq!(err.offset, 1);
        assert_eq!(err.problem, "`${}` names no variable");
        assert_eq!(check("${:-x}").expect_err("empty").problem, "`${:-x}` names no variable");

        let err = check("${1A}").expect_err("bad name");
        assert_eq!(err.problem, "`${1A}` does not name a variable: `1A` is not a valid name");
        assert!(err.fix.contains("`${NAME:-default}`"), "{err:?}");
        assert!(check("${A-b}").is_err());
        assert!(check("${A B}").is_err());

        let err = check("${A:-${B}}").expect_err("nested");
        assert_eq!(err.problem, "`${A:-${B}` has a reference inside its default, which is not supported");

        // Expansion reports the same problems, with the fix.
        assert_eq!(
            expand_env_value("${", env),
            Err("`${` is not closed; end the reference with `}`, e.g. `${GH_TOKEN}`; write `$$` for a literal `$`"
                .to_owned())
        );
    }

    #[test]
    fn referenced_vars_in_order_with_defaults() {
        assert_eq!(
            referenced_vars("${A}:${B:-x}$${C}$D${A}"),
            [("A".to_owned(), false), ("B".to_owned(), true), ("A".to_owned(), false)]
        );
        assert_eq!(referenced_vars("plain"), []);
        assert_eq!(referenced_vars("${A} ${"), [("A".to_owned(), false)]);
    }
}
