//! Who is who: the repository itself, the token's user, and a user's role on the repository
//! (the trust gate asks it about whoever applied the ready label).

use http::Method;

use super::GitHub;
use super::client::Subject;
use super::error::GitHubError;
use super::route::encode;
use super::types::{Permission, Repository};
use super::wire::{WirePermission, WireRepository, WireUser};

impl GitHub {
    /// `GET /repos/{owner}/{repo}`. A 404 is [`GitHubError::RepoNotFound`] (permanent).
    pub async fn repository(&self) -> Result<Repository, GitHubError> {
        let client = self.client();
        let wire: WireRepository = client.fetch(Method::GET, &client.repo_url(""), None, &Subject::Repo).await?;
        Ok(wire.into())
    }

    /// `GET /user`: the login of the token's user.
    pub async fn authenticated_user(&self) -> Result<String, GitHubError> {
        let client = self.client();
        let subject = Subject::Item("the token's user (GET /user)".to_owned());
        let user: WireUser = client.fetch(Method::GET, &client.url("/user"), None, &subject).await?;
        Ok(user.login)
    }

    /// `GET /repos/{owner}/{repo}/collaborators/{username}/permission`: `role_name` when present,
    /// else `permission`. A 404 (not a collaborator, no such user) and any unknown role are
    /// [`Permission::None`].
    pub async fn permission(&self, login: &str) -> Result<Permission, GitHubError> {
        let client = self.client();
        let url = client.repo_url(&format!("/collaborators/{}/permission", encode(login)));
        let subject = Subject::Item(format!("the permission of {login} on {}", self.repo()));
        let answer = client.send(Method::GET, &url, None, &[404]).await?;
        if answer.status == 404 {
            return Ok(Permission::None);
        }
        if !answer.is_success() {
            return Err(client.refusal(&answer, &subject));
        }
        let wire: WirePermission = client.decode(&answer, &subject)?;
        Ok(Permission::from_answer(wire.role_name.as_deref(), wire.permission.as_deref()))
    }
}
