//! Issues, their timelines and their comments.

use chrono::{DateTime, SecondsFormat, Utc};
use http::Method;
use serde_json::json;

use super::GitHub;
use super::client::Subject;
use super::comments::cap_comment;
use super::error::GitHubError;
use super::route::query;
use super::types::{Comment, Issue, TimelineEvent};
use super::wire::{WireComment, WireIssue, WireTimelineEvent};

impl GitHub {
    /// `GET /repos/{owner}/{repo}/issues?state=open&per_page=100[&since=]`, every page, without
    /// the pull requests GitHub lists among issues. `since` keeps issues updated at or after it.
    pub async fn open_issues(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Issue>, GitHubError> {
        let client = self.client();
        let since = since.map(|time| time.to_rfc3339_opts(SecondsFormat::Secs, true));
        let mut pairs = vec![("state", "open"), ("per_page", "100")];
        if let Some(since) = &since {
            pairs.push(("since", since));
        }
        let wire: Vec<WireIssue> =
            client.all_pages(client.repo_url(&format!("/issues{}", query(&pairs))), &Subject::Repo).await?;
        Ok(wire.into_iter().filter(|issue| !issue.is_pull_request()).map(Issue::from).collect())
    }

    /// `GET /repos/{owner}/{repo}/issues/{number}` (a pull request's number gives it as an issue).
    pub async fn issue(&self, number: u64) -> Result<Issue, GitHubError> {
        let client = self.client();
        let wire: WireIssue = client
            .fetch(Method::GET, &client.repo_url(&format!("/issues/{number}")), None, &self.issue_subject(number))
            .await?;
        Ok(wire.into())
    }

    /// `GET /repos/{owner}/{repo}/issues/{number}/timeline`, every page, oldest first.
    pub async fn timeline(&self, number: u64) -> Result<Vec<TimelineEvent>, GitHubError> {
        let client = self.client();
        let url = client.repo_url(&format!("/issues/{number}/timeline?per_page=100"));
        let wire: Vec<WireTimelineEvent> = client.all_pages(url, &self.issue_subject(number)).await?;
        Ok(wire.into_iter().map(TimelineEvent::from).collect())
    }

    /// `GET /repos/{owner}/{repo}/issues/{number}/comments`, every page, oldest first.
    pub async fn comments(&self, number: u64) -> Result<Vec<Comment>, GitHubError> {
        let client = self.client();
        let url = client.repo_url(&format!("/issues/{number}/comments?per_page=100"));
        let wire: Vec<WireComment> = client.all_pages(url, &self.issue_subject(number)).await?;
        Ok(wire.into_iter().map(Comment::from).collect())
    }

    /// `POST /repos/{owner}/{repo}/issues/{number}/comments`; the body is capped at GitHub's
    /// limit (see [`cap_comment`](super::cap_comment)).
    ///
    /// Dry run: reports `create_comment` `{issue, body}` and returns the comment it would have
    /// made with id 0, no user or URL, association `NONE` and the current time.
    pub async fn create_comment(&self, number: u64, body: &str) -> Result<Comment, GitHubError> {
        let body = cap_comment(body);
        if self.skip_in_dry_run("create_comment", json!({"issue": number, "body": body})) {
            return Ok(unsent_comment(0, body));
        }
        let client = self.client();
        let url = client.repo_url(&format!("/issues/{number}/comments"));
        let subject = Subject::Item(format!("issue #{number} in {} (to comment on)", self.repo()));
        let wire: WireComment = client.fetch(Method::POST, &url, Some(&json!({"body": body})), &subject).await?;
        Ok(wire.into())
    }

    /// `PATCH /repos/{owner}/{repo}/issues/comments/{id}`; the body is capped like
    /// [`create_comment`](Self::create_comment)'s.
    ///
    /// Dry run: reports `update_comment` `{comment_id, body}` and returns a comment with that
    /// id and body, no user or URL, association `NONE` and the current time.
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<Comment, GitHubError> {
        let body = cap_comment(body);
        if self.skip_in_dry_run("update_comment", json!({"comment_id": id, "body": body})) {
            return Ok(unsent_comment(id, body));
        }
        let client = self.client();
        let url = client.repo_url(&format!("/issues/comments/{id}"));
        let subject = Subject::Item(format!("comment {id} in {}", self.repo()));
        let wire: WireComment = client.fetch(Method::PATCH, &url, Some(&json!({"body": body})), &subject).await?;
        Ok(wire.into())
    }

    fn issue_subject(&self, number: u64) -> Subject {
        Subject::Item(format!("issue #{number} in {}", self.repo()))
    }
}

fn unsent_comment(id: u64, body: String) -> Comment {
    let now = Utc::now();
    Comment {
        id,
        body,
        user: String::new(),
        author_association: "NONE".to_owned(),
        created_at: now,
        updated_at: now,
        html_url: String::new(),
    }
}
