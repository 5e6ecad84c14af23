//! Finding a process's children, which the shim needs for descendants that left the agent's
//! process group and were re-parented to it.
//!
//! Linux has no system call for this; `/proc/<pid>/stat` of every process says who its parent
//! is. (`/proc/<pid>/task/<tid>/children` would be cheaper but depends on a kernel option.)
//! Elsewhere the shim is no subreaper, so it never adopts anyone and the list is empty.

use nix::unistd::Pid;

/// The processes whose parent is `parent` right now, zombies included.
#[cfg(target_os = "linux")]
pub(super) fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            // A process that exits meanwhile just drops out.
            std::fs::read(format!("/proc/{pid}/stat")).ok().and_then(|stat| parent_in_stat(&stat))
                == Some(parent.as_raw())
        })
        .map(Pid::from_raw)
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub(super) fn children_of(_parent: Pid) -> Vec<Pid> {
    Vec::new()
}

/// The parent pid in the text of `/proc/<pid>/stat`: `pid (comm) state ppid ...`. The command
/// name may hold spaces and parentheses, so fields are counted from its last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parent_in_stat(stat: &[u8]) -> Option<i32> {
    let after_comm = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let mut fields = std::str::from_utf8(after_comm).ok()?.split_ascii_whitespace();
    let _state = fields.next()?;
    fields.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_the_command_name() {
        assert_eq!(parent_in_stat(b"42 (sleep) S 7 42 42 0 -1"), Some(7));
        assert_eq!(parent_in_stat(b"42 (a) b) (c) Z 9 42 42 0 -1"), Some(9));
        assert_eq!(parent_in_stat(b"42 (x y) R 1 1 1"), Some(1));
        assert_eq!(parent_in_stat(b"garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_spawned_child_is_found_and_a_reaped_one_is_not() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        assert!(children_of(nix::unistd::getpid()).contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!children_of(nix::unistd::getpid()).contains(&pid));
    }
}
