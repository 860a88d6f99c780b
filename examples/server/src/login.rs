//! The demo users behind the built-in login page.
//!
//! **A stand-in for your app's own login.** gatehouse does not
//! authenticate users: the app embedding it does, with its own accounts,
//! sessions, password hashing (argon2, scrypt…), throttling and MFA, and
//! then calls [`AuthServer::authorize`](gatehouse_core::AuthServer::authorize)
//! with the user's id. The example has a fixed list of users from its config
//! file so that the authorization code flow can be tried end to end.
//!
//! Passwords are kept only as the same unsalted, domain-separated SHA-256
//! digest the config uses for client secrets. That is only acceptable
//! because a demo password must be at least 32 bytes, like a client secret;
//! human-chosen passwords need a slow, salted hash.

use std::fmt;

use gatehouse_core::constant_time_eq;
use gatehouse_core::model::{SecretDigest, Subject};

/// One demo user: a username (the token's `sub`) and its password digest.
#[derive(Clone)]
pub struct DemoUser {
    /// The username, which becomes the subject of the tokens.
    pub username: Subject,
    /// The `sha256:` digest of the password (`gatehouse-example hash-secret`).
    pub password: SecretDigest,
}

/// The demo users of the config file (`demo_users`); may be empty, which
/// turns every login away.
#[derive(Clone, Default)]
pub struct DemoUsers(Vec<DemoUser>);

impl DemoUsers {
    /// Wraps a list of users.
    pub fn new(users: Vec<DemoUser>) -> Self {
        Self(users)
    }

    /// The usernames, e.g. for `Debug`.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|u| u.username.as_str())
    }

    /// The user with this username and password, if there is one.
    ///
    /// Every user's username and password are compared, in constant time,
    /// whether or not an earlier one matched and whether or not the
    /// username did (`&`, not `&&`), so an unknown username and a wrong
    /// password take the same work, and the time taken does not say which
    /// usernames exist.
    pub fn check(&self, username: &str, password: &str) -> Option<Subject> {
        let mut found = None;
        for user in &self.0 {
            let name_ok = constant_time_eq(user.username.as_str().as_bytes(), username.as_bytes());
            if name_ok & user.password.verify(password) {
                found = Some(user.username.clone());
            }
        }
        found
    }
}

impl fmt::Debug for DemoUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.usernames()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_password_for_the_right_user() {
        let pw = "alice-demo-password-not-for-production";
        let users = DemoUsers::new(vec![
            DemoUser {
                username: Subject::new("alice").unwrap(),
                password: SecretDigest::from_secret(pw).unwrap(),
            },
            DemoUser {
                username: Subject::new("bob").unwrap(),
                password: SecretDigest::from_secret("bob-demo-password-not-for-production-use").unwrap(),
            },
        ]);
        assert_eq!(users.check("alice", pw).unwrap().as_str(), "alice");
        assert!(users.check("bob", pw).is_none());
        assert!(users.check("alice", "alice-demo-password-not-for-productioN").is_none());
        assert!(users.check("alice", "short").is_none());
        assert!(users.check("alic", pw).is_none());
        assert!(users.check("", "").is_none());
        assert!(DemoUsers::default().check("alice", pw).is_none());
        assert_eq!(format!("{users:?}"), r#"["alice", "bob"]"#);
    }
}
