use std::path::Path;

use super::*;

/// The inputs the files under `packaging/` are rendered for.
fn example_target() -> Target {
    Target { bin: "/usr/local/bin/steward".into(), path_env: "/usr/local/bin:/usr/bin:/bin".into() }
}

fn example_system() -> SystemUnit {
    SystemUnit {
        target: example_target(),
        project: "/srv/steward/widgets".into(),
        user: "steward".into(),
        group: "steward".into(),
        home: "/home/steward".into(),
    }
}

fn example_agent() -> LaunchAgent {
    LaunchAgent { target: example_target(), project: "/Users/me/src/widgets".into(), home: "/Users/me".into() }
}

#[test]
fn paths_escape_as_systemd_escape_does() {
    let cases = [
        ("/home/me/src/widgets", "home-me-src-widgets"),
        ("/srv/my-repo/", "srv-my\\x2drepo"),
        ("//srv//a b", "srv-a\\x20b"),
        ("/srv/.hidden/x.y", "srv-.hidden-x.y"),
        ("/.dot", "\\x2edot"),
        ("/", "-"),
        ("/srv/ü", "srv-\\xc3\\xbc"),
    ];
    for (path, escaped) in cases {
        assert_eq!(escape_path(Path::new(path)), escaped, "{path}");
    }
    assert_eq!(system_unit_name(Path::new("/srv/w")), "steward-srv-w.service");
    assert_eq!(user_instance_name(Path::new("/srv/w")), "steward@srv-w.service");
}

#[test]
fn a_system_unit_runs_the_daemon_in_the_foreground_as_its_user() {
    let unit = render_system_unit(&example_system());
    for line in [
        "Type=notify",
        "User=steward",
        "Group=steward",
        "WorkingDirectory=/srv/steward/widgets",
        "ExecStart=/usr/local/bin/steward --project /srv/steward/widgets daemon start --foreground",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/srv/steward/widgets /home/steward /tmp /var/tmp",
        "EnvironmentFile=-/home/steward/.config/steward/environment",
        "Environment=PATH=/usr/local/bin:/usr/bin:/bin",
        "KillMode=mixed",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line:?} in\n{unit}");
    }
}

#[test]
fn odd_paths_are_quoted_and_percent_signs_doubled() {
    let mut system = example_system();
    system.project = "/srv/100% sure/it's".into();
    system.target.bin = "/opt/my tools/steward".into();
    let unit = render_system_unit(&system);
    assert!(unit.contains("ExecStart=\"/opt/my tools/steward\" --project \"/srv/100%% sure/it's\" daemon"), "{unit}");
    assert!(unit.contains("WorkingDirectory=/srv/100%% sure/it's\n"), "{unit}");
    assert!(unit.contains("ReadWritePaths=\"/srv/100%% sure/it's\" /home/steward"), "{unit}");
}

#[test]
fn the_user_template_takes_the_project_from_the_instance_name() {
    let unit = render_user_template(&example_target());
    assert!(unit.contains("ExecStart=/usr/local/bin/steward --project %f daemon start --foreground\n"), "{unit}");
    assert!(unit.contains("WorkingDirectory=%f\n") && unit.contains("ReadWritePaths=%f %h /tmp /var/tmp\n"));
    assert!(unit.contains("WantedBy=default.target") && !unit.contains("User="));
}

#[test]
fn launch_agents_are_labelled_by_path_and_escape_xml() {
    assert_eq!(launchd_label(Path::new("/Users/me/src/widgets")), "dev.steward.Users.me.src.widgets");
    assert_eq!(launchd_label(Path::new("/Users/me/a b&c")), "dev.steward.Users.me.a_b_c");
    let mut agent = example_agent();
    agent.project = "/Users/me/R&D <x>".into();
    let plist = render_launch_agent(&agent);
    assert!(plist.contains("<string>/Users/me/R&amp;D &lt;x&gt;</string>"), "{plist}");
    assert!(!plist.contains("R&D"));
}

/// The files under `packaging/` are these renderings; `STEWARD_REGENERATE=1 cargo test --lib
/// service` rewrites them after a change here.
#[test]
fn packaging_files_match_the_renderer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let files = [
        ("systemd/steward.service", render_system_unit(&example_system())),
        ("systemd/steward@.service", render_user_template(&example_target())),
        ("launchd/dev.steward.example.plist", render_launch_agent(&example_agent())),
    ];
    for (name, rendered) in files {
        let path = root.join(name);
        if std::env::var_os("STEWARD_REGENERATE").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let stored = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            stored == rendered,
            "packaging/{name} differs from what steward renders; run `STEWARD_REGENERATE=1 cargo test --lib service` and \
             review the diff"
        );
    }
}
