//! The plain data the adapter hands to the loops: GitHub's objects reduced to the fields steward
//! decides on, with nulls already turned into empty strings where emptiness means the same.
//!
//! They serialize (for events and session manifests) with the field names used here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /repos/{owner}/{repo}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub full_name: String,
    pub default_branch: String,
    pub private: bool,
}

/// An issue (never a pull request: the listings filter those out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    /// `""` when GitHub has none.
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// The author's login (`ghost` for a deleted account).
    pub user: String,
    /// `OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`, `FIRST_TIME_CONTRIBUTOR`, `FIRST_TIMER`, `NONE`.
    pub author_association: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub html_url: String,
}

/// A comment on an issue or pull request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub user: String,
    pub author_association: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub html_url: String,
}

/// One entry of an issue's timeline. GitHub's timeline mixes many shapes; only what the policy
/// reads is kept, and every field but `event` may be absent (a `committed` event has no actor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// `labeled`, `unlabeled`, `commented`, `cross-referenced`, `closed`, ...
    pub event: String,
    /// Who did it (for `commented`: the comment's author).
    pub actor: Option<String>,
    /// The label's name for `labeled` and `unlabeled`.
    pub label: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A user's role on the repository, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    /// No access, not a collaborator, or a role steward does not know (fail closed).
    None,
}

impl Permission {
    /// As GitHub spells the role (`admin`, `maintain`, `write`, `triage`, `read`, `none`).
    pub fn name(&self) -> &'static str {
        match self {
            Permission::Admin => "admin",
            Permission::Maintain => "maintain",
            Permission::Write => "write",
            Permission::Triage => "triage",
            Permission::Read => "read",
            Permission::None => "none",
        }
    }

    /// Whether the role may push to the repository (and so may mark issues ready for steward).
    pub fn can_write(&self) -> bool {
        matches!(self, Permission::Admin | Permission::Maintain | Permission::Write)
    }

    /// From the permission endpoint's answer: `role_name` when present (it tells maintain and
    /// triage apart), else the legacy `permission`. Anything unknown, including a custom role's
    /// name, is [`Permission::None`]: trust is never guessed.
    pub fn from_answer(role_name: Option<&str>, permission: Option<&str>) -> Permission {
        match role_name.filter(|role| !role.is_empty()).or(permission) {
            Some("admin") => Permission::Admin,
            Some("maintain") => Permission::Maintain,
            Some("write") => Permission::Write,
            Some("triage") => Permission::Triage,
            Some("read") => Permission::Read,
            _ => Permission::None,
        }
    }
}

/// A repository label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    /// Six hex digits without `#`.
    pub color: String,
    /// `""` when GitHub has none.
    pub description: String,
}

impl Label {
    pub fn new(name: &str, color: &str, description: &str) -> Label {
        Label {
            name: name.to_owned(),
            color: color.trim_start_matches('#').to_owned(),
            description: description.to_owned(),
        }
    }
}

/// A pull request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    /// `open` or `closed` (a merged pull request is `closed` and `merged`).
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub title: String,
    pub body: String,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub html_url: String,
}

/// What [`GitHub::create_pull`](super::GitHub::create_pull) opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPull {
    pub title: String,
    pub body: String,
    /// The branch with the changes (in this repository).
    pub head: String,
    /// The branch to merge into.
    pub base: String,
    pub draft: bool,
}

/// One check run of a commit (GitHub Actions jobs and other apps' checks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    pub name: String,
    /// `queued`, `in_progress`, `completed` (and `waiting`, `requested`, `pending`).
    pub status: String,
    /// Set once completed: `success`, `failure`, `neutral`, `cancelled`, `skipped`, `timed_out`,
    /// `action_required`, `stale`.
    pub conclusion: Option<String>,
    pub html_url: String,
    pub title: Option<String>,
    pub summary: Option<String>,
}

/// The combined commit status of a ref: the older statuses API, still used by many CI services.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CombinedStatus {
    /// `success`, `pending` or `failure` (`pending` also when there are no statuses at all).
    pub state: String,
    pub statuses: Vec<CommitStatus>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStatus {
    pub context: String,
    /// `success`, `pending`, `failure` or `error`.
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_prefers_role_name_and_fails_closed() {
        let cases = [
            (Some("maintain"), Some("write"), Permission::Maintain, true),
            (Some("triage"), Some("read"), Permission::Triage, false),
            (Some("admin"), Some("admin"), Permission::Admin, true),
            (None, Some("write"), Permission::Write, true),
            (Some(""), Some("read"), Permission::Read, false),
            (Some("security-engineer"), Some("write"), Permission::None, false),
            (None, Some("none"), Permission::None, false),
            (None, Some("WRITE"), Permission::None, false),
            (None, None, Permission::None, false),
        ];
        for (role, permission, expected, can_write) in cases {
            let got = Permission::from_answer(role, permission);
            assert_eq!(got, expected, "{role:?} {permission:?}");
            assert_eq!(got.can_write(), can_write, "{role:?} {permission:?}");
        }
    }
}
