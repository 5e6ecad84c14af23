//! Workspace GC: the worktrees of finished sessions go once no live session uses them.

use std::path::{Path, PathBuf};

use super::{git, sql};

/// Removes the worktrees no live session uses: every directory under `.steward/worktrees/`
/// that is not the worktree of a session that is still going (paused ones included). Returns
/// the paths removed; one that cannot be removed is logged and tried again next time.
pub async fn collect_garbage(store: &crate::store::Store, project_root: &Path) -> Vec<PathBuf> {
    let live = match store.read(sql::live).await {
        Ok(live) => live,
        Err(error) => {
            tracing::warn!(%error, "worktree GC: could not read the sessions");
            return Vec::new();
        }
    };
    let root = project_root.to_owned();
    tokio::task::spawn_blocking(move || {
        let dirs = match git::list_worktree_dirs(&root) {
            Ok(dirs) => dirs,
            Err(error) => {
                tracing::warn!(%error, "worktree GC: could not list the worktrees");
                return Vec::new();
            }
        };
        let mut removed = Vec::new();
        for dir in dirs {
            let used = live.iter().any(|session| same_path(Path::new(&session.worktree), &dir));
            if used {
                continue;
            }
            match git::remove_worktree(&root, &dir) {
                Ok(()) => {
                    tracing::info!(path = %dir.display(), "worktree GC: removed a finished session's worktree");
                    removed.push(dir);
                }
                Err(error) => {
                    tracing::warn!(path = %dir.display(), %error, "worktree GC: could not remove; trying again later")
                }
            }
        }
        removed
    })
    .await
    .unwrap_or_default()
}

fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}
