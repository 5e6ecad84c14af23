//! Where things are in the TOML text: byte offsets to line and column, a byte offset to the key
//! it belongs to, a dotted key path to its span.
//!
//! Works on the spanned document (`toml::de::DeTable`), flattened into a list of entries, because
//! errors only carry a byte range and validation only knows a key path.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One `key = value` of the document, at any depth.
pub(crate) struct Entry<'d, 'i> {
    /// Keys from the root, e.g. `["daemon", "log", "level"]`.
    pub(crate) path: Vec<String>,
    pub(crate) key_span: Range<usize>,
    pub(crate) value_span: Range<usize>,
    pub(crate) value: &'d DeValue<'i>,
}

impl Entry<'_, '_> {
    pub(crate) fn dotted(&self) -> String {
        join_path(&self.path)
    }

    /// A table opened by a `[header]` (or a dotted key), as opposed to an inline `{ ... }`:
    /// the keys that follow it in the text belong to it.
    pub(crate) fn is_header_table(&self) -> bool {
        self.value.is_table() && self.value_span.start <= self.key_span.start
    }
}

/// Which part of an entry an offset fell on.
pub(crate) enum Hit<'d, 'i> {
    Key(Entry<'d, 'i>),
    Value(Entry<'d, 'i>),
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// A key path as written in messages: `daemon.log.level`, `rules[2].trigger.pattern`.
pub(crate) fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

/// The path without its array indices: where the key is described (`rules.trigger.pattern`).
pub(crate) fn without_indices(path: &[String]) -> Vec<String> {
    path.iter().filter(|segment| !segment.starts_with('[')).cloned().collect()
}

/// Every entry of the document, depth first, including each table in an array of tables, whose
/// path segment is its index (`[0]`) and whose key and value span are the table's.
pub(crate) fn entries<'d, 'i>(table: &'d DeTable<'i>) -> Vec<Entry<'d, 'i>> {
    let mut out = Vec::new();
    collect(table, &[], &mut out);
    out
}

fn collect<'d, 'i>(table: &'d DeTable<'i>, parent: &[String], out: &mut Vec<Entry<'d, 'i>>) {
    for (key, value) in table.iter() {
        let mut path = parent.to_vec();
        path.push(key.get_ref().to_string());
        out.push(Entry { path: path.clone(), key_span: key.span(), value_span: value.span(), value: value.get_ref() });
        descend(value.get_ref(), &path, out);
    }
}

fn descend<'d, 'i>(value: &'d DeValue<'i>, path: &[String], out: &mut Vec<Entry<'d, 'i>>) {
    match value {
        DeValue::Table(table) => collect(table, path, out),
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                if let DeValue::Table(table) = element.get_ref() {
                    let mut path = path.to_vec();
                    path.push(format!("[{index}]"));
                    out.push(Entry {
                        path: path.clone(),
                        key_span: element.span(),
                        value_span: element.span(),
                        value: element.get_ref(),
                    });
                    collect(table, &path, out);
                }
            }
        }
        _ => {}
    }
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

/// The entry whose key or value covers `offset`. A key wins; among keys and among values the
/// narrowest wins, so that an error inside `log = { ... }` lands on the inner key, not on `log`,
/// and one inside `condition = [{ ... }]` on the key in the braces, not on the element.
pub(crate) fn entry_at<'d, 'i>(table: &'d DeTable<'i>, offset: usize) -> Option<Hit<'d, 'i>> {
    let all = entries(table);
    let mut best_key: Option<Entry<'d, 'i>> = None;
    let mut best_value: Option<Entry<'d, 'i>> = None;
    for entry in all {
        if contains(&entry.key_span, offset) {
            if best_key.as_ref().is_none_or(|best| entry.key_span.len() < best.key_span.len()) {
                best_key = Some(entry);
            }
        } else if contains(&entry.value_span, offset)
            && best_value.as_ref().is_none_or(|best| entry.value_span.len() < best.value_span.len())
        {
            best_value = Some(entry);
        }
    }
    match (best_key, best_value) {
        // A value narrower than the key hit lies inside it: an inline table element whose whole
        // span counts as its key.
        (Some(key), Some(value)) if value.value_span.len() < key.key_span.len() => Some(Hit::Value(value)),
        (Some(key), _) => Some(Hit::Key(key)),
        (None, value) => value.map(Hit::Value),
    }
}

/// The table a key written at `offset` belongs to, judged from the last entry before it. Used
/// for a duplicate key, which the parser leaves out of the document it recovers.
pub(crate) fn table_before(table: &DeTable<'_>, offset: usize) -> Vec<String> {
    let previous = entries(table)
        .into_iter()
        .filter(|entry| entry.key_span.start < offset)
        .max_by_key(|entry| entry.key_span.start);
    match previous {
        Some(entry) if entry.is_header_table() => entry.path,
        Some(mut entry) => {
            entry.path.pop();
            entry.path
        }
        None => Vec::new(),
    }
}

/// The entry at dotted `key` (the first one, for arrays of tables).
pub(crate) fn entry_by_key<'d, 'i>(table: &'d DeTable<'i>, key: &str) -> Option<Entry<'d, 'i>> {
    entries(table).into_iter().find(|entry| entry.dotted() == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_is_one_based_and_counts_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // Byte 10 is `=`, the fourth character of line 2 although `é` takes two bytes.
        assert_eq!(line_column(text, 10), (2, 4));
        assert_eq!(line_column(text, text.len()), (3, 1));
        assert_eq!(line_column(text, 999), (3, 1));
    }

    #[test]
    fn offsets_map_to_keys_and_values_at_any_depth() {
        let text = "[daemon]\nmax_parallel_tasks = 3\nlog = { level = \"x\" }\n";
        let document = DeTable::parse(text).expect("valid toml");
        let key = text.find("max_parallel").expect("present");
        match entry_at(document.get_ref(), key + 2) {
            Some(Hit::Key(entry)) => assert_eq!(entry.dotted(), "daemon.max_parallel_tasks"),
            _ => panic!("expected a key hit"),
        }
        let value = text.find("\"x\"").expect("present");
        match entry_at(document.get_ref(), value) {
            Some(Hit::Value(entry)) => assert_eq!(entry.dotted(), "daemon.log.level"),
            _ => panic!("expected a value hit"),
        }
        let entry = entry_by_key(document.get_ref(), "daemon.log.level").expect("present");
        assert_eq!(&text[entry.value_span], "\"x\"");
    }

    #[test]
    fn a_key_after_a_header_belongs_to_that_table() {
        let text = "[daemon]\nmax_parallel_tasks = 3\n[daemon.log]\n";
        let document = DeTable::parse(text).expect("valid toml");
        assert_eq!(table_before(document.get_ref(), text.len()), ["daemon", "log"]);
        assert_eq!(table_before(document.get_ref(), 30), ["daemon"]);
    }
}
