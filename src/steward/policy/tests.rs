//! Policy decisions as tables: every gate and every reason to skip, and the order they apply in.

use super::*;

fn policy() -> PolicyConfig {
    PolicyConfig {
        allow: vec!["Octo/Repo".into()],
        max_active_sessions: 2,
        max_paused_sessions: 1,
        ..PolicyConfig::default()
    }
}

fn labels(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn user(login: &str, permission: Option<Permission>) -> Option<Labeller> {
    Some(Labeller::User { login: login.into(), permission })
}

fn ready(labeller: Option<Labeller>) -> Candidate {
    Candidate { number: 7, labels: labels(&["bug", "steward:ready"]), labeller, blockers: vec![], session: None }
}

#[test]
fn loops_by_mode() {
    let table = [
        (Mode::Off, [false, false, false]),
        (Mode::Triage, [true, false, false]),
        (Mode::Feedback, [false, true, false]),
        (Mode::Run, [false, true, true]),
        (Mode::Full, [true, true, true]),
    ];
    for (mode, expected) in table {
        let active: Vec<bool> = Loop::ALL.iter().map(|l| l.active_in(mode)).collect();
        assert_eq!(active, expected, "{mode:?}");
    }
    for l in Loop::ALL {
        assert_eq!(Loop::parse(l.name()), Some(l));
    }
    assert_eq!(Loop::parse("health"), None);
}

#[test]
fn gates_in_order() {
    let allow = policy().allow;
    let cases = [
        (Mode::Off, false, "octo/repo", Err(Skip::ModeOff { mode: Mode::Off, r#loop: Loop::Triage })),
        (Mode::Feedback, false, "octo/repo", Err(Skip::ModeOff { mode: Mode::Feedback, r#loop: Loop::Triage })),
        (Mode::Full, true, "octo/repo", Err(Skip::KillSwitch)),
        (Mode::Triage, false, "octo/other", Err(Skip::RepoNotAllowed { repo: "octo/other".into() })),
        (Mode::Triage, false, "octo/repo", Ok(())),
        (Mode::Full, false, "OCTO/REPO", Ok(())),
    ];
    for (mode, kill, repo, expected) in cases {
        assert_eq!(gates(mode, Loop::Triage, kill, repo, &allow), expected, "{mode:?} {kill} {repo}");
    }
    assert_eq!(
        gates(Mode::Full, Loop::Run, false, "octo/repo", &[]),
        Err(Skip::RepoNotAllowed { repo: "octo/repo".into() }),
        "an empty allow list allows nothing"
    );
}

#[test]
fn every_reason_to_skip_and_the_one_way_to_select() {
    let writer = user("maintainer", Some(Permission::Write));
    let capacity = Capacity { active: 0, paused: 0 };
    let cases: Vec<(&str, Candidate, Capacity, Result<(), Skip>)> = vec![
        ("trusted writer", ready(writer.clone()), capacity, Ok(())),
        ("admin", ready(user("a", Some(Permission::Admin))), capacity, Ok(())),
        ("maintain", ready(user("m", Some(Permission::Maintain))), capacity, Ok(())),
        (
            "triage permission is not enough",
            ready(user("t", Some(Permission::Triage))),
            capacity,
            Err(Skip::ReadyLabelUntrusted { login: "t".into(), permission: Permission::Triage }),
        ),
        (
            "read",
            ready(user("r", Some(Permission::Read))),
            capacity,
            Err(Skip::ReadyLabelUntrusted { login: "r".into(), permission: Permission::Read }),
        ),
        (
            "no permission at all",
            ready(user("x", Some(Permission::None))),
            capacity,
            Err(Skip::ReadyLabelUntrusted { login: "x".into(), permission: Permission::None }),
        ),
        (
            "lookup failed: fail closed",
            ready(user("w", None)),
            capacity,
            Err(Skip::ReadyLabelUnverified { login: "w".into() }),
        ),
        ("no labeled event", ready(Some(Labeller::Unknown)), capacity, Err(Skip::ReadyLabelUnattributed)),
        ("not looked up", ready(None), capacity, Err(Skip::ReadyLabelUnattributed)),
        (
            "no ready label",
            Candidate { labels: labels(&["bug"]), ..ready(writer.clone()) },
            capacity,
            Err(Skip::NotReady),
        ),
        (
            "ready label in another case still counts",
            Candidate { labels: labels(&["Steward:Ready"]), ..ready(writer.clone()) },
            capacity,
            Ok(()),
        ),
        (
            "block label wins over everything",
            Candidate { labels: labels(&["steward:ready", "do-not-automate"]), session: Some(3), ..ready(None) },
            capacity,
            Err(Skip::BlockLabel { label: "do-not-automate".into() }),
        ),
        (
            "needs-input blocks",
            Candidate { labels: labels(&["steward:ready", "steward:needs-input"]), ..ready(writer.clone()) },
            capacity,
            Err(Skip::BlockLabel { label: "steward:needs-input".into() }),
        ),
        (
            "done before",
            Candidate { labels: labels(&["steward:ready", "steward:done"]), ..ready(writer.clone()) },
            capacity,
            Err(Skip::Handled { label: "steward:done".into() }),
        ),
        (
            "handed to a human",
            Candidate { labels: labels(&["Steward:Needs-Human", "steward:ready"]), ..ready(writer.clone()) },
            capacity,
            Err(Skip::Handled { label: "Steward:Needs-Human".into() }),
        ),
        (
            "in progress elsewhere",
            Candidate { labels: labels(&["steward:ready", "steward:in-progress"]), ..ready(writer.clone()) },
            capacity,
            Err(Skip::Handled { label: "steward:in-progress".into() }),
        ),
        (
            "its own session comes first",
            Candidate {
                labels: labels(&["steward:ready", "steward:in-progress"]),
                session: Some(4),
                ..ready(writer.clone())
            },
            capacity,
            Err(Skip::InSession { session: 4 }),
        ),
        (
            "already in a session",
            Candidate { session: Some(3), ..ready(writer.clone()) },
            capacity,
            Err(Skip::InSession { session: 3 }),
        ),
        (
            "blocked by an open issue",
            Candidate {
                blockers: vec![Blocker { issue: 2, open: Some(false) }, Blocker { issue: 3, open: Some(true) }],
                ..ready(writer.clone())
            },
            capacity,
            Err(Skip::BlockedBy { issue: 3 }),
        ),
        (
            "blocked by an issue of unknown state",
            Candidate { blockers: vec![Blocker { issue: 4, open: None }], ..ready(writer.clone()) },
            capacity,
            Err(Skip::BlockedByUnknown { issue: 4 }),
        ),
        (
            "blockers all closed",
            Candidate { blockers: vec![Blocker { issue: 2, open: Some(false) }], ..ready(writer.clone()) },
            capacity,
            Ok(()),
        ),
        (
            "active capacity",
            ready(writer.clone()),
            Capacity { active: 2, paused: 0 },
            Err(Skip::ActiveCapacity { active: 2, max: 2 }),
        ),
        ("paused sessions do not take active places", ready(writer.clone()), Capacity { active: 1, paused: 0 }, Ok(())),
        (
            "paused capacity",
            ready(writer.clone()),
            Capacity { active: 0, paused: 1 },
            Err(Skip::PausedCapacity { paused: 1, max: 1 }),
        ),
    ];
    for (name, candidate, capacity, expected) in cases {
        assert_eq!(decide_run(&candidate, capacity, &policy()), expected, "{name}");
    }
}

#[test]
fn reasons_have_codes_and_words() {
    let skip = Skip::ReadyLabelUntrusted { login: "eve".into(), permission: Permission::Read };
    assert_eq!(skip.code(), "ready_label_untrusted");
    assert_eq!(
        skip.describe(),
        "the ready label was applied by eve, whose permission is read; it takes write, maintain or admin"
    );
    assert_eq!(Skip::KillSwitch.code(), "kill_switch");
    assert_eq!(Skip::ModeOff { mode: Mode::Off, r#loop: Loop::Run }.code(), "mode_off");
}

fn event(kind: &str, label: &str, actor: &str) -> TimelineEvent {
    TimelineEvent { event: kind.into(), actor: Some(actor.into()), label: Some(label.into()), created_at: None }
}

#[test]
fn the_latest_labeled_event_names_the_labeller() {
    let timeline = vec![
        event("labeled", "steward:ready", "alice"),
        event("unlabeled", "steward:ready", "bob"),
        event("labeled", "bug", "carol"),
        event("labeled", "steward:ready", "dave"),
        event("commented", "", "eve"),
    ];
    assert_eq!(labeller(&timeline, "steward:ready").as_deref(), Some("dave"));
    assert_eq!(labeller(&timeline, "STEWARD:READY").as_deref(), Some("dave"));
    assert_eq!(labeller(&timeline, "bug").as_deref(), Some("carol"));
    assert_eq!(labeller(&timeline, "other"), None);
    assert_eq!(labeller(&[], "steward:ready"), None);
}

#[test]
fn blocked_by_references() {
    let cases: &[(&str, &[u64])] = &[
        ("Blocked by #12", &[12]),
        ("blocked by #3 and Blocked By #4; blocked by #3 again", &[3, 4]),
        ("BLOCKED BY   #9.", &[9]),
        ("blocked by issue #5", &[]),
        ("unblocked by #6", &[]),
        ("blocked by #", &[]),
        ("nothing", &[]),
        ("blocked by #18446744073709551616", &[]),
    ];
    for (body, expected) in cases {
        assert_eq!(blocked_by(body), *expected, "{body}");
    }
}

#[test]
fn run_order_is_priority_then_number() {
    let mut issues = vec![
        (5, labels(&["priority:1"])),
        (3, labels(&[])),
        (9, labels(&["priority:5", "priority:2"])),
        (2, labels(&["priority:1"])),
        (1, labels(&["priority:-1"])),
        (4, labels(&["priority:x"])),
    ];
    run_order(&mut issues);
    let order: Vec<u64> = issues.iter().map(|(n, _)| *n).collect();
    assert_eq!(order, [9, 2, 5, 3, 4, 1]);
}

#[test]
fn trusted_answers() {
    let policy = policy();
    for (association, trusted) in [
        ("OWNER", true),
        ("member", true),
        ("COLLABORATOR", true),
        ("CONTRIBUTOR", false),
        ("NONE", false),
        ("", false),
    ] {
        assert_eq!(trusted_answer(association, &policy), trusted, "{association}");
    }
}
