//! Which repository steward acts on: `[github].repo`, or else the `origin` remote of the project.
//!
//! Remote URLs come in many spellings (https, scp-like ssh, `ssh://` with a port, `git://`,
//! GitHub Enterprise hosts) and may carry credentials (`https://user:token@host/...`), so nothing
//! here ever repeats a URL without first removing its user part.

use std::fmt;
use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::error::GitHubError;
use crate::config::GithubConfig;

/// A repository on GitHub: `owner/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoId {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl RepoId {
    /// Parses `owner/name` (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<RepoId, String> {
        let text = text.trim();
        let expected = "expected owner/name, like octocat/hello-world";
        let Some((owner, name)) = text.split_once('/') else {
            return Err(format!("`{text}` is not a repository: {expected}"));
        };
        if !valid_owner(owner) {
            return Err(format!(
                "`{text}` is not a repository: the owner `{owner}` may only have letters, digits and single \
                 hyphens ({expected})"
            ));
        }
        if !valid_name(name) {
            return Err(format!(
                "`{text}` is not a repository: the name `{name}` may only have letters, digits, `-`, `_` and `.` \
                 ({expected})"
            ));
        }
        Ok(RepoId { owner: owner.to_owned(), name: name.to_owned() })
    }

    /// The host and repository a git remote URL points at, or `None` when it is not a
    /// `host/owner/name` remote (a local path, a GitLab subgroup, ...). The host is lowercased and
    /// has no port or user.
    pub fn from_remote_url(url: &str) -> Option<(String, RepoId)> {
        let url = url.trim();
        let (authority, path) = if let Some((scheme, rest)) = url.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if !matches!(scheme.as_str(), "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git") {
                return None;
            }
            rest.split_once('/')?
        } else {
            // scp-like `[user@]host:owner/name`; a colon after a slash means a local path.
            let (authority, path) = url.split_once(':')?;
            if authority.contains('/') || authority.is_empty() || path.starts_with('/') {
                return None;
            }
            (authority, path)
        };
        let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = match host_and_port.strip_prefix('[') {
            Some(bracketed) => bracketed.split_once(']')?.0,
            None => host_and_port.split_once(':').map_or(host_and_port, |(host, _)| host),
        };
        if host.is_empty() {
            return None;
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let mut parts = path.split('/');
        let (owner, name) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let repo = RepoId::parse(&format!("{owner}/{name}")).ok()?;
        Some((host.to_ascii_lowercase(), repo))
    }
}

fn valid_owner(owner: &str) -> bool {
    !owner.is_empty()
        && owner.len() <= 39
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !owner.starts_with('-')
        && !owner.ends_with('-')
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `[github].repo`, else the `origin` remote of the git repository at `project_root` (runs
/// `git remote get-url origin`), which must be on the host `[github].api_url` serves.
pub fn resolve_repo(config: &GithubConfig, project_root: &Path) -> Result<RepoId, GitHubError> {
    if !config.repo.trim().is_empty() {
        return RepoId::parse(&config.repo)
            .map_err(|message| GitHubError::Config { message: format!("[github].repo: {message}") });
    }
    let remote = origin_url(project_root)?;
    let shown = without_credentials(&remote);
    let Some((host, repo)) = RepoId::from_remote_url(&remote) else {
        return Err(GitHubError::NoRepo {
            message: format!(
                "the `origin` remote ({shown}) does not name a GitHub repository as host/owner/name: set \
                 [github].repo = \"owner/name\" in .steward/steward.toml"
            ),
        });
    };
    if !api_serves_host(&config.api_url, &host) {
        return Err(GitHubError::NoRepo {
            message: format!(
                "the `origin` remote ({shown}) is on {host}, but [github].api_url is {}: set [github].repo = \
                 \"owner/name\" (and api_url for a GitHub Enterprise server) in .steward/steward.toml",
                config.api_url
            ),
        });
    }
    Ok(repo)
}

fn origin_url(project_root: &Path) -> Result<String, GitHubError> {
    let hint = "set [github].repo = \"owner/name\" in .steward/steward.toml";
    let output =
        Command::new("git").arg("-C").arg(project_root).args(["remote", "get-url", "origin"]).output().map_err(
            |error| GitHubError::NoRepo {
                message: format!(
                    "[github].repo is empty and `git` could not be run ({error}) to read the origin remote: {hint}"
                ),
            },
        )?;
    let url = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || url.is_empty() {
        return Err(GitHubError::NoRepo {
            message: format!(
                "[github].repo is empty and the git repository at {} has no `origin` remote: {hint}",
                project_root.display()
            ),
        });
    }
    Ok(url)
}

/// Whether the API at `api_url` is the one for repositories on the git host `host`:
/// api.github.com for github.com, `HOST/api/v3` for a GitHub Enterprise server, `api.HOST` for
/// GitHub Enterprise Cloud with data residency.
fn api_serves_host(api_url: &str, host: &str) -> bool {
    let api_host =
        api_url.split_once("://").map_or(api_url, |(_, rest)| rest).split(['/', '?', '#']).next().unwrap_or_default();
    let api_host = api_host.rsplit_once('@').map_or(api_host, |(_, host)| host);
    let api_host = api_host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    if api_host == "api.github.com" {
        return matches!(host, "github.com" | "www.github.com" | "ssh.github.com");
    }
    api_host == host || api_host.strip_prefix("api.") == Some(host)
}

/// The URL with any `user[:password]@` removed, fit to appear in a message or a log.
pub(crate) fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        // scp-like `user@host:path` names a login, not a secret, but keep it uniform.
        None => url.rsplit_once('@').map_or(url, |(_, rest)| rest).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_owner_slash_name_only() {
        assert_eq!(
            RepoId::parse(" octo-org/hello.world_2 "),
            Ok(RepoId { owner: "octo-org".into(), name: "hello.world_2".into() })
        );
        for bad in ["", "octo", "octo/", "/x", "a/b/c", "-a/b", "a/..", "a b/c", "https://github.com/a/b"] {
            let message = RepoId::parse(bad).unwrap_err();
            assert!(message.contains("owner/name"), "{bad}: {message}");
        }
    }

    #[test]
    fn api_hosts_match_their_git_hosts() {
        assert!(api_serves_host("https://api.github.com", "github.com"));
        assert!(api_serves_host("https://api.github.com/", "ssh.github.com"));
        assert!(!api_serves_host("https://api.github.com", "gitlab.com"));
        assert!(api_serves_host("https://ghe.corp.example/api/v3", "ghe.corp.example"));
        assert!(api_serves_host("https://api.acme.ghe.com", "acme.ghe.com"));
        assert!(!api_serves_host("https://ghe.corp.example/api/v3", "github.com"));
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(without_credentials("https://x:ghp_secret@github.com/o/r.git"), "https://github.com/o/r.git");
        assert_eq!(without_credentials("git@github.com:o/r.git"), "github.com:o/r.git");
    }
}
