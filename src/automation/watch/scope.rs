//! Which project paths the watcher covers: the configured `[watch] paths`, normalized once, and the
//! classification of any project-relative path against them (inside a configured path, on the way
//! to one, or outside). Also the small helpers for the `'/'`-separated relative paths used
//! throughout the watcher (`""` is the project root).

use std::path::{Component, Path};

use super::WatchError;

/// Where a project-relative path stands against the configured paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Coverage {
    /// A configured path or something under one: its changes are reported.
    Inside,
    /// A directory on the way to a configured path that is not watched as a whole: it is watched
    /// only to see the next step of the path appear (configured paths may not exist yet, and a
    /// configured file is watched through its directory).
    Leading,
    /// Neither: not watched, not reported.
    Outside,
}

/// The configured paths, normalized: relative, no `.` or `..`, no trailing `/`, none inside
/// another. `[""]` is the whole project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Scope {
    targets: Vec<String>,
}

impl Scope {
    /// Normalizes `paths` (project-relative; `.` or empty is the whole project, and so is an empty
    /// list). An absolute path is accepted when it lies inside `root`.
    pub(super) fn new(root: &Path, paths: &[String]) -> Result<Scope, WatchError> {
        let mut targets = paths.iter().map(|path| normalize(root, path)).collect::<Result<Vec<_>, _>>()?;
        if targets.is_empty() {
            targets.push(String::new());
        }
        // Sorted, a path inside another comes right after it (or after its other descendants).
        targets.sort();
        targets.dedup();
        let mut kept: Vec<String> = Vec::with_capacity(targets.len());
        for target in targets {
            if !kept.iter().any(|outer| is_within(&target, outer)) {
                kept.push(target);
            }
        }
        Ok(Scope { targets: kept })
    }

    /// The configured paths after normalization.
    pub(super) fn targets(&self) -> &[String] {
        &self.targets
    }

    /// Where `rel` stands. Costs one prefix comparison per configured path, no allocation.
    pub(super) fn classify(&self, rel: &str) -> Coverage {
        let mut coverage = Coverage::Outside;
        for target in &self.targets {
            if is_within(rel, target) {
                return Coverage::Inside;
            }
            if is_proper_ancestor(rel, target) {
                coverage = Coverage::Leading;
            }
        }
        coverage
    }
}

/// One configured path as a normalized relative path, or why it cannot be watched.
fn normalize(root: &Path, path: &str) -> Result<String, WatchError> {
    let outside = || WatchError::PathOutsideRoot { root: root.to_path_buf(), path: path.to_owned() };
    let trimmed = path.trim();
    let as_path = Path::new(trimmed);
    let relative = if as_path.is_absolute() { as_path.strip_prefix(root).map_err(|_| outside())? } else { as_path };
    let mut parts: Vec<&str> = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(outside)?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(parts.join("/"))
}

/// `rel` is `outer` or lies under it (`""` contains everything).
pub(super) fn is_within(rel: &str, outer: &str) -> bool {
    outer.is_empty() || rel == outer || (rel.starts_with(outer) && rel.as_bytes().get(outer.len()) == Some(&b'/'))
}

/// `rel` is a directory strictly above `inner`.
fn is_proper_ancestor(rel: &str, inner: &str) -> bool {
    rel != inner && is_within(inner, rel)
}

/// `name` inside the directory `dir`.
pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

/// The directory holding `rel` (`""` for a top-level entry and for the root itself).
pub(super) fn parent_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |slash| &rel[..slash])
}

/// The last component of `rel`.
pub(super) fn name_of(rel: &str) -> &str {
    rel.rfind('/').map_or(rel, |slash| &rel[slash + 1..])
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn scope(paths: &[&str]) -> Scope {
        let paths: Vec<String> = paths.iter().map(|path| path.to_string()).collect();
        Scope::new(Path::new("/project"), &paths).unwrap()
    }

    #[test]
    fn paths_are_normalized() {
        let cases: &[(&str, &str)] = &[
            ("src/", "src"),
            ("./src", "src"),
            ("src//gen/", "src/gen"),
            ("./src/./gen", "src/gen"),
            (".", ""),
            ("", ""),
            ("  Cargo.toml ", "Cargo.toml"),
            ("/project/docs", "docs"),
            ("/project", ""),
        ];
        for (written, normalized) in cases {
            assert_eq!(scope(&[written]).targets(), [normalized.to_string()], "{written:?}");
        }
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        for written in ["../other", "src/../../x", "/elsewhere/src", "/projectile"] {
            let error = Scope::new(Path::new("/project"), &[written.to_string()]).unwrap_err();
            match error {
                WatchError::PathOutsideRoot { root, path } => {
                    assert_eq!(root, PathBuf::from("/project"));
                    assert_eq!(path, written);
                }
                other => panic!("{written}: {other:?}"),
            }
        }
    }

    #[test]
    fn nested_and_duplicate_paths_collapse_and_nothing_means_everything() {
        assert_eq!(scope(&["src/gen", "src", "src/", "docs"]).targets(), ["docs", "src"]);
        assert_eq!(scope(&["src", "."]).targets(), [""]);
        assert_eq!(scope(&["src-old", "src"]).targets(), ["src", "src-old"]);
        assert_eq!(scope(&[]).targets(), [""]);
    }

    #[test]
    fn classification() {
        use Coverage::*;
        let configured = scope(&["src", "docs/api", "Cargo.toml"]);
        let cases: &[(&str, Coverage)] = &[
            ("", Leading),
            ("src", Inside),
            ("src/main.rs", Inside),
            ("src/a/b/c.rs", Inside),
            ("srcx", Outside),
            ("src.rs", Outside),
            ("docs", Leading),
            ("docs/api", Inside),
            ("docs/api/index.md", Inside),
            ("docs/apiary", Outside),
            ("docs/guide.md", Outside),
            ("Cargo.toml", Inside),
            ("Cargo.toml.tmp", Outside),
            ("Cargo.lock", Outside),
            ("target", Outside),
        ];
        for (rel, expected) in cases {
            assert_eq!(configured.classify(rel), *expected, "{rel:?}");
        }
        let whole = scope(&["."]);
        for rel in ["", "a", "a/b/c"] {
            assert_eq!(whole.classify(rel), Inside, "{rel:?}");
        }
    }

    #[test]
    fn relative_path_helpers() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a/b", "c"), "a/b/c");
        assert_eq!(parent_of("a/b/c"), "a/b");
        assert_eq!(parent_of("a"), "");
        assert_eq!(parent_of(""), "");
        assert_eq!(name_of("a/b/c"), "c");
        assert_eq!(name_of("a"), "a");
        assert!(is_within("a/b", "a"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("anything", ""));
    }
}
