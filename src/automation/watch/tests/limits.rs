//! The hard cases: a real kernel queue overflow, a real watch limit (in a user namespace), a
//! clean stop, and an idle watcher that does not wake.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify::event::{EventKind, Flag};

use super::super::ChangeKind::*;
use super::super::event_loop::Input;
use super::super::{WatchReport, problem};
use super::{Gate, Project, Watching, hooks_with_gate, is_child, pairs, run_child, test_path, wait_until};

fn read_number(file: &str) -> u64 {
    std::fs::read_to_string(file).unwrap().trim().parse().unwrap()
}

#[test]
fn a_real_queue_overflow_rescans_and_reports_what_changed() {
    // Each new empty file queues three events (create, open, close); this is more than fit.
    let queue = read_number("/proc/sys/fs/inotify/max_queued_events");
    let files = (queue / 3 + 500) as usize;
    let project = Project::in_memory(&["bulk/"]);
    let gate = Arc::new(Gate::default());
    let watching = Watching::start_with(project.settings(&["."], &[]), hooks_with_gate(&gate));
    project.write("first.txt", "");
    watching.expect(&[("first.txt", Create)]);

    // Hold notify's thread in the handler, so nobody reads the inotify queue while it fills.
    let held = gate.close();
    project.write("trigger.txt", "");
    held.recv_timeout(super::DEADLINE).expect("notify's thread reaches the handler");
    let names: Vec<String> = (0..files).map(|n| format!("bulk/f{n:06}")).collect();
    for name in &names {
        std::fs::File::create(project.path(name)).unwrap();
    }
    gate.open();

    let mut seen = BTreeSet::new();
    loop {
        let batch = watching.next_batch();
        seen.extend(batch.changes.iter().map(|change| change.path.clone()));
        if batch.rescan {
            break;
        }
    }
    assert_eq!(watching.watcher.status().rescans, 1);
    let missing: Vec<&String> = names.iter().filter(|name| !seen.contains(*name)).collect();
    assert!(missing.is_empty(), "{} of {files} files not reported, e.g. {:?}", missing.len(), missing.first());
    assert!(seen.contains("trigger.txt"));
}

#[test]
fn a_rescan_reports_files_changed_since_shortly_before_the_last_batch() {
    let project = Project::new(&["old.txt", "dir/older.txt"]);
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    for old in ["old.txt", "dir/older.txt"] {
        std::fs::File::options().write(true).open(project.path(old)).unwrap().set_modified(long_ago).unwrap();
    }
    let watching = Watching::start(&project, &["."], &[]);
    project.write("recent.txt", "");
    watching.expect(&[("recent.txt", Create)]);

    // As notify reports an overflow: an event with the rescan flag and no path.
    let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
    watching.watcher.input.as_ref().unwrap().send(Input::Event(overflow)).unwrap();
    let batch = watching.next_batch();
    assert!(batch.rescan);
    assert_eq!(pairs(&batch), [("recent.txt", Modify)]);
    assert_eq!(watching.watcher.status().rescans, 1);
}

#[test]
fn running_out_of_watches_is_reported_once_and_watching_goes_on() {
    let test = test_path(module_path!(), "watch_limit_child");
    let script = "echo 20 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"";
    run_child("watch_limit", &test, &["unshare", "--user", "--map-root-user", "sh", "-c", script]);
}

/// Runs inside a user namespace whose watch limit is 20.
#[test]
fn watch_limit_child() {
    if !is_child("watch_limit") {
        return;
    }
    assert_eq!(read_number("/proc/sys/user/max_inotify_watches"), 20);
    let dirs: Vec<String> = (0..30).map(|n| format!("d{n:02}/file")).collect();
    let names: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let project = Project::new(&names);
    let watching = Watching::start(&project, &["."], &["staging/"]);

    // 31 directories (the root and 30), 20 watches.
    let WatchReport::Problem(reported) = watching.next_report() else { panic!("the limit is reported first") };
    assert_eq!(reported.kind, problem::WATCH_LIMIT);
    assert!(reported.message.starts_with("11 directories could not be watched"), "{}", reported.message);
    assert!(reported.message.contains("inotify watches (20, user.max_inotify_watches)"), "{}", reported.message);
    assert!(reported.fix.contains("sudo sysctl fs.inotify.max_user_watches="), "{}", reported.fix);
    let status = watching.watcher.status();
    assert_eq!(status.directories, 20);
    assert_eq!(status.problem.as_ref(), Some(&reported));

    // What is watched still is; the root is among it (walked first).
    project.write("sentinel.txt", "");
    watching.expect(&[("sentinel.txt", Create)]);

    // Another directory that cannot be watched: the status counts it, the sink hears nothing new.
    // (Renamed into place with its file, so the file is surely there when it is walked.)
    project.write("staging/x.txt", "");
    project.rename("staging", "late");
    project.write("sentinel2.txt", "");
    watching.expect(&[("late", Rename), ("late/x.txt", Rename), ("sentinel2.txt", Create)]);
    let message = || watching.watcher.status().problem.unwrap().message;
    assert!(message().starts_with("12 directories could not be watched"), "{}", message());

    // A rescan tries them all again: still 12, none counted twice.
    let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
    watching.watcher.input.as_ref().unwrap().send(Input::Event(overflow)).unwrap();
    while !watching.next_batch().rescan {}
    assert!(message().starts_with("12 directories could not be watched"), "{}", message());

    // One of them deleted: 11.
    std::fs::remove_dir_all(project.path("late")).unwrap();
    watching.expect(&[("late", Delete)]);
    assert!(message().starts_with("11 directories could not be watched"), "{}", message());
    assert!(watching.stop().is_empty(), "the limit was reported once");
}

#[test]
fn dropping_the_watcher_stops_its_threads_and_closes_inotify() {
    run_child("drop", &test_path(module_path!(), "drop_child"), &[]);
}

/// Runs alone in its own process, so threads and descriptors can be counted.
#[test]
fn drop_child() {
    if !is_child("drop") {
        return;
    }
    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let inotify_fds = || {
        let fds = std::fs::read_dir("/proc/self/fd").unwrap().flatten();
        fds.filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.to_string_lossy().contains("inotify")))
            .count()
    };
    let (threads_before, fds_before) = (threads(), inotify_fds());
    let project = Project::new(&["src/a/", "src/b/"]);
    let watching = Watching::start(&project, &["."], &[]);
    assert_eq!(threads(), threads_before + 2, "notify's thread and the watcher's");
    assert_eq!(inotify_fds(), fds_before + 1);
    project.write("src/a/x.rs", "");
    watching.expect(&[("src/a/x.rs", Create)]);

    assert!(watching.stop().is_empty(), "the sink is dropped by the time drop returns");
    // notify's thread lets go of the channel just before it ends.
    wait_until("notify's thread has ended", || threads() == threads_before);
    assert_eq!(inotify_fds(), fds_before);
}

#[test]
fn an_idle_watcher_does_not_wake() {
    run_child("idle", &test_path(module_path!(), "idle_child"), &[]);
}

/// Runs alone in its own process: the watcher's threads are the only ones with these names.
#[test]
fn idle_child() {
    if !is_child("idle") {
        return;
    }
    let project = Project::new(&["src/a/"]);
    let watching = Watching::start(&project, &["."], &[]);
    project.write("src/a/x.rs", "");
    watching.expect(&[("src/a/x.rs", Create)]);
    let switches = || -> Vec<(String, u64)> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if name.starts_with("steward-watch") || name.starts_with("notify-rs") {
                let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                let count = status
                    .lines()
                    .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                    .and_then(|count| count.trim().parse().ok())
                    .unwrap();
                found.push((name.trim().to_owned(), count));
            }
        }
        found.sort();
        found
    };
    // Both asleep first: going to sleep after the batch is itself a switch.
    let asleep = || {
        std::fs::read_dir("/proc/self/task").unwrap().flatten().all(|task| {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let ours = name.starts_with("steward-watch") || name.starts_with("notify-rs");
            !ours || std::fs::read_to_string(task.path().join("status")).unwrap_or_default().contains("State:\tS")
        })
    };
    wait_until("the watcher's threads are asleep", asleep);
    let before = switches();
    assert_eq!(before.len(), 2, "{before:?}");
    // The one place a test waits a fixed time: proving that nothing happens takes a while. A
    // watcher polling on a tick (as notify's debouncers do) would wake several times in this.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(switches(), before, "the watcher's threads woke up while nothing happened");
}
