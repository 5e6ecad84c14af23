//! Prompt and event-data templates: `{{paths}}`, `{{topic}}`, `{{rule}}`, `{{time}}`, `{{data}}`
//! and `{{data.NAME}}` filled in from what triggered a rule.
//!
//! A template is parsed when the configuration loads, so a misspelt placeholder is a
//! configuration error with its position, not an empty hole in a prompt at three in the
//! morning. `{{{{` writes a literal `{{`. Rendering is total: a value the trigger did not carry
//! renders as nothing.

use serde_json::Value;

/// Most paths a prompt lists; the rest are counted, so that a checkout of 50,000 files cannot
/// make a prompt larger than the queue accepts.
pub const MAX_LISTED_PATHS: usize = 1000;

/// What a template can refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// The changed paths, one per line.
    Paths,
    /// The topic of the triggering event (`file:changed` for file changes, `schedule` for
    /// schedules).
    Topic,
    /// The rule's id.
    Rule,
    /// When the rule fired, RFC 3339 UTC.
    Time,
    /// The triggering event's data, or a value inside it (`data.a.b`: the keys below `data`).
    Data(Vec<String>),
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Hole(Placeholder),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// A placeholder that is not one: what is wrong, where (byte offset in the text), the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub problem: String,
    pub fix: String,
    pub offset: usize,
}

const KNOWN: &str = "{{paths}}, {{topic}}, {{rule}}, {{time}}, {{data}} or {{data.NAME}}";

/// What a template is filled in from.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub paths: &'a [String],
    pub topic: &'a str,
    pub rule: &'a str,
    pub time: &'a str,
    pub data: &'a Value,
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            literal.push_str(&rest[..open]);
            let offset = text.len() - rest.len() + open;
            let after = &rest[open + 2..];
            if let Some(escaped) = after.strip_prefix("{{") {
                literal.push_str("{{");
                rest = escaped;
                continue;
            }
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    problem: "`{{` starts a placeholder that is never closed with `}}`".to_owned(),
                    fix: format!(
                        "close it, e.g. {{{{paths}}}}, or write `{{{{{{{{` for a literal `{{{{`; known: {KNOWN}"
                    ),
                    offset,
                });
            };
            let name = after[..close].trim();
            let placeholder = placeholder(name).ok_or_else(|| TemplateError {
                problem: format!("`{{{{{name}}}}}` is not a known placeholder"),
                fix: format!("use {KNOWN}, or write `{{{{{{{{` for a literal `{{{{`"),
                offset,
            })?;
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Hole(placeholder));
            rest = &after[close + 2..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// Whether the template is a single placeholder and nothing else (`"{{data.count}}"`), so
    /// that event data can keep the value's type instead of turning it into text.
    fn sole_placeholder(&self) -> Option<&Placeholder> {
        match self.pieces.as_slice() {
            [Piece::Hole(placeholder)] => Some(placeholder),
            _ => None,
        }
    }

    /// The text with every placeholder filled in.
    pub fn render(&self, context: &Context<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Hole(placeholder) => out.push_str(&render_text(placeholder, context)),
            }
        }
        out
    }
}

fn placeholder(name: &str) -> Option<Placeholder> {
    match name {
        "paths" => Some(Placeholder::Paths),
        "topic" => Some(Placeholder::Topic),
        "rule" => Some(Placeholder::Rule),
        "time" => Some(Placeholder::Time),
        "data" => Some(Placeholder::Data(Vec::new())),
        _ => {
            let keys = name.strip_prefix("data.")?;
            let keys: Vec<String> = keys.split('.').map(str::to_owned).collect();
            let valid =
                |key: &String| !key.is_empty() && key.chars().all(|c| !c.is_whitespace() && c != '{' && c != '}');
            keys.iter().all(valid).then_some(Placeholder::Data(keys))
        }
    }
}

/// The value at `keys` inside `data`; array elements are addressed by their index.
pub fn lookup<'v>(data: &'v Value, keys: &[String]) -> Option<&'v Value> {
    keys.iter().try_fold(data, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|index| items.get(index)),
        _ => None,
    })
}

/// The paths one per line, at most [`MAX_LISTED_PATHS`] of them.
pub fn paths_text(paths: &[String]) -> String {
    let mut out = paths.iter().take(MAX_LISTED_PATHS).cloned().collect::<Vec<_>>().join("\n");
    if paths.len() > MAX_LISTED_PATHS {
        out.push_str(&format!("\n(and {} more)", paths.len() - MAX_LISTED_PATHS));
    }
    out
}

fn render_text(placeholder: &Placeholder, context: &Context<'_>) -> String {
    match placeholder {
        Placeholder::Paths => paths_text(context.paths),
        Placeholder::Topic => context.topic.to_owned(),
        Placeholder::Rule => context.rule.to_owned(),
        Placeholder::Time => context.time.to_owned(),
        Placeholder::Data(keys) => match lookup(context.data, keys) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        },
    }
}

/// Event data whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum DataTemplate {
    /// A string, filled in.
    Text(Template),
    /// An object, filled in key by key.
    Object(Vec<(String, DataTemplate)>),
    /// An array, filled in element by element.
    Array(Vec<DataTemplate>),
    /// Numbers and booleans, as written.
    Literal(Value),
}

impl DataTemplate {
    /// Parses every string inside `value`; the error carries the dotted path of the bad string.
    pub fn parse(value: &Value) -> Result<DataTemplate, (String, TemplateError)> {
        match value {
            Value::String(text) => Template::parse(text).map(DataTemplate::Text).map_err(|err| (String::new(), err)),
            Value::Object(map) => map
                .iter()
                .map(|(key, value)| {
                    DataTemplate::parse(value).map(|template| (key.clone(), template)).map_err(|(path, err)| {
                        (if path.is_empty() { key.clone() } else { format!("{key}.{path}") }, err)
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(DataTemplate::Object),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, value)| {
                    DataTemplate::parse(value).map_err(|(path, err)| {
                        (if path.is_empty() { format!("{index}") } else { format!("{index}.{path}") }, err)
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(DataTemplate::Array),
            other => Ok(DataTemplate::Literal(other.clone())),
        }
    }

    /// The data with its strings filled in. A string that is a single placeholder takes the
    /// value itself (`"{{data.count}}"` stays a number, `"{{paths}}"` becomes an array).
    pub fn render(&self, context: &Context<'_>) -> Value {
        match self {
            DataTemplate::Text(template) => match template.sole_placeholder() {
                Some(Placeholder::Paths) => {
                    Value::Array(context.paths.iter().take(MAX_LISTED_PATHS).cloned().map(Value::String).collect())
                }
                Some(Placeholder::Data(keys)) => lookup(context.data, keys).cloned().unwrap_or(Value::Null),
                _ => Value::String(template.render(context)),
            },
            DataTemplate::Object(entries) => {
                Value::Object(entries.iter().map(|(key, template)| (key.clone(), template.render(context))).collect())
            }
            DataTemplate::Array(items) => Value::Array(items.iter().map(|item| item.render(context)).collect()),
            DataTemplate::Literal(value) => value.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context<'a>(paths: &'a [String], data: &'a Value) -> Context<'a> {
        Context { paths, topic: "task:failed", rule: "retry", time: "2026-11-21T09:00:00.000Z", data }
    }

    #[test]
    fn placeholders_are_filled_in() {
        let paths = vec!["src/a.rs".to_owned(), "src/b.rs".to_owned()];
        let data = json!({"id": 7, "error": "exit 1", "nested": {"list": ["x", "y"]}, "none": null});
        let cases = [
            ("Changed:\n{{paths}}", "Changed:\nsrc/a.rs\nsrc/b.rs"),
            ("{{ topic }} by {{rule}} at {{time}}", "task:failed by retry at 2026-11-21T09:00:00.000Z"),
            ("task {{data.id}}: {{data.error}}", "task 7: exit 1"),
            ("{{data.nested.list.1}} {{data.nested.list}}", "y [\"x\",\"y\"]"),
            ("[{{data.missing}}][{{data.none}}][{{data.id.deeper}}]", "[][][]"),
            ("{{data}}", r#"{"error":"exit 1","id":7,"nested":{"list":["x","y"]},"none":null}"#),
            ("literal {{{{braces}} stay", "literal {{braces}} stay"),
            ("no placeholders at all", "no placeholders at all"),
            ("", ""),
            ("ünïcödé {{rule}} ✓", "ünïcödé retry ✓"),
        ];
        for (text, expected) in cases {
            let template = Template::parse(text).unwrap_or_else(|err| panic!("{text}: {err:?}"));
            assert_eq!(template.render(&context(&paths, &data)), expected, "{text}");
        }
    }

    #[test]
    fn mistakes_are_found_with_their_position() {
        let cases = [
            ("Fix {{path}} now", 4, "`{{path}}` is not a known placeholder"),
            ("{{data.}}", 0, "`{{data.}}` is not a known placeholder"),
            ("{{data..x}}", 0, "is not a known placeholder"),
            ("{{}}", 0, "`{{}}` is not a known placeholder"),
            ("ok {{paths}} then {{topic", 18, "never closed"),
            ("é{{x}}", 2, "`{{x}}`"),
        ];
        for (text, offset, problem) in cases {
            let err = Template::parse(text).expect_err(text);
            assert_eq!(err.offset, offset, "{text}");
            assert!(err.problem.contains(problem), "{text}: {}", err.problem);
            assert!(err.fix.contains("{{paths}}"), "{text}: {}", err.fix);
        }
    }

    #[test]
    fn long_path_lists_are_cut() {
        let paths: Vec<String> = (0..MAX_LISTED_PATHS + 5).map(|i| format!("f{i}")).collect();
        let text = paths_text(&paths);
        assert_eq!(text.lines().count(), MAX_LISTED_PATHS + 1);
        assert!(text.ends_with("\n(and 5 more)"));
        assert_eq!(paths_text(&[]), "");
    }

    #[test]
    fn data_templates_keep_types_of_sole_placeholders() {
        let paths = vec!["a".to_owned()];
        let data = json!({"id": 7, "flag": true});
        let template = DataTemplate::parse(&json!({
            "task": "{{data.id}}",
            "text": "task {{data.id}}",
            "paths": "{{paths}}",
            "flag": "{{data.flag}}",
            "gone": "{{data.nothing}}",
            "n": 3,
            "list": ["{{rule}}", 1, {"deep": "{{topic}}"}],
        }))
        .expect("valid");
        assert_eq!(
            template.render(&context(&paths, &data)),
            json!({
                "task": 7, "text": "task 7", "paths": ["a"], "flag": true, "gone": null, "n": 3,
                "list": ["retry", 1, {"deep": "task:failed"}],
            })
        );
        let (path, err) = DataTemplate::parse(&json!({"a": {"b": ["ok", "{{nope}}"]}})).expect_err("bad");
        assert_eq!(path, "a.b.1");
        assert!(err.problem.contains("{{nope}}"));
    }
}
