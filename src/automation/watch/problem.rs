//! The watcher's problems as the user sees them: what happened and what to do. The inotify watch
//! limit gets its own message with the numbers (the usual reason a large project is not fully
//! watched); everything else is a plain error.

use std::path::Path;

use super::WatchProblem;

/// `WatchProblem::kind` when directories could not be watched for lack of inotify watches.
pub const WATCH_LIMIT: &str = "watch_limit";
/// `WatchProblem::kind` for everything else.
pub const ERROR: &str = "error";

/// The value suggested when the limit is raised: what most distributions' IDE guides use.
const SUGGESTED_WATCHES: u64 = 524_288;

/// Where the watch limit that applies to this process comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WatchLimit {
    pub watches: u64,
    /// A user namespace (a container) set a limit lower than the system's.
    pub from_namespace: bool,
}

/// The inotify watch limit in force: the system's `fs.inotify.max_user_watches`, or this user
/// namespace's `user.max_inotify_watches` when lower (inside a container). `None` if unreadable.
pub(super) fn current_watch_limit() -> Option<WatchLimit> {
    let read = |file: &str| std::fs::read_to_string(file).ok()?.trim().parse::<u64>().ok();
    let system = read("/proc/sys/fs/inotify/max_user_watches");
    let namespace = read("/proc/sys/user/max_inotify_watches");
    match (system, namespace) {
        (Some(system), Some(namespace)) if namespace < system => {
            Some(WatchLimit { watches: namespace, from_namespace: true })
        }
        (Some(system), _) => Some(WatchLimit { watches: system, from_namespace: false }),
        (None, Some(namespace)) => Some(WatchLimit { watches: namespace, from_namespace: true }),
        (None, None) => None,
    }
}

/// `unwatched` directories could not be watched because the limit was reached.
pub(super) fn watch_limit(unwatched: usize, limit: Option<WatchLimit>) -> WatchProblem {
    let directories = if unwatched == 1 { "1 directory".to_owned() } else { format!("{unwatched} directories") };
    let system = "fs.inotify.max_user_watches";
    let (limit_text, suggested, setting) = match limit {
        Some(limit) => {
            let setting = if limit.from_namespace { "user.max_inotify_watches" } else { system };
            let suggested = SUGGESTED_WATCHES.max(limit.watches.saturating_mul(2));
            (format!("{}, {setting}", limit.watches), suggested, setting)
        }
        None => (format!("{system}, unreadable here"), SUGGESTED_WATCHES, system),
    };
    let mut fix = format!(
        "raise it: `sudo sysctl {system}={suggested}`, and keep it with a line `{system}={suggested}` in \
         `/etc/sysctl.d/90-inotify.conf`; or ignore big directories in [watch] ignore; then `steward daemon reload`"
    );
    if setting != system {
        fix.push_str(&format!(
            ". Inside this container the lower per-namespace limit applies: \
             raise `{setting}` (sysctl {setting}={suggested}) too"
        ));
    }
    WatchProblem {
        kind: WATCH_LIMIT,
        message: format!(
            "{directories} could not be watched: the limit of inotify watches ({limit_text}) is reached; \
             it is shared by all of this user's processes, and changes inside those directories are not seen"
        ),
        fix,
    }
}

/// A directory could not be watched or listed for a reason other than the limit.
pub(super) fn unwatchable_directory(dir: &Path, reason: &str) -> WatchProblem {
    WatchProblem {
        kind: ERROR,
        message: format!("cannot watch {}: {reason}; changes inside it are not seen", dir.display()),
        fix: "make the directory readable by the daemon's user, or add it to [watch] ignore".to_owned(),
    }
}

/// notify reported an error while reading events.
pub(super) fn watcher_error(error: &notify::Error) -> WatchProblem {
    WatchProblem {
        kind: ERROR,
        message: format!("the file watcher reported an error: {error}; some changes may have been missed"),
        fix: "steward keeps watching; if rules missed changes, reload the configuration to rescan".to_owned(),
    }
}

/// The project root itself went away.
pub(super) fn root_gone(root: &Path) -> WatchProblem {
    WatchProblem {
        kind: ERROR,
        message: format!("the project root {} was deleted or moved; file changes are no longer seen", root.display()),
        fix: "restore the directory and restart the steward daemon".to_owned(),
    }
}

/// The watcher's thread stopped after an internal failure.
pub(super) fn stopped(root: &Path) -> WatchProblem {
    WatchProblem {
        kind: ERROR,
        message: format!(
            "the file watcher for {} stopped after an internal error; file changes are no longer seen",
            root.display()
        ),
        fix: "reload the configuration or restart the daemon to start watching again, and report the daemon log"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_message_has_the_numbers_and_the_fix() {
        let problem = watch_limit(11, Some(WatchLimit { watches: 8192, from_namespace: false }));
        assert_eq!(problem.kind, "watch_limit");
        assert!(problem.message.starts_with("11 directories could not be watched"), "{}", problem.message);
        assert!(problem.message.contains("the limit of inotify watches (8192, fs.inotify.max_user_watches)"));
        assert!(problem.fix.contains("sudo sysctl fs.inotify.max_user_watches=524288"), "{}", problem.fix);
        assert!(problem.fix.contains("in `/etc/sysctl.d/90-inotify.conf`"), "{}", problem.fix);
        assert!(problem.fix.contains("steward daemon reload"), "{}", problem.fix);
        assert!(!problem.fix.contains("container"), "{}", problem.fix);
    }

    #[test]
    fn a_high_limit_suggests_doubling_and_a_namespace_limit_is_named() {
        let problem = watch_limit(1, Some(WatchLimit { watches: 1_000_000, from_namespace: true }));
        assert!(problem.message.starts_with("1 directory could not"), "{}", problem.message);
        assert!(problem.message.contains("(1000000, user.max_inotify_watches)"), "{}", problem.message);
        assert!(problem.fix.contains("fs.inotify.max_user_watches=2000000"), "{}", problem.fix);
        assert!(problem.fix.contains("sysctl user.max_inotify_watches=2000000"), "{}", problem.fix);
    }

    #[test]
    fn an_unreadable_limit_still_gives_the_fix() {
        let problem = watch_limit(3, None);
        assert!(problem.message.contains("unreadable here"), "{}", problem.message);
        assert!(problem.fix.contains("fs.inotify.max_user_watches=524288"), "{}", problem.fix);
    }

    #[test]
    fn the_limit_is_readable_here() {
        let limit = current_watch_limit().expect("/proc/sys/fs/inotify/max_user_watches is readable");
        assert!(limit.watches > 0);
    }
}
