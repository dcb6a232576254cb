//! Storage and signing-key behaviour of the identity runtime against a real database: a
//! temporary SQLite file, or PostgreSQL when `CIAM_TEST_DATABASE_URL` names one.

use std::sync::Arc;

use ciam_operator::contract::owner::{Claim, Owner};
use ciam_operator::runtime::crypto::{KeyEncryptionKey, SigningAlgorithm};
use ciam_operator::runtime::store::{
    self, CodeRecord, GrantRecord, Kind, Redemption, Store, UserRecord, key_state,
};
use ciam_operator::runtime::tokens::{AccessTokenClaims, Keyring, TokenError};

struct TestDatabase {
    url: String,
    file: Option<std::path::PathBuf>,
}

impl TestDatabase {
    fn new() -> Self {
        match std::env::var("CIAM_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self { url, file: None },
            _ => {
                let file =
                    std::env::temp_dir().join(format!("ciam-store-{}.db", uuid::Uuid::new_v4()));
                Self {
                    url: format!("sqlite://{}", file.display()),
                    file: Some(file),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

async fn tenant(store: &Store) -> String {
    let subdomain = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (document, created) = store
        .put_tenant(
            &subdomain,
            None,
            r#"{"displayName":"T","countryCode":"US"}"#,
            &Claim::default(),
        )
        .await
        .expect("create tenant");
    assert!(created);
    document.tenant_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_tenant_ids_are_immutable() {
    let database = TestDatabase::new();
    let store = Store::connect(&database.url).await.expect("connect");
    let again = Store::connect(&database.url)
        .await
        .expect("connect a second time");
    again.ping().await.expect("ping");
    let subdomain = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let id = uuid::Uuid::new_v4().to_string();
    let (first, created) = store
        .put_tenant(&subdomain, Some(&id), "{}", &Claim::default())
        .await
        .expect("create");
    assert!(created);
    assert_eq!(first.tenant_id, id);
    let (second, created) = store
        .put_tenant(&subdomain, None, "{}", &Claim::default())
        .await
        .expect("update");
    assert!(!created);
    assert_eq!(second.tenant_id, id);
    let other = uuid::Uuid::new_v4().to_string();
    assert!(matches!(
        store
            .put_tenant(&subdomain, Some(&other), "{}", &Claim::default())
            .await,
        Err(store::StoreError::Conflict(_))
    ));
    assert!(
        store
            .delete_tenant(&subdomain, &Claim::default())
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_tenant(&subdomain, &Claim::default())
            .await
            .expect("delete again")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_refresh_tokens_redeem_exactly_once() {
    let database = TestDatabase::new();
    let store = Store::connect(&database.url).await.expect("connect");
    let tenant_id = tenant(&store).await;
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        email: "ann@example.com".into(),
        password_hash: "$argon2id$placeholder".into(),
        display_name: None,
        failed_sign_ins: 0,
        locked_until: 0,
        attributes: [("plan".to_string(), serde_json::json!("gold"))].into(),
        consents: [("terms".to_string(), 1_700_000_000)].into(),
    };
    store.create_user(&tenant_id, &user).await.expect("user");
    let stored = store
        .user_by_email(&tenant_id, "ann@example.com")
        .await
        .expect("read user")
        .expect("user exists");
    assert_eq!(stored.attributes, user.attributes);
    assert_eq!(stored.consents, user.consents);
    assert!(matches!(
        store
            .create_user(
                &tenant_id,
                &UserRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    ..user.clone()
                }
            )
            .await,
        Err(store::StoreError::Conflict(_))
    ));
    let grant = GrantRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.clone(),
        client_id: "client".into(),
        user_id: user.id.clone(),
        session_id: None,
        scope: "openid".into(),
        auth_time: store::now(),
        revoked_at: None,
    };
    let code = CodeRecord {
        grant_id: grant.id.clone(),
        redirect_uri: "https://app.example.com/cb".into(),
        code_challenge: None,
        nonce: Some("n".into()),
        expires_at: store::now() + 60,
    };
    // Digests of their own: the database may be shared with earlier runs.
    let (code_digest, refresh_digest) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    store
        .create_grant_with_code(&grant, &code_digest, &code)
        .await
        .expect("grant");
    assert!(matches!(
        store.redeem_code(&code_digest).await,
        Ok(Redemption::Redeemed {
            grant_revoked_at: None,
            ..
        })
    ));
    assert!(matches!(
        store.redeem_code(&code_digest).await,
        Ok(Redemption::Replayed(_))
    ));
    assert!(matches!(
        store.redeem_code("other").await,
        Ok(Redemption::Unknown)
    ));

    store
        .create_refresh_token(&grant.id, &refresh_digest, store::now() + 60)
        .await
        .expect("refresh token");
    assert!(matches!(
        store.redeem_refresh_token(&refresh_digest).await,
        Ok(Redemption::Redeemed {
            grant_revoked_at: None,
            ..
        })
    ));
    assert!(matches!(
        store.redeem_refresh_token(&refresh_digest).await,
        Ok(Redemption::Replayed(_))
    ));
    store.revoke_grant(&grant.id).await.expect("revoke");
    let revoked = store.grant(&grant.id).await.expect("read").expect("exists");
    assert!(revoked.revoked_at.is_some());
    // A value spent after its grant was revoked says so, read in the statement that spent it.
    let late_digest = uuid::Uuid::new_v4().to_string();
    store
        .create_refresh_token(&grant.id, &late_digest, store::now() + 60)
        .await
        .expect("refresh token");
    assert!(matches!(
        store.redeem_refresh_token(&late_digest).await,
        Ok(Redemption::Redeemed {
            grant_revoked_at: Some(_),
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_publishes_the_next_key_first_and_keeps_the_old_one() {
    let database = TestDatabase::new();
    let store = Store::connect(&database.url).await.expect("connect");
    let tenant_id = tenant(&store).await;
    let kek = Arc::new(KeyEncryptionKey::from_file_contents(&[9u8; 32]).expect("key"));
    let keyring = Keyring::new(kek);
    keyring
        .ensure_keys(&store, &tenant_id, SigningAlgorithm::Es256)
        .await
        .expect("keys");
    keyring
        .ensure_keys(&store, &tenant_id, SigningAlgorithm::Es256)
        .await
        .expect("keys are not duplicated");
    let keys = store.signing_keys(&tenant_id).await.expect("keys");
    assert_eq!(keys.len(), 2);
    let next = keys
        .iter()
        .find(|key| key.state == key_state::NEXT)
        .expect("next key")
        .kid
        .clone();

    let issuer = "https://id.example.com/t/v2.0";
    let claims = serde_json::json!({
        "iss": issuer, "sub": "s", "aud": "a", "exp": store::now() + 60, "iat": store::now(),
        "nbf": store::now(), "jti": "j", "tid": tenant_id, "oid": "s", "ver": "2.0", "azp": "a",
    });
    let before = keyring
        .sign(&store, &tenant_id, &claims, "at+jwt")
        .await
        .expect("sign");
    keyring
        .rotate(&store, &tenant_id, SigningAlgorithm::Es256)
        .await
        .expect("rotate");
    let keys = store.signing_keys(&tenant_id).await.expect("keys");
    assert_eq!(keys.len(), 3);
    let current = keys
        .iter()
        .find(|key| key.state == key_state::CURRENT)
        .expect("current key");
    assert_eq!(current.kid, next, "the published next key becomes current");
    assert_eq!(
        keys.iter()
            .filter(|key| key.state == key_state::RETIRED)
            .count(),
        1
    );
    let verified: AccessTokenClaims = keyring
        .verify(&store, &tenant_id, issuer, &before, true)
        .await
        .expect("a token signed before the rotation still verifies");
    assert_eq!(verified.sub, "s");
    assert!(
        keyring
            .verify::<AccessTokenClaims>(&store, &tenant_id, "https://other/v2.0", &before, true)
            .await
            .is_err(),
        "the issuer is checked"
    );
    let jwks = keyring.jwks(&store, &tenant_id).await.expect("jwks");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(3));
    assert!(
        !jwks.to_string().contains("\"d\""),
        "no private key material"
    );
    // The start-up check: the sealing key opens every stored key, another one opens none.
    assert!(keyring.check_sealed_keys(&store).await.expect("check") >= 3);
    let foreign = Keyring::new(Arc::new(
        KeyEncryptionKey::from_file_contents(&[7u8; 32]).expect("key"),
    ));
    assert!(matches!(
        foreign.check_sealed_keys(&store).await,
        Err(TokenError::Unsealable { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passcode_challenges_are_spent_once_and_failures_lock_per_subject() {
    let database = TestDatabase::new();
    let store = Store::connect(&database.url).await.expect("connect");
    let tenant_id = tenant(&store).await;
    let now = store::now();
    let challenge = store::ChallengeRecord {
        id: uuid::Uuid::new_v4().to_string(),
        request_id: "r1".into(),
        purpose: "sign_in".into(),
        email: "ann@example.com".into(),
        code_digest: "digest-1".into(),
        payload: "user-1".into(),
        attempts: 0,
        sent_at: now,
        expires_at: now + 600,
        used_at: None,
    };
    store
        .create_challenge(&tenant_id, &challenge)
        .await
        .expect("create challenge");
    // Each try is taken before the code is checked; simultaneous tries never exceed the limit.
    let tries = futures::future::join_all(
        (0..4).map(|_| store.take_challenge_attempt(&challenge.id, 3, now)),
    )
    .await;
    assert_eq!(
        tries
            .into_iter()
            .map(|taken| taken.expect("take a try"))
            .filter(|taken| *taken)
            .count(),
        3,
        "three tries allowed, however many arrive at once"
    );
    assert!(
        !store
            .take_challenge_attempt(&challenge.id, 5, now + 601)
            .await
            .expect("take a try"),
        "an expired challenge has no tries left"
    );
    store
        .renew_challenge(&challenge.id, "digest-2", now + 1, now + 700)
        .await
        .expect("renew");
    let renewed = store
        .challenge(&tenant_id, &challenge.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (renewed.code_digest.as_str(), renewed.attempts),
        ("digest-2", 0)
    );
    assert!(
        store
            .challenge("another-tenant", &challenge.id)
            .await
            .expect("read")
            .is_none(),
        "a challenge belongs to its tenant"
    );
    // Two concurrent redemptions: exactly one wins.
    let (first, second) = tokio::join!(
        store.consume_challenge(&challenge.id),
        store.consume_challenge(&challenge.id)
    );
    assert_eq!(
        [first.expect("first"), second.expect("second")]
            .iter()
            .filter(|won| **won)
            .count(),
        1
    );

    let subject = "email:nobody@example.com";
    for _ in 0..2 {
        assert!(
            !store
                .record_failure(&tenant_id, subject, 3, now + 60)
                .await
                .expect("failure")
        );
    }
    assert!(
        store
            .record_failure(&tenant_id, subject, 3, now + 60)
            .await
            .expect("failure"),
        "the third failure locks"
    );
    assert_eq!(
        store.locked_until(&tenant_id, subject).await.expect("read"),
        now + 60
    );
    store
        .clear_failures(&tenant_id, subject)
        .await
        .expect("clear");
    assert_eq!(
        store.locked_until(&tenant_id, subject).await.expect("read"),
        0
    );
}

fn claim(namespace: &str, uid: &str) -> Claim {
    Claim::by(Owner {
        kind: "AppRegistration".into(),
        namespace: namespace.into(),
        name: "web".into(),
        uid: uid.into(),
    })
}

fn is_owned_by(result: Result<impl std::fmt::Debug, store::StoreError>, uid: &str) -> bool {
    matches!(result, Err(store::StoreError::OwnedByAnother { owner, .. }) if owner.uid == uid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_of_a_client_may_replace_or_delete_it() {
    let database = TestDatabase::new();
    let store = Store::connect(&database.url).await.expect("connect");
    let tenant_id = tenant(&store).await;
    let client_id = uuid::Uuid::new_v4().to_string();
    let (victim, thief) = (claim("shop", "victim-uid"), claim("attacker", "thief-uid"));
    let put = |spec: &'static str, claim: Claim| {
        let (store, tenant_id, client_id) = (store.clone(), tenant_id.clone(), client_id.clone());
        async move {
            store
                .put_document(Kind::Client, &tenant_id, &client_id, spec, None, &claim)
                .await
        }
    };
    let (created, _) = put(r#"{"v":1}"#, victim.clone()).await.expect("create");
    assert_eq!(created.owner, victim.owner);

    assert!(is_owned_by(
        put(r#"{"v":"thief"}"#, thief.clone()).await,
        "victim-uid"
    ));
    assert!(is_owned_by(
        put(r#"{"v":"anonymous"}"#, Claim::default()).await,
        "victim-uid"
    ));
    assert!(is_owned_by(
        store
            .delete_document(Kind::Client, &tenant_id, &client_id, &thief)
            .await,
        "victim-uid"
    ));
    let kept = store
        .document(Kind::Client, &tenant_id, &client_id)
        .await
        .expect("read")
        .expect("still there");
    assert_eq!(kept.spec, r#"{"v":1}"#, "the thief changed nothing");

    let (updated, created) = put(r#"{"v":2}"#, victim.clone())
        .await
        .expect("owner updates");
    assert!(!created);
    assert_eq!(updated.spec, r#"{"v":2}"#);

    // A successor names the vanished owner it replaces: a compare-and-swap on the owner.
    let successor = Claim {
        replaces: Some("victim-uid".into()),
        ..claim("shop", "successor-uid")
    };
    let (taken, _) = put(r#"{"v":3}"#, successor.clone())
        .await
        .expect("take over");
    assert_eq!(taken.owner, successor.owner);
    assert!(is_owned_by(
        put(r#"{"v":4}"#, victim.clone()).await,
        "successor-uid"
    ));
    assert!(
        store
            .delete_document(Kind::Client, &tenant_id, &client_id, &successor)
            .await
            .expect("owner deletes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unowned_object_is_claimed_by_its_first_owned_write() {
    let database = TestDatabase::new();
    let store = Store::connect(&database.url).await.expect("connect");
    let subdomain = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let (legacy, _) = store
        .put_tenant(&subdomain, None, "{}", &Claim::default())
        .await
        .expect("create without owner");
    assert_eq!(legacy.owner, None);
    let owner = claim("shop", "tenant-uid");
    let (claimed, _) = store
        .put_tenant(&subdomain, None, "{}", &owner)
        .await
        .expect("claim");
    assert_eq!(claimed.owner, owner.owner);
    assert!(is_owned_by(
        store
            .put_tenant(&subdomain, None, "{}", &claim("x", "other"))
            .await,
        "tenant-uid"
    ));
    assert!(is_owned_by(
        store.delete_tenant(&subdomain, &claim("x", "other")).await,
        "tenant-uid"
    ));
    for kind in [Kind::UserFlow, Kind::Branding] {
        let key = if matches!(kind, Kind::Branding) {
            claimed.tenant_id.clone()
        } else {
            "shop.sign-in".to_string()
        };
        store
            .put_document(kind, &claimed.tenant_id, &key, "{}", None, &owner)
            .await
            .expect("owner writes");
        assert!(is_owned_by(
            store
                .put_document(
                    kind,
                    &claimed.tenant_id,
                    &key,
                    "{}",
                    None,
                    &claim("x", "other")
                )
                .await,
            "tenant-uid"
        ));
    }
    assert!(
        store
            .delete_tenant(&subdomain, &owner)
            .await
            .expect("owner deletes")
    );
}
