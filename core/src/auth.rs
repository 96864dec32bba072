//! Client authentication against the options in force. Kept apart from the
//! connection so a config reload can re-check clients that are already
//! connected with the same rules.

use crate::options::Options;

/// The credentials a client presented in CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `user`.
    pub user: Option<String>,
    /// `pass`.
    pub pass: Option<String>,
    /// `auth_token`.
    pub token: Option<String>,
}

/// True if `c` may connect under `opts` (always, when no auth is set).
pub fn check(opts: &Options, c: &Credentials) -> bool {
    if !opts.auth_required() {
        return true;
    }
    if let Some(token) = &opts.token {
        if c.token.as_deref() == Some(token.as_str()) {
            return true;
        }
    }
    if let Some(user) = &opts.user {
        let pass_ok = opts.password.as_deref().unwrap_or("") == c.pass.as_deref().unwrap_or("");
        if c.user.as_deref() == Some(user.as_str()) && pass_ok {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_token() {
        let open = Options::default();
        assert!(check(&open, &Credentials::default()));
        let o = Options {
            user: Some("u".into()),
            password: Some("p".into()),
            ..Options::default()
        };
        let good = Credentials {
            user: Some("u".into()),
            pass: Some("p".into()),
            token: None,
        };
        assert!(check(&o, &good));
        assert!(!check(
            &o,
            &Credentials {
                pass: Some("x".into()),
                ..good.clone()
            }
        ));
        let t = Options {
            token: Some("s3cr3t".into()),
            ..Options::default()
        };
        assert!(check(
            &t,
            &Credentials {
                token: Some("s3cr3t".into()),
                ..Default::default()
            }
        ));
        assert!(!check(&t, &good));
    }
}
