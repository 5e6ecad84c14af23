//! Ignored paths produce nothing and their directories get no watch; `.gitignore` edits apply at
//! once. "Nothing" is shown by writing the ignored files first and a sentinel last.

use super::super::ChangeKind::*;
use super::{Project, Watching};

#[test]
fn ignored_paths_produce_nothing() {
    let project =
        Project::new(&["build/", "sub/deeper/", ".git/objects/", ".steward/daemon/", "node_modules/pkg/", "src/"]);
    project.write(".gitignore", "*.tmp\nbuild/\nnode_modules/\n");
    project.write("sub/.gitignore", "local.txt\n");
    let watching = Watching::start(&project, &["."], &["*.log", "gen/"]);
    // root, sub, sub/deeper, src: not build, .git, .steward, node_modules (nor their insides).
    assert_eq!(watching.watcher.status().directories, 4);

    project.write("a.tmp", "");
    project.write("src/b.tmp", "");
    project.write("x.log", "");
    project.write("src/deep/er/y.log", "");
    project.write("build/out.rs", "");
    project.write("build/new/dir/out.rs", "");
    project.write("sub/local.txt", "");
    project.write("sub/deeper/local.txt", "");
    project.write(".git/index", "");
    project.write(".git/objects/ab", "");
    project.write(".steward/daemon/state", "");
    project.write("src/.git", "gitdir: elsewhere\n");
    project.write("gen/made.rs", "");
    project.write("node_modules/pkg/index.js", "");
    project.write("sentinel.txt", "");
    watching.expect(&[("sentinel.txt", Create)]);
    // The new `src/deep/er` is watched; `build/new/dir` and `gen` are not.
    assert_eq!(watching.watcher.status().directories, 6);
    // Not ignored by the nested file: it applies below `sub` only.
    project.write("local.txt", "");
    watching.expect(&[("local.txt", Create)]);
}

#[test]
fn a_gitignore_edited_after_start_takes_effect() {
    let project = Project::new(&["gen/old.rs", "src/a.rs", "src/cache/c.bin"]);
    project.write(".gitignore", "gen/\n");
    let watching = Watching::start(&project, &["."], &[]);
    assert_eq!(watching.watcher.status().directories, 3, "root, src, src/cache");

    // `gen/` is re-included (and gets a watch), `*.tmp` is ignored from now on.
    project.write(".gitignore", "*.tmp\n");
    watching.expect(&[(".gitignore", Modify)]);
    assert_eq!(watching.watcher.status().directories, 4);
    project.write("a.tmp", "");
    project.write("gen/new.rs", "");
    project.write("sentinel.txt", "");
    watching.expect(&[("gen/new.rs", Create), ("sentinel.txt", Create)]);

    // A new nested file ignores a watched directory: its watch goes.
    project.write("src/.gitignore", "cache/\n");
    watching.expect(&[("src/.gitignore", Create)]);
    assert_eq!(watching.watcher.status().directories, 3);
    project.write("src/cache/d.bin", "");
    project.write("src/sentinel.rs", "");
    watching.expect(&[("src/sentinel.rs", Create)]);

    // Deleting it brings the directory back.
    std::fs::remove_file(project.path("src/.gitignore")).unwrap();
    watching.expect(&[("src/.gitignore", Delete)]);
    assert_eq!(watching.watcher.status().directories, 4);
    project.write("src/cache/e.bin", "");
    watching.expect(&[("src/cache/e.bin", Create)]);
}

#[test]
fn a_configured_negation_watches_what_git_ignores() {
    let project = Project::new(&["generated/", "target/"]);
    project.write(".gitignore", "generated/\ntarget/\n");
    let watching = Watching::start(&project, &["."], &["!generated/"]);
    assert_eq!(watching.watcher.status().directories, 2, "root and generated");
    project.write("target/x", "");
    project.write("generated/api.rs", "");
    watching.expect(&[("generated/api.rs", Create)]);
}
