//! Changes are reported with the right kinds, once per path, and the watches follow the tree:
//! new directories, deleted and renamed ones, configured paths that appear after start.

use std::time::Duration;

use super::super::{Change, ChangeBatch, ChangeKind::*, WatchError, WatchReport, WatchSettings, Watcher};
use super::{Project, Watching, pairs};

#[test]
fn create_modify_rename_and_delete_are_reported_with_their_kinds() {
    let project = Project::new(&["src/existing.rs"]);
    let watching = Watching::start(&project, &["src"], &[]);

    project.write("src/new.rs", "fn main() {}\n");
    watching.expect(&[("src/new.rs", Create)]);

    project.append("src/existing.rs");
    watching.expect(&[("src/existing.rs", Modify)]);

    project.rename("src/new.rs", "src/renamed.rs");
    watching.expect(&[("src/new.rs", Rename), ("src/renamed.rs", Rename)]);

    std::fs::remove_file(project.path("src/existing.rs")).unwrap();
    watching.expect(&[("src/existing.rs", Delete)]);

    // An editor's atomic save: a temporary file renamed over the original.
    project.write("src/renamed.rs.tmp", "saved\n");
    project.rename("src/renamed.rs.tmp", "src/renamed.rs");
    watching.expect(&[("src/renamed.rs", Rename)]);
    assert!(watching.stop().is_empty());
}

#[test]
fn a_burst_of_writes_is_one_batch() {
    let files: Vec<String> = (0..100).map(|n| format!("src/m{}/f{n:03}.rs", n % 10)).collect();
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let project = Project::new(&names);
    // A longer quiet period than the other tests: a busy machine must not split the burst.
    let mut settings = project.settings(&["src"], &[]);
    settings.debounce = Duration::from_millis(300);
    let watching = Watching::start_with(settings, Default::default());

    for round in 0..10 {
        for file in &files {
            project.write(file, &format!("round {round}\n"));
        }
    }
    let batch = watching.next_batch();
    let expected: Vec<Change> = {
        let mut sorted = files.clone();
        sorted.sort();
        sorted.into_iter().map(|path| Change { path, kind: Modify }).collect()
    };
    assert_eq!(batch, ChangeBatch { changes: expected, rescan: false });
    // Exactly one: the next batch holds only what comes after.
    project.write("src/sentinel.rs", "");
    assert_eq!(pairs(&watching.next_batch()), [("src/sentinel.rs", Create)]);
}

#[test]
fn new_nested_directories_are_watched_and_their_files_reported() {
    let project = Project::new(&[]);
    let watching = Watching::start(&project, &["."], &[]);
    assert_eq!(watching.watcher.status().directories, 1);

    project.write("a/b/c/f.txt", "made right after mkdir -p\n");
    watching.expect(&[("a/b/c/f.txt", Create)]);
    project.write("a/b/c/g.txt", "");
    project.write("a/b/h.txt", "");
    watching.expect(&[("a/b/c/g.txt", Create), ("a/b/h.txt", Create)]);
    assert_eq!(watching.watcher.status().directories, 4);
}

#[test]
fn a_deleted_directory_is_reported_with_its_files_and_loses_its_watches() {
    let project = Project::new(&["src/d/x.rs", "src/d/e/y.rs", "src/keep.rs"]);
    let watching = Watching::start(&project, &["src"], &[]);
    assert_eq!(watching.watcher.status().directories, 4, "root (leading), src, src/d, src/d/e");

    std::fs::remove_dir_all(project.path("src/d")).unwrap();
    watching.expect(&[("src/d", Delete), ("src/d/e", Delete), ("src/d/e/y.rs", Delete), ("src/d/x.rs", Delete)]);
    assert_eq!(watching.watcher.status().directories, 2);

    // Recreated under the same name: watched again.
    project.write("src/d/z.rs", "");
    watching.expect(&[("src/d/z.rs", Create)]);
    assert_eq!(watching.watcher.status().directories, 3);
}

#[test]
fn a_renamed_directory_is_reported_and_watched_at_its_new_place() {
    let project = Project::new(&["src/d/x.rs", "src/d/e/y.rs"]);
    let watching = Watching::start(&project, &["src"], &[]);

    project.rename("src/d", "src/m");
    watching.expect(&[("src/d", Rename), ("src/m", Rename), ("src/m/e/y.rs", Rename), ("src/m/x.rs", Rename)]);
    assert_eq!(watching.watcher.status().directories, 4);

    project.write("src/m/e/z.rs", "");
    watching.expect(&[("src/m/e/z.rs", Create)]);

    // Renamed out of the watched paths: gone from here, nothing reported from there.
    project.rename("src/m", "elsewhere");
    watching.expect(&[("src/m", Rename)]);
    assert_eq!(watching.watcher.status().directories, 2);
    project.write("elsewhere/w.rs", "");
    project.write("src/sentinel.rs", "");
    watching.expect(&[("src/sentinel.rs", Create)]);
}

#[test]
fn configured_paths_that_appear_later_are_picked_up() {
    let project = Project::new(&["README.md"]);
    let watching = Watching::start(&project, &["src/gen", "Cargo.toml"], &[]);
    assert_eq!(watching.watcher.status().directories, 1, "only the root, on the way to both");

    project.write("src/gen/x.rs", "");
    watching.expect(&[("src/gen/x.rs", Create)]);
    assert_eq!(watching.watcher.status().directories, 3);

    // Only the configured file of the root, and nothing else of `src`.
    project.write("README.md", "changed\n");
    project.write("src/other.rs", "");
    project.write("Cargo.toml.tmp", "");
    project.write("Cargo.toml", "[package]\n");
    watching.expect(&[("Cargo.toml", Create)]);

    // Replaced by a rename, as editors save: still seen (the watch is on the directory).
    project.rename("Cargo.toml.tmp", "Cargo.toml");
    watching.expect(&[("Cargo.toml", Rename)]);
    project.append("Cargo.toml");
    watching.expect(&[("Cargo.toml", Modify)]);

    // The configured directory deleted and created again.
    std::fs::remove_dir_all(project.path("src/gen")).unwrap();
    watching.expect(&[("src/gen", Delete), ("src/gen/x.rs", Delete)]);
    project.write("src/gen/y.rs", "");
    watching.expect(&[("src/gen/y.rs", Create)]);
}

#[test]
fn a_metadata_change_of_a_directory_is_not_reported() {
    use std::os::unix::fs::PermissionsExt;
    let project = Project::new(&["src/sub/", "src/a.rs"]);
    let watching = Watching::start(&project, &["src"], &[]);
    std::fs::set_permissions(project.path("src/sub"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::set_permissions(project.path("src/a.rs"), std::fs::Permissions::from_mode(0o600)).unwrap();
    watching.expect(&[("src/a.rs", Modify)]);
}

#[test]
fn start_refuses_bad_settings_with_the_path_concerned() {
    let project = Project::new(&[]);
    let sink = |_| {};
    let relative = WatchSettings { root: "relative/root".into(), ..project.settings(&["."], &[]) };
    assert!(matches!(Watcher::start(relative, sink), Err(WatchError::RootNotAbsolute { .. })));

    let missing = WatchSettings { root: project.path("missing"), ..project.settings(&["."], &[]) };
    let error = Watcher::start(missing, sink).unwrap_err();
    assert!(matches!(&error, WatchError::Root { root, .. } if root.ends_with("missing")), "{error:?}");
    assert!(error.to_string().contains("check that the directory exists"), "{error}");

    let outside = Watcher::start(project.settings(&["../x"], &[]), sink).unwrap_err();
    assert!(matches!(&outside, WatchError::PathOutsideRoot { path, .. } if path == "../x"), "{outside:?}");

    let bad_line = Watcher::start(project.settings(&["."], &["src/[z-a]"]), sink).unwrap_err();
    assert!(matches!(&bad_line, WatchError::InvalidIgnore { line, .. } if line == "src/[z-a]"), "{bad_line:?}");
    assert!(bad_line.to_string().contains("fix or remove the line"), "{bad_line}");
}

#[test]
fn a_deleted_project_root_is_reported_as_a_problem() {
    let project = Project::new(&["root/src/a.rs"]);
    let settings = WatchSettings { root: project.path("root"), ..project.settings(&["."], &[]) };
    let watching = Watching::start_with(settings, Default::default());
    std::fs::remove_dir_all(project.path("root")).unwrap();
    // Its files and directories go first, then the root itself.
    let problem = loop {
        match watching.next_report() {
            WatchReport::Changes(_) => continue,
            WatchReport::Problem(problem) => break problem,
        }
    };
    assert!(problem.message.contains("was deleted or moved"), "{}", problem.message);
    assert_eq!(watching.watcher.status().problem, Some(problem));
}

#[test]
fn the_watcher_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Watcher>();
}
