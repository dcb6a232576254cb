//! Password rules and checks: the tenant's policy, Argon2 hashing off the async workers (at
//! most one per core at a time), and verification against a decoy hash so unknown and
//! passwordless accounts cost the same.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::hosted::FlowError;
use crate::runtime::i18n::{self, Strings};
use crate::runtime::metrics::Metrics;
use crate::runtime::{Tenant, crypto};

/// A tenant's password rules with the defaults of the CRD.
pub struct PasswordRules {
    /// Minimum length.
    pub min_length: usize,
    /// Required character classes out of lower, upper, digit, symbol.
    pub required_classes: usize,
}

impl PasswordRules {
    /// The tenant's rules (8 characters and 3 classes unless its policy says otherwise).
    pub fn of(tenant: &Tenant) -> Self {
        let policy = tenant.spec.password_policy.as_ref();
        PasswordRules {
            min_length: policy.map_or(8, |policy| policy.min_length as usize),
            required_classes: policy.map_or(3, |policy| policy.required_character_classes as usize),
        }
    }

    /// The rules in words, in the page language.
    pub fn describe(&self, strings: &Strings) -> String {
        i18n::fill(
            strings
                .get("password_rules")
                .map_or("", |text| text.as_str()),
            &[
                ("min", &self.min_length.to_string()),
                ("classes", &self.required_classes.to_string()),
            ],
        )
    }

    /// Whether `password` satisfies the rules.
    pub fn accepts(&self, password: &str) -> bool {
        let classes = [
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ]
        .into_iter()
        .filter(|present| *present)
        .count();
        let length = password.chars().count();
        length >= self.min_length && length <= 256 && classes >= self.required_classes
    }
}

/// Runs one Argon2 computation on the blocking pool once a slot is free. There is one slot per
/// core: each computation takes 19 MiB and a core for ~35 ms, so more at once would only
/// share the cores while the memory of every waiting form post adds up (tokio's blocking pool
/// grows to 512 threads: ~10 GiB for an anonymous client posting sign-in forms in parallel).
async fn run_argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
    });
    let _slot = slots.acquire().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let _running = Running::start();
        work()
    })
    .await
    .ok()
}

/// Argon2 computations running now, and the most seen at once (what the slot test reads).
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Counts one running computation for as long as it lives.
struct Running;

impl Running {
    fn start() -> Self {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK_RUNNING.fetch_max(now, Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Hashes a new password off the async workers.
///
/// # Errors
/// Argon2 or its worker thread failed.
pub async fn hash(password: String) -> Result<String, FlowError> {
    run_argon2(move || crypto::hash_password(&password))
        .await
        .ok_or_else(|| FlowError::PasswordHash("the hashing task did not finish".into()))?
        .map_err(|error| FlowError::PasswordHash(error.to_string()))
}

/// Verifies off the async workers, counting the verification when Argon2 actually runs (a
/// hash that does not parse is refused without any work).
pub async fn verify(metrics: &Metrics, password: String, phc: String) -> bool {
    if crypto::is_password_hash(&phc) {
        metrics.count_password_verification();
    }
    run_argon2(move || crypto::verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A hash to verify against when the email is unknown or its account has no password, so the
/// response time reveals neither (see [`password_check`]).
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crypto::hash_password("decoy password").unwrap_or_default())
}

/// What a password sign-in verifies the presented password against.
#[derive(Debug, PartialEq, Eq)]
pub struct PasswordCheck<'a> {
    /// The PHC string Argon2 runs on.
    pub phc: &'a str,
    /// Whether a match signs in (never for the decoy).
    pub can_sign_in: bool,
}

/// The account's own hash when it has a usable one, else the decoy. Unknown addresses,
/// passwordless accounts (whose stored hash is no PHC string) and wrong passwords thus all
/// cost one Argon2 verification, so the answer's timing reveals neither whether an account
/// exists nor whether it has a password.
pub fn password_check<'a>(stored_hash: Option<&'a str>, decoy: &'a str) -> PasswordCheck<'a> {
    match stored_hash.filter(|hash| crypto::is_password_hash(hash)) {
        Some(phc) => PasswordCheck {
            phc,
            can_sign_in: true,
        },
        None => PasswordCheck {
            phc: decoy,
            can_sign_in: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::domain::fixture;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_argon2_computations_run_at_once_than_there_are_cores() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let metrics = Metrics::new();
        let phc = crypto::hash_password("Corr3ct-Horse").expect("hash");
        let checks = (0..cores * 3).map(|_| verify(&metrics, "wrong".into(), phc.clone()));
        let results = futures::future::join_all(checks).await;
        assert!(results.iter().all(|matched| !matched));
        let peak = PEAK_RUNNING.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&peak),
            "{peak} Argon2 computations ran at once on {cores} cores"
        );
    }

    #[test]
    fn password_rules_count_character_classes() {
        let rules = PasswordRules {
            min_length: 8,
            required_classes: 3,
        };
        assert!(rules.accepts("Passw0rd"));
        assert!(!rules.accepts("password1"));
        assert!(!rules.accepts("Pw0!"));
    }

    #[test]
    fn a_password_longer_than_256_characters_is_refused() {
        let rules = PasswordRules {
            min_length: 8,
            required_classes: 1,
        };
        assert!(rules.accepts(&"a".repeat(256)));
        assert!(!rules.accepts(&"a".repeat(257)));
    }

    #[test]
    fn the_tenant_policy_sets_the_rules_and_the_crd_defaults_fill_in() {
        let defaults = PasswordRules::of(&fixture::tenant_with("t-1", serde_json::json!({})));
        assert_eq!((defaults.min_length, defaults.required_classes), (8, 3));
        let strict = PasswordRules::of(&fixture::tenant_with(
            "t-1",
            serde_json::json!({"passwordPolicy": {"minLength": 12, "requiredCharacterClasses": 4}}),
        ));
        assert!(!strict.accepts("Passw0rd!"));
        assert!(strict.accepts("Passw0rd!long"));
    }

    #[test]
    fn sign_in_verifies_against_the_decoy_unless_the_account_has_a_password() {
        let decoy = crypto::hash_password("decoy").expect("hash");
        let own = crypto::hash_password("Corr3ct-Horse").expect("hash");
        let on_decoy = PasswordCheck {
            phc: &decoy,
            can_sign_in: false,
        };
        assert_eq!(password_check(None, &decoy), on_decoy, "unknown address");
        // "!" is what passwordless sign-up stores; "" what an older or imported row may hold.
        for passwordless in ["!", ""] {
            assert_eq!(password_check(Some(passwordless), &decoy), on_decoy);
        }
        assert_eq!(
            password_check(Some(&own), &decoy),
            PasswordCheck {
                phc: &own,
                can_sign_in: true
            }
        );
    }
}
