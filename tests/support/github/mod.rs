//! A GitHub-shaped HTTP server for the tests: one in-memory repository answering the REST paths
//! and JSON shapes GitHub documents for the calls steward makes, with pagination `Link` headers,
//! GitHub's error bodies, rate-limit headers and failures on demand.
//!
//! It is a test fixture: the product never depends on it. Tests seed it, point `[github].api_url`
//! at [`FakeGitHub::url`], and assert on its state and on the requests it was sent.
#![allow(dead_code)]

mod issues;
mod json;
mod pulls;
mod routes;
mod state;

use std::sync::{Arc, Mutex};

#[allow(unused_imports)]
pub use state::{
    FakeCheckRun, FakeComment, FakeEvent, FakeIssue, FakeLabel, FakePull, FakeStatus, Fault, LoggedRequest, Role, State,
};

use routes::{Shared, lock};
use state::PendingFault;

/// The token the fake accepts unless a test sets another.
pub const TOKEN: &str = "ghp_faketoken0123456789abcdefABCDEF0123";

/// A running fake. Dropping it stops the server.
pub struct FakeGitHub {
    shared: Shared,
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGitHub {
    /// Serves `octo/widgets` on a free loopback port, accepting [`TOKEN`], from its own thread
    /// and runtime, so it answers whatever the test thread is doing.
    pub fn start() -> FakeGitHub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared: Shared = Arc::new(Mutex::new(State::new(url.clone(), TOKEN)));
        let router = routes::router(shared.clone());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-github".to_owned())
            .spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for the fake");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await
                        .unwrap();
                });
            })
            .unwrap();
        FakeGitHub { shared, url, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// The API root to put in `[github].api_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `owner/name` of the fake's repository.
    pub fn repo(&self) -> String {
        lock(&self.shared).full_name()
    }

    /// Reads or changes the state directly.
    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut lock(&self.shared))
    }

    /// Adds a collaborator (or changes their role).
    pub fn user(&self, login: &str, role: Role) {
        self.with(|state| state.users.insert(login.to_owned(), role));
    }

    /// Takes a user's access away (the permission endpoint then answers 404).
    pub fn remove_user(&self, login: &str) {
        self.with(|state| state.users.remove(login));
    }

    /// Opens an issue by `author` and returns its number.
    pub fn issue(&self, title: &str, body: &str, author: &str) -> u64 {
        self.with(|state| state.insert_issue(title, (!body.is_empty()).then(|| body.to_owned()), author, None))
    }

    /// Puts `label` on issue `number` as `actor` (recorded in the timeline, as on GitHub).
    pub fn label(&self, number: u64, label: &str, actor: &str) {
        self.with(|state| state.apply_label(number, label, actor));
    }

    /// Takes `label` off issue `number` as `actor`.
    pub fn unlabel(&self, number: u64, label: &str, actor: &str) -> bool {
        self.with(|state| state.drop_label(number, label, actor))
    }

    /// Comments on issue `number` as `author`; returns the comment's id.
    pub fn comment(&self, number: u64, author: &str, body: &str) -> u64 {
        self.with(|state| state.comment(number, author, body))
    }

    /// Closes issue `number`.
    pub fn close(&self, number: u64) {
        self.with(|state| {
            if let Some(issue) = state.issues.get_mut(&number) {
                issue.state = "closed".to_owned();
                issue.updated_at = State::now();
            }
        });
    }

    /// Opens a pull request from `head` into the default branch; returns its number.
    pub fn pull(&self, title: &str, head: &str, author: &str) -> u64 {
        self.with(|state| {
            let base = state.default_branch.clone();
            state.branches.insert(head.to_owned());
            let pull =
                FakePull { head: head.to_owned(), head_sha: pulls::fake_sha(head), base, draft: false, merged: false };
            pulls::insert_pull(state, title, None, author, pull)
        })
    }

    /// The SHA the fake gives a branch's head.
    pub fn sha(branch: &str) -> String {
        pulls::fake_sha(branch)
    }

    /// Adds a check run for `git_ref` (a SHA or a branch).
    pub fn check_run(&self, git_ref: &str, run: FakeCheckRun) {
        self.with(|state| state.check_runs.entry(git_ref.to_owned()).or_default().push(run));
    }

    /// Adds a commit status for `git_ref`.
    pub fn status(&self, git_ref: &str, status: FakeStatus) {
        self.with(|state| state.statuses.entry(git_ref.to_owned()).or_default().push(status));
    }

    /// Makes the next `times` requests (matching `method` and a path prefix, when given) fail.
    pub fn fail(&self, fault: Fault, times: usize, method: Option<&str>, path_prefix: Option<&str>) {
        self.with(|state| {
            state.faults.push(PendingFault {
                fault,
                times,
                method: method.map(str::to_owned),
                path_prefix: path_prefix.map(str::to_owned),
            })
        });
    }

    /// Accepts another token from now on.
    pub fn set_token(&self, token: &str) {
        self.with(|state| state.token = token.to_owned());
    }

    /// An issue's labels, in the order they were applied.
    pub fn labels_of(&self, number: u64) -> Vec<String> {
        self.with(|state| state.issues.get(&number).map(|issue| issue.labels.clone()).unwrap_or_default())
    }

    /// The bodies of the comments on issue `number`, oldest first.
    pub fn comments_on(&self, number: u64) -> Vec<String> {
        self.with(|state| {
            state
                .comments
                .iter()
                .filter(|comment| comment.issue == number)
                .map(|comment| comment.body.clone())
                .collect()
        })
    }

    /// The repository's labels.
    pub fn repo_labels(&self) -> Vec<FakeLabel> {
        self.with(|state| state.labels.clone())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.with(|state| state.log.clone())
    }

    /// The requests that would change something (anything but GET and HEAD).
    pub fn mutations(&self) -> Vec<LoggedRequest> {
        self.requests().into_iter().filter(|request| request.method != "GET" && request.method != "HEAD").collect()
    }

    /// Forgets the requests so far.
    pub fn clear_log(&self) {
        self.with(|state| state.log.clear());
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // Not joined: a client holding a keep-alive connection must not hang the test's end.
        drop(self.thread.take());
    }
}
