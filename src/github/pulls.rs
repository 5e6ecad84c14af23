//! Pull requests and the CI results of a commit (check runs and commit statuses).

use http::Method;
use serde_json::json;

use super::GitHub;
use super::client::Subject;
use super::error::GitHubError;
use super::route::{encode, query};
use super::types::{CheckRun, CombinedStatus, CommitStatus, NewPull, PullRequest};
use super::wire::{WireCheckRuns, WireCombinedStatus, WirePull};

impl GitHub {
    /// `GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&state=all`, every page: the pull
    /// requests from `branch` of this repository, open or not.
    pub async fn pulls_for_branch(&self, branch: &str) -> Result<Vec<PullRequest>, GitHubError> {
        let client = self.client();
        let head = format!("{}:{branch}", self.repo().owner);
        let url =
            client.repo_url(&format!("/pulls{}", query(&[("head", &head), ("state", "all"), ("per_page", "100")])));
        let wire: Vec<WirePull> = client.all_pages(url, &Subject::Repo).await?;
        Ok(wire.into_iter().map(PullRequest::from).collect())
    }

    /// `GET /repos/{owner}/{repo}/pulls/{number}`.
    pub async fn pull(&self, number: u64) -> Result<PullRequest, GitHubError> {
        let client = self.client();
        let subject = Subject::Item(format!("pull request #{number} in {}", self.repo()));
        let wire: WirePull =
            client.fetch(Method::GET, &client.repo_url(&format!("/pulls/{number}")), None, &subject).await?;
        Ok(wire.into())
    }

    /// `POST /repos/{owner}/{repo}/pulls` with title, body, head, base and draft.
    ///
    /// Dry run: reports `create_pull` with those fields and returns the pull request it would
    /// have opened, numbered 0, open, with no head SHA or URL.
    pub async fn create_pull(&self, new: &NewPull) -> Result<PullRequest, GitHubError> {
        let arguments =
            json!({"title": new.title, "body": new.body, "head": new.head, "base": new.base, "draft": new.draft});
        if self.skip_in_dry_run("create_pull", arguments.clone()) {
            return Ok(PullRequest {
                number: 0,
                state: "open".to_owned(),
                draft: new.draft,
                merged: false,
                title: new.title.clone(),
                body: new.body.clone(),
                head_ref: new.head.clone(),
                head_sha: String::new(),
                base_ref: new.base.clone(),
                html_url: String::new(),
            });
        }
        let client = self.client();
        let subject = Subject::Item(format!("a pull request from {} into {} in {}", new.head, new.base, self.repo()));
        let wire: WirePull = client.fetch(Method::POST, &client.repo_url("/pulls"), Some(&arguments), &subject).await?;
        Ok(wire.into())
    }

    /// `PATCH /repos/{owner}/{repo}/pulls/{number}` with the title and/or body given (only a read
    /// when neither is).
    ///
    /// Dry run: reports `update_pull` `{pull, title, body}`, reads the pull request and returns it
    /// as the update would have left it.
    pub async fn update_pull(
        &self,
        number: u64,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<PullRequest, GitHubError> {
        if title.is_none() && body.is_none() {
            return self.pull(number).await;
        }
        if self.skip_in_dry_run("update_pull", json!({"pull": number, "title": title, "body": body})) {
            let mut pull = self.pull(number).await?;
            if let Some(title) = title {
                pull.title = title.to_owned();
            }
            if let Some(body) = body {
                pull.body = body.to_owned();
            }
            return Ok(pull);
        }
        let mut changes = serde_json::Map::new();
        if let Some(title) = title {
            changes.insert("title".to_owned(), json!(title));
        }
        if let Some(body) = body {
            changes.insert("body".to_owned(), json!(body));
        }
        let client = self.client();
        let subject = Subject::Item(format!("pull request #{number} in {}", self.repo()));
        let url = client.repo_url(&format!("/pulls/{number}"));
        let wire: WirePull =
            client.fetch(Method::PATCH, &url, Some(&serde_json::Value::Object(changes)), &subject).await?;
        Ok(wire.into())
    }

    /// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`, every page (`ref`: a SHA, branch or
    /// tag; percent-encoded, so branch names with slashes work).
    pub async fn check_runs(&self, git_ref: &str) -> Result<Vec<CheckRun>, GitHubError> {
        let client = self.client();
        let url = client.repo_url(&format!("/commits/{}/check-runs?per_page=100", encode(git_ref)));
        let subject = Subject::Item(format!("the commit `{git_ref}` in {}", self.repo()));
        let mut runs = Vec::new();
        client
            .each_page(url, &subject, |answer| {
                let page: WireCheckRuns = client.decode(answer, &subject)?;
                runs.extend(page.check_runs.into_iter().map(CheckRun::from));
                Ok(())
            })
            .await?;
        Ok(runs)
    }

    /// `GET /repos/{owner}/{repo}/commits/{ref}/status`: the combined state (from the first page)
    /// and every page of the latest status per context.
    pub async fn combined_status(&self, git_ref: &str) -> Result<CombinedStatus, GitHubError> {
        let client = self.client();
        let url = client.repo_url(&format!("/commits/{}/status?per_page=100", encode(git_ref)));
        let subject = Subject::Item(format!("the commit `{git_ref}` in {}", self.repo()));
        let mut state: Option<String> = None;
        let mut statuses = Vec::new();
        client
            .each_page(url, &subject, |answer| {
                let page: WireCombinedStatus = client.decode(answer, &subject)?;
                state.get_or_insert(page.state);
                statuses.extend(page.statuses.into_iter().map(CommitStatus::from));
                Ok(())
            })
            .await?;
        Ok(CombinedStatus { state: state.unwrap_or_else(|| "pending".to_owned()), statuses })
    }
}
