//! The comments steward writes: a hidden marker so it finds its own comments again, and a cap at
//! GitHub's 65,536-character limit that keeps the marker and says that the text was cut.

/// GitHub refuses comment bodies longer than this many characters.
pub const MAX_COMMENT_CHARS: usize = 65_536;

const CUT_NOTICE: &str = "\n\n*[steward: this comment was cut to fit GitHub's 65,536-character limit]*";

/// `<!-- steward:KIND:KEY -->`, invisible when GitHub renders the comment.
///
/// Characters that could end the HTML comment early (or, in `kind`, make the `:` separator
/// ambiguous) are replaced with `_`, so any kind and key give a marker that round-trips.
pub fn marker(kind: &str, key: &str) -> String {
    format!("<!-- steward:{}:{} -->", clean(kind, false), clean(key, true))
}

fn clean(part: &str, colon_allowed: bool) -> String {
    part.chars()
        .map(|c| {
            let plain = c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '#') || (colon_allowed && c == ':');
            if plain { c } else { '_' }
        })
        .collect()
}

/// Whether `body` carries the marker for `kind` and `key`.
pub fn has_marker(body: &str, kind: &str, key: &str) -> bool {
    body.contains(&marker(kind, key))
}

/// Whether `body` is one of steward's comments (it starts with a marker of any kind).
pub fn has_any_marker(body: &str) -> bool {
    body.trim_start().starts_with("<!-- steward:")
}

/// The marker followed by `text`, cut (by characters, not bytes) to GitHub's limit if needed,
/// with a note saying so at the end; a code block left open by the cut is closed first.
pub fn comment_body(text: &str, kind: &str, key: &str) -> String {
    cap_comment(&format!("{}\n{text}", marker(kind, key)))
}

/// `body` itself when it fits GitHub's limit, else its beginning (where the marker is) with a
/// note that it was cut. The adapter applies it to every comment it sends.
pub fn cap_comment(body: &str) -> String {
    if body.chars().count() <= MAX_COMMENT_CHARS {
        return body.to_owned();
    }
    // Room for a closing fence is kept in every case so the arithmetic stays simple.
    let fence = "\n```";
    let budget = MAX_COMMENT_CHARS - CUT_NOTICE.chars().count() - fence.chars().count();
    let kept: String = body.chars().take(budget).collect();
    let open_fence = kept.matches("```").count() % 2 == 1;
    format!("{kept}{}{CUT_NOTICE}", if open_fence { fence } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_hidden_and_round_trip() {
        assert_eq!(marker("progress", "issue-12"), "<!-- steward:progress:issue-12 -->");
        assert_eq!(marker("a:b", "x-->y"), "<!-- steward:a_b:x--_y -->");
        let body = comment_body("hello", "question", "session:7");
        assert!(has_marker(&body, "question", "session:7"));
        assert!(!has_marker(&body, "question", "session:8"));
        assert!(!has_marker(&body, "progress", "session:7"));
        assert!(body.ends_with("\nhello"));
    }

    #[test]
    fn short_bodies_are_untouched() {
        let text = "x".repeat(1000);
        assert_eq!(comment_body(&text, "k", "v"), format!("{}\n{text}", marker("k", "v")));
    }

    #[test]
    fn long_bodies_are_cut_by_characters_and_keep_the_marker() {
        // Four bytes per character: a byte-based cut would keep a quarter as much.
        let text = "🦀".repeat(70_000);
        let body = comment_body(&text, "progress", "issue-3");
        assert_eq!(body.chars().count(), MAX_COMMENT_CHARS - 4);
        assert!(body.starts_with(&marker("progress", "issue-3")));
        assert!(body.ends_with(CUT_NOTICE));
    }

    #[test]
    fn a_code_block_open_at_the_cut_is_closed() {
        let text = format!("```\n{}", "log line\n".repeat(10_000));
        let body = comment_body(&text, "ci", "run-1");
        assert!(body.chars().count() <= MAX_COMMENT_CHARS);
        assert!(body.ends_with(&format!("\n```{CUT_NOTICE}")));
    }
}
