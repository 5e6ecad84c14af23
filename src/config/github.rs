//! The GitHub sections: `[steward]` (which loops run), `[github]` (where and as whom),
//! `[policy]` (what the loops may touch) and `[triage]` (how issues get labels).

use serde::{Deserialize, Serialize};

/// Which of the GitHub loops run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No loop runs: the queue and automation only.
    #[default]
    Off,
    /// Triage only: label new issues.
    Triage,
    /// Feedback only: resume paused sessions when a human answers; start nothing new.
    Feedback,
    /// Run and feedback: work on ready issues.
    Run,
    /// Triage, run and feedback.
    Full,
}

impl Mode {
    /// As written in the file and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Triage => "triage",
            Mode::Feedback => "feedback",
            Mode::Run => "run",
            Mode::Full => "full",
        }
    }

    /// Every mode, in order.
    pub const ALL: [Mode; 5] = [Mode::Off, Mode::Triage, Mode::Feedback, Mode::Run, Mode::Full];

    /// Parses a mode name (for `daemon start --mode`).
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// `[steward]`: the GitHub modes; ships off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StewardConfig {
    pub mode: Mode,
    /// Log (and report as events) every GitHub mutation instead of making it.
    pub dry_run: bool,
    pub intervals: Intervals,
}

impl Default for StewardConfig {
    fn default() -> Self {
        StewardConfig { mode: Mode::Off, dry_run: false, intervals: Intervals::default() }
    }
}

/// `[steward].intervals`: seconds between two ticks of each loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intervals {
    pub triage_s: u64,
    pub feedback_s: u64,
    pub run_s: u64,
    pub health_s: u64,
    /// How long the loops wait after the daemon starts (or the mode is switched on) before their
    /// first tick.
    pub idle_s: u64,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals { triage_s: 300, feedback_s: 60, run_s: 60, health_s: 30, idle_s: 30 }
    }
}

/// `[github]`: which repository, through which API, with which token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// `owner/name`; empty: read from the `origin` remote.
    pub repo: String,
    /// `https://api.github.com`, or a GitHub Enterprise server's `https://HOST/api/v3`.
    pub api_url: String,
    /// The environment variable holding the token (the token itself is never in the file).
    pub token_env: String,
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig {
            repo: String::new(),
            api_url: "https://api.github.com".to_owned(),
            token_env: "GITHUB_TOKEN".to_owned(),
        }
    }
}

/// `[policy]`: the gates every loop passes before it touches an issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Repositories (`owner/name`) this daemon may act on; empty: none.
    pub allow: Vec<String>,
    pub ready_label: String,
    pub max_active_sessions: u32,
    pub max_paused_sessions: u32,
    pub max_attempts: u32,
    pub max_session_minutes: u64,
    pub block_labels: Vec<String>,
    /// Comment authors whose answers count (`author_association` values).
    pub trusted_associations: Vec<String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            allow: Vec::new(),
            ready_label: "steward:ready".to_owned(),
            max_active_sessions: 1,
            max_paused_sessions: 3,
            max_attempts: 3,
            max_session_minutes: 120,
            block_labels: vec!["do-not-automate".to_owned(), "blocked".to_owned(), "steward:needs-input".to_owned()],
            trusted_associations: vec!["OWNER".to_owned(), "MEMBER".to_owned(), "COLLABORATOR".to_owned()],
        }
    }
}

/// `[triage]`: how untriaged issues get labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TriageConfig {
    /// Also ask the agent for labels and readiness (a JSON answer).
    pub agent: bool,
    /// Labels triage may apply besides the rules' own.
    pub allowed_labels: Vec<String>,
    /// `[[triage.rules]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<TriageRule>,
}

/// One `[[triage.rules]]`: labels applied when every condition given holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageRule {
    /// The labels to apply.
    pub labels: Vec<String>,
    /// A regular expression the title must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_regex: Option<String>,
    /// A regular expression the body must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    /// Labels the issue must already have (all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_labels: Vec<String>,
    /// Labels the issue must not have (none of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lacks_labels: Vec<String>,
}
