//! What the fake GitHub knows: one repository with its collaborators, issues (pull requests are
//! issues too, as on GitHub), comments, labels, branches, CI results, the failures a test asked
//! for, and a log of every request it was sent.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};

/// A collaborator's role on the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Role {
    /// `role_name` in the permission endpoint's answer.
    pub fn role_name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Triage => "triage",
            Role::Write => "write",
            Role::Maintain => "maintain",
            Role::Admin => "admin",
        }
    }

    /// The legacy `permission` field, which folds maintain into write and triage into read.
    pub fn legacy_permission(self) -> &'static str {
        match self {
            Role::Read | Role::Triage => "read",
            Role::Write | Role::Maintain => "write",
            Role::Admin => "admin",
        }
    }
}

/// A way the next matching requests fail.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// 403 "You have exceeded a secondary rate limit", with `retry-after` when given.
    SecondaryRateLimit { retry_after: Option<u64> },
    /// 429 with `retry-after` when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 403 "API rate limit exceeded", `x-ratelimit-remaining: 0`, the window resetting in
    /// `reset_in` seconds (counted from the current whole second).
    PrimaryRateLimit { reset_in: u64 },
    /// Answers normally, but says the window is used up until `reset_in` seconds from now.
    LastOfWindow { reset_in: u64 },
    /// 500 with GitHub's error body.
    ServerError,
    /// 502 with an HTML page, as GitHub's front end sends.
    BadGateway,
    /// Never answers: the connection stays open with no response, as when the network drops
    /// mid-request. With `apply`, the request takes effect first (GitHub did the work; the
    /// client never learns it), which is where a `kill -9` hurts most.
    Hang { apply: bool },
}

#[derive(Clone, Debug)]
pub(crate) struct PendingFault {
    pub fault: Fault,
    pub times: usize,
    pub method: Option<String>,
    pub path_prefix: Option<String>,
}

impl PendingFault {
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|wanted| wanted.eq_ignore_ascii_case(method))
            && self.path_prefix.as_deref().is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    /// As sent: still percent-encoded.
    pub path: String,
    /// The raw query string (without `?`), `""` when none.
    pub query: String,
    pub body: String,
    /// Every header but `authorization`, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// When it arrived (monotonic, to measure waits).
    pub at: Instant,
    /// The status the fake answered (0 while it is being answered).
    pub status: u16,
}

impl LoggedRequest {
    /// Every value of a header.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str()).collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }

    /// The body as JSON (`null` when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A query parameter's raw (still encoded) value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .find_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name).map(|(_, value)| value))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeEvent {
    pub event: String,
    pub actor: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The pull-request half of an issue that is a pull request.
#[derive(Clone, Debug, PartialEq)]
pub struct FakePull {
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub draft: bool,
    pub merged: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub labels: Vec<String>,
    pub state: String,
    pub author: String,
    pub author_association: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub timeline: Vec<FakeEvent>,
    pub pull: Option<FakePull>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeComment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
    pub author: String,
    pub author_association: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeLabel {
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeCheckRun {
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeStatus {
    pub context: String,
    pub state: String,
    pub description: Option<String>,
    pub target_url: Option<String>,
}

/// Everything the fake knows.
#[derive(Debug)]
pub struct State {
    /// `http://127.0.0.1:PORT`, for absolute URLs in `Link` headers.
    pub base_url: String,
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub private: bool,
    /// The one token the fake accepts.
    pub token: String,
    /// Whose token it is.
    pub token_user: String,
    pub users: BTreeMap<String, Role>,
    /// Issues and pull requests by number.
    pub issues: BTreeMap<u64, FakeIssue>,
    pub comments: Vec<FakeComment>,
    pub labels: Vec<FakeLabel>,
    pub branches: BTreeSet<String>,
    /// By ref (SHA or branch).
    pub check_runs: BTreeMap<String, Vec<FakeCheckRun>>,
    pub statuses: BTreeMap<String, Vec<FakeStatus>>,
    pub(crate) faults: Vec<PendingFault>,
    /// Requests held open by [`Fault::Hang`] (after taking effect, when asked to).
    pub hung: usize,
    pub log: Vec<LoggedRequest>,
    pub(crate) next_comment_id: u64,
    pub(crate) remaining: u64,
    /// A bare repository standing for the repository's git side: its branches exist here too.
    pub git_dir: Option<std::path::PathBuf>,
}

impl State {
    pub fn new(base_url: String, token: &str) -> State {
        let mut users = BTreeMap::new();
        users.insert("octo".to_owned(), Role::Admin);
        users.insert("steward-bot".to_owned(), Role::Write);
        State {
            base_url,
            owner: "octo".to_owned(),
            name: "widgets".to_owned(),
            default_branch: "main".to_owned(),
            private: false,
            token: token.to_owned(),
            token_user: "steward-bot".to_owned(),
            users,
            issues: BTreeMap::new(),
            comments: Vec::new(),
            labels: Vec::new(),
            branches: BTreeSet::from(["main".to_owned()]),
            check_runs: BTreeMap::new(),
            statuses: BTreeMap::new(),
            faults: Vec::new(),
            hung: 0,
            log: Vec::new(),
            next_comment_id: 9001,
            remaining: 5000,
            git_dir: None,
        }
    }

    /// The head of `branch` in [`git_dir`](Self::git_dir), when there is one and it has it.
    pub fn git_sha(&self, branch: &str) -> Option<String> {
        let dir = self.git_dir.as_ref()?;
        let output = std::process::Command::new("git")
            .args(["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")])
            .current_dir(dir)
            .output()
            .ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// GitHub's timestamps have whole seconds.
    pub fn now() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(0)
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn role(&self, login: &str) -> Option<Role> {
        self.users.iter().find(|(name, _)| name.eq_ignore_ascii_case(login)).map(|(_, role)| *role)
    }

    /// Whether the token's user has at least `role` on the repository.
    pub fn token_can(&self, role: Role) -> bool {
        self.role(&self.token_user).is_some_and(|has| has >= role)
    }

    /// What GitHub puts in `author_association` for this login on this repository.
    pub fn association(&self, login: &str) -> String {
        if login.eq_ignore_ascii_case(&self.owner) {
            "OWNER".to_owned()
        } else if self.role(login).is_some() {
            "COLLABORATOR".to_owned()
        } else {
            "NONE".to_owned()
        }
    }

    pub fn next_number(&self) -> u64 {
        self.issues.keys().next_back().map_or(1, |last| last + 1)
    }

    /// Opens an issue (a pull request when `pull` is given) by `author`; returns its number.
    pub fn insert_issue(&mut self, title: &str, body: Option<String>, author: &str, pull: Option<FakePull>) -> u64 {
        let number = self.next_number();
        let now = State::now();
        let author_association = self.association(author);
        self.issues.insert(
            number,
            FakeIssue {
                number,
                title: title.to_owned(),
                body,
                labels: Vec::new(),
                state: "open".to_owned(),
                author: author.to_owned(),
                author_association,
                created_at: now,
                updated_at: now,
                timeline: Vec::new(),
                pull,
            },
        );
        number
    }

    /// Puts a label on an issue as `actor`, with the timeline event GitHub records; labels the
    /// repository lacks are created with GitHub's default colour, as the API does.
    pub fn apply_label(&mut self, number: u64, label: &str, actor: &str) {
        if !self.labels.iter().any(|have| have.name.eq_ignore_ascii_case(label)) {
            self.labels.push(FakeLabel { name: label.to_owned(), color: "ededed".to_owned(), description: None });
        }
        let now = State::now();
        if let Some(issue) = self.issues.get_mut(&number)
            && !issue.labels.iter().any(|have| have.eq_ignore_ascii_case(label))
        {
            issue.labels.push(label.to_owned());
            issue.updated_at = now;
            let event =
                FakeEvent { event: "labeled".into(), actor: actor.into(), label: Some(label.into()), created_at: now };
            issue.timeline.push(event);
        }
    }

    /// Takes the label off as `actor`; false when the issue did not have it.
    pub fn drop_label(&mut self, number: u64, label: &str, actor: &str) -> bool {
        let now = State::now();
        let Some(issue) = self.issues.get_mut(&number) else { return false };
        let Some(index) = issue.labels.iter().position(|have| have.eq_ignore_ascii_case(label)) else { return false };
        let name = issue.labels.remove(index);
        issue.updated_at = now;
        issue.timeline.push(FakeEvent {
            event: "unlabeled".into(),
            actor: actor.into(),
            label: Some(name),
            created_at: now,
        });
        true
    }

    /// Adds a comment by `author` (with the timeline's `commented` entry) and returns its id.
    pub fn comment(&mut self, number: u64, author: &str, body: &str) -> u64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        let now = State::now();
        let author_association = self.association(author);
        self.comments.push(FakeComment {
            id,
            issue: number,
            body: body.to_owned(),
            author: author.to_owned(),
            author_association,
            created_at: now,
            updated_at: now,
        });
        if let Some(issue) = self.issues.get_mut(&number) {
            issue.updated_at = now;
            issue.timeline.push(FakeEvent {
                event: "commented".into(),
                actor: author.into(),
                label: None,
                created_at: now,
            });
        }
        id
    }
}
