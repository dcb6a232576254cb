//! Lockout and rate limits of the hosted pages: failed sign-in attempts lock an address (and,
//! with IP counting, a client address) for a while, and passcode sends are capped.

use std::net::IpAddr;

use crate::runtime::Tenant;
use crate::runtime::store::{Store, StoreError};

/// Per-IP failures tolerate this many times the per-account threshold (several customers
/// may share an address).
const IP_THRESHOLD_FACTOR: i64 = 10;

/// Passcodes one address may be sent before one of them is used; past that it gets no more
/// for the tenant's lockout duration, so nobody can flood a mailbox through these pages.
pub const MAX_UNUSED_PASSCODES: i64 = 5;

/// Lockout settings of a tenant, with the defaults of the CRD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures that lock a subject.
    pub threshold: i64,
    /// How long a lock lasts, in seconds.
    pub duration_seconds: i64,
}

impl LockoutPolicy {
    /// The tenant's policy (10 failures, 60 seconds unless it says otherwise).
    pub fn of(tenant: &Tenant) -> Self {
        let lockout = tenant.spec.lockout.as_ref();
        LockoutPolicy {
            threshold: lockout.map_or(10, |lockout| i64::from(lockout.threshold)),
            duration_seconds: lockout.map_or(60, |lockout| i64::from(lockout.duration_seconds)),
        }
    }
}

/// What a throttle counts: failed sign-in attempts (passwords, passcodes) or passcodes sent.
#[derive(Clone, Copy)]
enum Throttled {
    Failures,
    Sends,
}

impl Throttled {
    fn prefix(self) -> &'static str {
        match self {
            Throttled::Failures => "",
            Throttled::Sends => "send:",
        }
    }

    /// The throttle row of `email` (`email:…` or `send:email:…`).
    fn email_subject(self, email: &str) -> String {
        format!("{}email:{email}", self.prefix())
    }

    /// The rows this attempt counts against, with their thresholds: the email, and the client
    /// IP (at `IP_THRESHOLD_FACTOR` times the threshold) when IP counting is on.
    fn subjects(self, email: &str, ip: Option<IpAddr>, threshold: i64) -> Vec<(String, i64)> {
        let mut subjects = vec![(self.email_subject(email), threshold)];
        subjects.extend(ip.map(|ip| {
            (
                format!("{}ip:{ip}", self.prefix()),
                threshold * IP_THRESHOLD_FACTOR,
            )
        }));
        subjects
    }
}

/// The throttles of one browser's attempts at one tenant.
#[derive(Clone, Copy)]
pub struct Throttles<'a> {
    /// The database.
    pub store: &'a Store,
    /// The tenant, whose lockout policy applies.
    pub tenant: &'a Tenant,
    /// The client's address, when IP counting is on.
    pub ip: Option<IpAddr>,
}

impl Throttles<'_> {
    /// Whether any of `subjects` is locked out at `now`.
    async fn any_locked(&self, subjects: &[(String, i64)], now: i64) -> Result<bool, StoreError> {
        for (subject, _) in subjects {
            if self.store.locked_until(&self.tenant.id, subject).await? > now {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts one attempt against each of `subjects`; one that reaches its threshold is
    /// locked for the tenant's lockout duration.
    async fn count_attempt(&self, subjects: &[(String, i64)], now: i64) -> Result<(), StoreError> {
        let until = now + LockoutPolicy::of(self.tenant).duration_seconds;
        for (subject, threshold) in subjects {
            self.store
                .record_failure(&self.tenant.id, subject, *threshold, until)
                .await?;
        }
        Ok(())
    }

    fn failure_subjects(&self, email: &str) -> Vec<(String, i64)> {
        let threshold = LockoutPolicy::of(self.tenant).threshold;
        Throttled::Failures.subjects(email, self.ip, threshold)
    }

    /// Whether the email or the client IP is locked out at `now`.
    ///
    /// # Errors
    /// Storage failure.
    pub async fn is_locked(&self, email: &str, now: i64) -> Result<bool, StoreError> {
        self.any_locked(&self.failure_subjects(email), now).await
    }

    /// Counts a failed attempt against the email and the client IP.
    ///
    /// # Errors
    /// Storage failure.
    pub async fn record_failure(&self, email: &str, now: i64) -> Result<(), StoreError> {
        self.count_attempt(&self.failure_subjects(email), now).await
    }

    /// Whether a passcode may be sent to `email` at `now`, counting it when it may. Unknown
    /// and known addresses count alike, so the limit reveals nothing about accounts.
    ///
    /// # Errors
    /// Storage failure.
    pub async fn take_passcode_allowance(&self, email: &str, now: i64) -> Result<bool, StoreError> {
        let subjects = Throttled::Sends.subjects(email, self.ip, MAX_UNUSED_PASSCODES);
        if self.any_locked(&subjects, now).await? {
            return Ok(false);
        }
        self.count_attempt(&subjects, now).await?;
        Ok(true)
    }

    /// Forgets the address's failed attempts after a password sign-in.
    ///
    /// # Errors
    /// Storage failure.
    pub async fn clear_failures(&self, email: &str) -> Result<(), StoreError> {
        self.store
            .clear_failures(&self.tenant.id, &Throttled::Failures.email_subject(email))
            .await
    }

    /// A used passcode clears the address's failures and the sends of address and IP.
    ///
    /// # Errors
    /// Storage failure.
    pub async fn clear_after_passcode(&self, email: &str) -> Result<(), StoreError> {
        let mut cleared = vec![Throttled::Failures.email_subject(email)];
        cleared.extend(
            Throttled::Sends
                .subjects(email, self.ip, MAX_UNUSED_PASSCODES)
                .into_iter()
                .map(|(subject, _)| subject),
        );
        for subject in cleared {
            self.store.clear_failures(&self.tenant.id, &subject).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::fixture::Fixture;

    const EMAIL: &str = "ada@example.com";

    #[tokio::test]
    async fn an_address_is_locked_after_the_threshold_of_failures_until_the_window_passes() {
        let fixture = Fixture::with_spec(serde_json::json!({
            "lockout": {"threshold": 3, "durationSeconds": 60}
        }))
        .await;
        let throttles = fixture.throttles(None);
        let now = 1_000_000;
        for _ in 0..2 {
            throttles.record_failure(EMAIL, now).await.expect("count");
        }
        assert!(
            !throttles.is_locked(EMAIL, now).await.expect("read"),
            "below the threshold"
        );
        throttles.record_failure(EMAIL, now).await.expect("count");
        assert!(throttles.is_locked(EMAIL, now).await.expect("read"));
        assert!(throttles.is_locked(EMAIL, now + 59).await.expect("read"));
        assert!(
            !throttles.is_locked(EMAIL, now + 60).await.expect("read"),
            "the lock ends with the window"
        );
        assert!(
            !throttles
                .is_locked("other@example.com", now)
                .await
                .expect("read")
        );
    }

    #[tokio::test]
    async fn a_successful_sign_in_forgets_earlier_failures() {
        let fixture = Fixture::with_spec(serde_json::json!({
            "lockout": {"threshold": 3, "durationSeconds": 60}
        }))
        .await;
        let throttles = fixture.throttles(None);
        let now = 1_000_000;
        for _ in 0..2 {
            throttles.record_failure(EMAIL, now).await.expect("count");
        }
        throttles.clear_failures(EMAIL).await.expect("clear");
        throttles.record_failure(EMAIL, now).await.expect("count");
        assert!(!throttles.is_locked(EMAIL, now).await.expect("read"));
    }

    #[tokio::test]
    async fn with_ip_counting_a_client_address_locks_at_ten_times_the_threshold() {
        let fixture = Fixture::with_spec(serde_json::json!({
            "lockout": {"threshold": 1, "durationSeconds": 60}
        }))
        .await;
        let throttles = fixture.throttles(Some("192.0.2.7".parse().expect("ip")));
        let now = 1_000_000;
        for attempt in 0..10 {
            let email = format!("user{attempt}@example.com");
            assert!(!throttles.is_locked(&email, now).await.expect("read"));
            throttles.record_failure(&email, now).await.expect("count");
        }
        assert!(
            throttles
                .is_locked("fresh@example.com", now)
                .await
                .expect("read"),
            "the client address is locked for every email"
        );
    }

    #[tokio::test]
    async fn passcode_sends_are_capped_until_one_is_used_or_the_window_passes() {
        let fixture = Fixture::with_spec(serde_json::json!({
            "lockout": {"threshold": 10, "durationSeconds": 300}
        }))
        .await;
        let throttles = fixture.throttles(None);
        let now = 1_000_000;
        for _ in 0..MAX_UNUSED_PASSCODES {
            assert!(
                throttles
                    .take_passcode_allowance(EMAIL, now)
                    .await
                    .expect("take")
            );
        }
        assert!(
            !throttles
                .take_passcode_allowance(EMAIL, now)
                .await
                .expect("take")
        );
        assert!(
            !throttles
                .take_passcode_allowance(EMAIL, now + 299)
                .await
                .expect("take")
        );
        assert!(
            throttles
                .take_passcode_allowance(EMAIL, now + 300)
                .await
                .expect("take")
        );
        throttles.clear_after_passcode(EMAIL).await.expect("clear");
        for _ in 0..MAX_UNUSED_PASSCODES {
            assert!(
                throttles
                    .take_passcode_allowance(EMAIL, now + 300)
                    .await
                    .expect("take"),
                "a used passcode restores the allowance"
            );
        }
    }
}
