//! Records which commit the binary was built from, for `steward --version`.
//!
//! `STEWARD_COMMIT` is the short hash of `HEAD`, or `unknown` outside a git checkout (a source
//! tarball, `cargo install` from a registry). The build script reruns when `HEAD` or the branch
//! it points at moves (not when the index does: that would rebuild at every `git add`).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=STEWARD_COMMIT={commit}");
    // `--git-path` finds the files in worktrees too. A path that does not exist would make
    // cargo rerun the script at every build, so only existing ones are watched (a branch whose
    // ref is packed is watched through `packed-refs`).
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for path in watched {
        if let Some(found) = git(&["rev-parse", "--git-path", &path]).map(PathBuf::from)
            && found.exists()
        {
            println!("cargo:rerun-if-changed={}", found.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
