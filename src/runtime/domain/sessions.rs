//! Browser sessions: started by a sign-in, found by the digest of the cookie's secret, ended
//! by a logout. The cookie itself is the HTTP layer's business.

use crate::runtime::crypto;
use crate::runtime::store::{SessionRecord, Store, StoreError};

/// Lifetime of a browser session (8 hours).
pub const SESSION_LIFETIME_SECONDS: i64 = 8 * 3600;

/// A new session and the secret its cookie carries (only its digest is stored).
pub struct StartedSession {
    /// The stored session.
    pub record: SessionRecord,
    /// The cookie's secret.
    pub secret: String,
}

/// The tenant's live session the cookie secret names, if any (an empty secret names none).
///
/// # Errors
/// Storage failure.
pub async fn find(
    store: &Store,
    tenant_id: &str,
    cookie_secret: Option<&str>,
    now: i64,
) -> Result<Option<SessionRecord>, StoreError> {
    match cookie_secret {
        Some(secret) if !secret.is_empty() => {
            store
                .session(tenant_id, &crypto::token_digest(secret), now)
                .await
        }
        _ => Ok(None),
    }
}

/// Ends the session the cookie secret names, if there is a cookie at all.
///
/// # Errors
/// Storage failure.
pub async fn end(
    store: &Store,
    tenant_id: &str,
    cookie_secret: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(secret) = cookie_secret {
        store
            .delete_session(tenant_id, &crypto::token_digest(secret))
            .await?;
    }
    Ok(())
}

/// Starts a session of `user_id` authenticated at `now`, lasting
/// [`SESSION_LIFETIME_SECONDS`].
///
/// # Errors
/// Storage failure.
pub async fn start(
    store: &Store,
    tenant_id: &str,
    user_id: &str,
    now: i64,
) -> Result<StartedSession, StoreError> {
    let secret = crypto::random_token(32);
    let record = SessionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_string(),
        auth_time: now,
    };
    store
        .create_session(
            tenant_id,
            &record,
            &crypto::token_digest(&secret),
            now + SESSION_LIFETIME_SECONDS,
        )
        .await?;
    Ok(StartedSession { record, secret })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::fixture::Fixture;
    use crate::runtime::store;

    #[tokio::test]
    async fn a_started_session_is_found_by_its_cookie_until_it_ends() {
        let fixture = Fixture::new().await;
        let user = fixture.user("ada@example.com", "!").await;
        let tenant_id = &fixture.tenant.id;
        let now = store::now();
        let started = start(&fixture.store, tenant_id, &user.id, now)
            .await
            .expect("start");
        let found = find(&fixture.store, tenant_id, Some(&started.secret), now)
            .await
            .expect("find")
            .expect("live session");
        assert_eq!(found.user_id, user.id);
        assert_eq!(found.id, started.record.id);
        end(&fixture.store, tenant_id, Some(&started.secret))
            .await
            .expect("end");
        assert!(
            find(&fixture.store, tenant_id, Some(&started.secret), now)
                .await
                .expect("find")
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_session_is_found_for_its_lifetime_and_not_a_second_longer() {
        let fixture = Fixture::new().await;
        let user = fixture.user("ada@example.com", "!").await;
        let tenant_id = &fixture.tenant.id;
        let signed_in = 1_800_000_000;
        let started = start(&fixture.store, tenant_id, &user.id, signed_in)
            .await
            .expect("start");
        let found_at = |now: i64| find(&fixture.store, tenant_id, Some(&started.secret), now);
        let last_second = signed_in + SESSION_LIFETIME_SECONDS - 1;
        assert!(found_at(last_second).await.expect("find").is_some());
        let expired = signed_in + SESSION_LIFETIME_SECONDS;
        assert!(found_at(expired).await.expect("find").is_none());
    }

    #[tokio::test]
    async fn no_cookie_an_empty_cookie_or_another_tenants_cookie_names_no_session() {
        let fixture = Fixture::new().await;
        let user = fixture.user("ada@example.com", "!").await;
        let now = store::now();
        let started = start(&fixture.store, &fixture.tenant.id, &user.id, now)
            .await
            .expect("start");
        for secret in [None, Some(""), Some("unknown")] {
            assert!(
                find(&fixture.store, &fixture.tenant.id, secret, now)
                    .await
                    .expect("find")
                    .is_none()
            );
        }
        assert!(
            find(&fixture.store, "another-tenant", Some(&started.secret), now)
                .await
                .expect("find")
                .is_none()
        );
    }
}
