//! What `[steward]`, `[github]`, `[policy]` and `[triage]` must satisfy beyond their types:
//! repository names, URLs, label names GitHub accepts, known author associations, and
//! regular expressions that compile. Pure, like the rest of validation.

use regex::RegexBuilder;

use super::validate::{Invalid, Place};
use super::{Config, TriageRule};

/// GitHub refuses label names longer than this.
pub const MAX_LABEL_CHARS: usize = 50;

/// The `author_association` values GitHub documents.
pub const ASSOCIATIONS: &[&str] =
    &["OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE"];

fn invalid(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Invalid {
    Invalid { key: key.into(), problem: problem.into(), fix: fix.into(), place: Place::Value }
}

/// Whether `text` looks like `owner/name` as GitHub spells them.
pub fn is_repo_name(text: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    match text.split_once('/') {
        Some((owner, name)) => {
            !owner.is_empty() && !name.is_empty() && owner.chars().all(allowed) && name.chars().all(allowed)
        }
        None => false,
    }
}

/// The first problem of the GitHub sections.
pub(crate) fn check(config: &Config) -> Result<(), Invalid> {
    let github = &config.github;
    if !github.repo.is_empty() && !is_repo_name(&github.repo) {
        return Err(invalid(
            "github.repo",
            format!("`github.repo` = {:?} is not `owner/name`", github.repo),
            "write the repository as on GitHub, e.g. repo = \"octo-org/octo-repo\", or leave it empty to use the `origin` remote",
        ));
    }
    let url_ok = (github.api_url.starts_with("https://") || github.api_url.starts_with("http://"))
        && github.api_url.len() > "https://".len()
        && !github.api_url.contains(char::is_whitespace);
    if !url_ok {
        return Err(invalid(
            "github.api_url",
            format!("`github.api_url` = {:?} is not an http(s) URL", github.api_url),
            "use \"https://api.github.com\", or for GitHub Enterprise Server \"https://HOST/api/v3\"",
        ));
    }
    let var_ok = !github.token_env.is_empty()
        && !github.token_env.starts_with(|c: char| c.is_ascii_digit())
        && github.token_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !var_ok {
        return Err(invalid(
            "github.token_env",
            format!("`github.token_env` = {:?} is not an environment variable name", github.token_env),
            "name the variable that holds the token, e.g. token_env = \"GITHUB_TOKEN\" (the token itself never goes in this file)",
        ));
    }
    for entry in &config.policy.allow {
        if !is_repo_name(entry) {
            return Err(invalid(
                "policy.allow",
                format!("`policy.allow` entry {entry:?} is not `owner/name`"),
                "list the repositories this daemon may act on, e.g. allow = [\"octo-org/octo-repo\"]",
            ));
        }
    }
    check_label("policy.ready_label", &config.policy.ready_label)?;
    for label in &config.policy.block_labels {
        check_label("policy.block_labels", label)?;
    }
    for association in &config.policy.trusted_associations {
        if !ASSOCIATIONS.contains(&association.as_str()) {
            return Err(invalid(
                "policy.trusted_associations",
                format!(
                    "`policy.trusted_associations` entry {association:?} is not one of GitHub's author associations"
                ),
                format!("use some of {}", ASSOCIATIONS.join(", ")),
            ));
        }
    }
    for label in &config.triage.allowed_labels {
        check_label("triage.allowed_labels", label)?;
    }
    for (index, rule) in config.triage.rules.iter().enumerate() {
        check_triage_rule(&format!("triage.rules[{index}]"), rule)?;
    }
    Ok(())
}

fn check_label(key: &str, label: &str) -> Result<(), Invalid> {
    let problem = if label.trim().is_empty() {
        Some("is empty".to_owned())
    } else if label.chars().count() > MAX_LABEL_CHARS {
        Some(format!("is longer than GitHub's {MAX_LABEL_CHARS} characters"))
    } else if label.chars().any(char::is_control) || label.contains(',') {
        Some("contains a comma or a control character".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(invalid(
            key,
            format!("`{key}`: the label {label:?} {problem}"),
            format!("use a label name of 1 to {MAX_LABEL_CHARS} characters without commas"),
        )),
        None => Ok(()),
    }
}

fn check_triage_rule(key: &str, rule: &TriageRule) -> Result<(), Invalid> {
    if rule.labels.is_empty() {
        return Err(invalid(
            format!("{key}.labels"),
            format!("`{key}.labels` is empty: the rule would apply nothing"),
            "list the labels the rule applies, e.g. labels = [\"bug\"]",
        ));
    }
    for label in rule.labels.iter().chain(&rule.has_labels).chain(&rule.lacks_labels) {
        check_label(&format!("{key}.labels"), label)?;
    }
    for (field, pattern) in [("title_regex", &rule.title_regex), ("body_regex", &rule.body_regex)] {
        if let Some(pattern) = pattern
            && let Err(err) = RegexBuilder::new(pattern).size_limit(1 << 20).build()
        {
            return Err(invalid(
                format!("{key}.{field}"),
                format!("`{key}.{field}` is not a valid regular expression: {err}"),
                "fix the expression (syntax: https://docs.rs/regex/latest/regex/#syntax); (?i) makes it ignore case",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for good in ["a/b", "octo-org/octo.repo", "A_1/b-2"] {
            assert!(is_repo_name(good), "{good}");
        }
        for bad in ["", "a", "a/", "/b", "a/b/c", "a b/c", "https://github.com/a/b"] {
            assert!(!is_repo_name(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_pass_and_each_check_bites() {
        assert_eq!(check(&Config::default()), Ok(()));
        type Break = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(Break, &str)> = vec![
            (Box::new(|c| c.github.repo = "nope".into()), "github.repo"),
            (Box::new(|c| c.github.api_url = "api.github.com".into()), "github.api_url"),
            (Box::new(|c| c.github.token_env = "1TOKEN".into()), "github.token_env"),
            (Box::new(|c| c.policy.allow = vec!["x".into()]), "policy.allow"),
            (Box::new(|c| c.policy.ready_label = String::new()), "policy.ready_label"),
            (Box::new(|c| c.policy.block_labels = vec!["a".repeat(51)]), "policy.block_labels"),
            (Box::new(|c| c.policy.trusted_associations = vec!["owner".into()]), "policy.trusted_associations"),
            (Box::new(|c| c.triage.allowed_labels = vec!["a,b".into()]), "triage.allowed_labels"),
            (Box::new(|c| c.triage.rules = vec![TriageRule { labels: vec![], ..rule() }]), "triage.rules[0].labels"),
            (
                Box::new(|c| c.triage.rules = vec![TriageRule { title_regex: Some("(".into()), ..rule() }]),
                "triage.rules[0].title_regex",
            ),
        ];
        for (change, key) in cases {
            let mut config = Config::default();
            change(&mut config);
            assert_eq!(check(&config).expect_err(key).key, key);
        }
    }

    fn rule() -> TriageRule {
        TriageRule {
            labels: vec!["bug".into()],
            title_regex: None,
            body_regex: None,
            has_labels: vec![],
            lacks_labels: vec![],
        }
    }
}
