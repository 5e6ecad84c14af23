//! Labels: on issues (add, remove) and of the repository (list, create the missing ones).

use http::Method;
use serde_json::json;

use super::GitHub;
use super::client::Subject;
use super::error::GitHubError;
use super::route::encode;
use super::types::Label;
use super::wire::{WireError, WireLabel};

impl GitHub {
    /// `POST /repos/{owner}/{repo}/issues/{number}/labels` with `{"labels": [...]}`; labels the
    /// repository lacks are created by GitHub with a default colour. No request for an empty list.
    ///
    /// Dry run: reports `add_labels` `{issue, labels}`.
    pub async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), GitHubError> {
        if labels.is_empty() || self.skip_in_dry_run("add_labels", json!({"issue": number, "labels": labels})) {
            return Ok(());
        }
        let client = self.client();
        let url = client.repo_url(&format!("/issues/{number}/labels"));
        let subject = Subject::Item(format!("issue #{number} in {} (to label)", self.repo()));
        let _now_on_issue: Vec<WireLabel> =
            client.fetch(Method::POST, &url, Some(&json!({"labels": labels})), &subject).await?;
        Ok(())
    }

    /// `DELETE /repos/{owner}/{repo}/issues/{number}/labels/{name}` (the name percent-encoded).
    /// A label the issue does not have (GitHub's 404) is fine.
    ///
    /// Dry run: reports `remove_label` `{issue, label}`.
    pub async fn remove_label(&self, number: u64, label: &str) -> Result<(), GitHubError> {
        if self.skip_in_dry_run("remove_label", json!({"issue": number, "label": label})) {
            return Ok(());
        }
        let client = self.client();
        let url = client.repo_url(&format!("/issues/{number}/labels/{}", encode(label)));
        let answer = client.send(Method::DELETE, &url, None, &[404]).await?;
        if answer.is_success() || answer.status == 404 {
            return Ok(());
        }
        Err(client.refusal(&answer, &Subject::Item(format!("issue #{number} in {} (to unlabel)", self.repo()))))
    }

    /// `GET /repos/{owner}/{repo}/labels`, every page.
    pub async fn labels(&self) -> Result<Vec<Label>, GitHubError> {
        let client = self.client();
        let wire: Vec<WireLabel> = client.all_pages(client.repo_url("/labels?per_page=100"), &Subject::Repo).await?;
        Ok(wire.into_iter().map(Label::from).collect())
    }

    /// `POST /repos/{owner}/{repo}/labels` with name, colour (no `#`) and description. A label
    /// that already exists (422 `already_exists`) is fine.
    ///
    /// Dry run: reports `create_label` `{name, color, description}`.
    pub async fn create_label(&self, label: &Label) -> Result<(), GitHubError> {
        let color = label.color.trim_start_matches('#');
        let arguments = json!({"name": label.name, "color": color, "description": label.description});
        if self.skip_in_dry_run("create_label", arguments.clone()) {
            return Ok(());
        }
        let client = self.client();
        let answer = client.send(Method::POST, &client.repo_url("/labels"), Some(&arguments), &[422]).await?;
        if answer.is_success() || (answer.status == 422 && WireError::parse(&answer.body).has_code("already_exists")) {
            return Ok(());
        }
        Err(client.refusal(&answer, &Subject::Item(format!("the label `{}` in {}", label.name, self.repo()))))
    }

    /// Creates the labels of `wanted` the repository lacks (names compare without case, as on
    /// GitHub); existing ones are left as they are, colour and description included.
    ///
    /// Dry run: the repository's labels are read; each missing one is reported as `create_label`.
    pub async fn ensure_labels(&self, wanted: &[Label]) -> Result<(), GitHubError> {
        let existing = self.labels().await?;
        let missing =
            wanted.iter().filter(|label| !existing.iter().any(|have| have.name.eq_ignore_ascii_case(&label.name)));
        for label in missing {
            self.create_label(label).await?;
        }
        Ok(())
    }
}
