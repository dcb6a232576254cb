//! Tests of the configuration served from memory: writes through this store and through a
//! second store on the same database (another replica), deletions, rotation, keys leaving
//! the JWKS on time, and the bounded reload for unknown key IDs.

use std::time::Duration;

use super::*;
use crate::contract::owner::Claim;
use crate::runtime::store::key_state;
use crate::runtime::store::test_support::{self, unique_id, unique_subdomain};

fn client_json(display_name: &str) -> String {
    serde_json::json!({"displayName": display_name, "type": "daemon"}).to_string()
}

async fn put_client(store: &Store, tenant_id: &str, client_id: &str, display_name: &str) {
    store
        .put_document(
            Kind::Client,
            tenant_id,
            client_id,
            &client_json(display_name),
            None,
            &Claim::default(),
        )
        .await
        .expect("put a client");
}

async fn display_name(store: &Store, tenant_id: &str, client_id: &str) -> Option<String> {
    store
        .client_spec(tenant_id, client_id)
        .await
        .expect("read a client")
        .map(|spec| spec.display_name.clone())
}

fn key(state: &str, retire_after: Option<i64>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: unique_id(),
        algorithm: "ES256".into(),
        state: state.to_string(),
        sealed_private_key: "sealed".into(),
        public_jwk: r#"{"kty":"EC"}"#.into(),
        created_at: now(),
        retire_after,
    }
}

fn kids(keys: &[SigningKeyRecord]) -> Vec<&str> {
    keys.iter().map(|key| key.kid.as_str()).collect()
}

#[tokio::test]
async fn a_write_through_this_store_is_visible_at_once() {
    let store = test_support::open().await;
    let tenant_id = test_support::tenant(&store).await;
    let client_id = unique_id();
    assert_eq!(display_name(&store, &tenant_id, &client_id).await, None);
    put_client(&store, &tenant_id, &client_id, "first").await;
    assert_eq!(
        display_name(&store, &tenant_id, &client_id)
            .await
            .as_deref(),
        Some("first"),
        "an absent client remembered as absent appears with its write"
    );

    put_client(&store, &tenant_id, &client_id, "second").await;
    let deleted = store
        .delete_document(Kind::Client, &tenant_id, &client_id, &Claim::default())
        .await
        .expect("delete");

    assert!(deleted);
    assert_eq!(display_name(&store, &tenant_id, &client_id).await, None);
}

#[tokio::test]
async fn a_write_through_another_replica_is_visible_after_the_poll() {
    let store = test_support::open().await;
    let replica = store.replica().await;
    let tenant_id = test_support::tenant(&store).await;
    let client_id = unique_id();
    put_client(&store, &tenant_id, &client_id, "first").await;
    assert_eq!(
        display_name(&store, &tenant_id, &client_id)
            .await
            .as_deref(),
        Some("first")
    );

    put_client(&replica, &tenant_id, &client_id, "second").await;
    let held = display_name(&store, &tenant_id, &client_id).await;
    let changed = store.refresh_config().await.expect("poll");
    let after_poll = display_name(&store, &tenant_id, &client_id).await;

    assert_eq!(
        held.as_deref(),
        Some("first"),
        "served from memory until the poll"
    );
    assert!(changed);
    assert_eq!(after_poll.as_deref(), Some("second"));
    assert!(!store.refresh_config().await.expect("poll again"));
}

#[tokio::test]
async fn a_client_or_tenant_deleted_through_another_replica_stops_working_after_the_poll() {
    let store = test_support::open().await;
    let replica = store.replica().await;
    let subdomain = unique_subdomain();
    let (tenant, _) = store
        .put_tenant(
            &subdomain,
            None,
            r#"{"displayName":"T","countryCode":"US"}"#,
            &Claim::default(),
        )
        .await
        .expect("tenant");
    let client_id = unique_id();
    put_client(&store, &tenant.tenant_id, &client_id, "daemon").await;
    assert!(
        store
            .tenant_config(&subdomain)
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        display_name(&store, &tenant.tenant_id, &client_id)
            .await
            .is_some()
    );

    replica
        .delete_document(
            Kind::Client,
            &tenant.tenant_id,
            &client_id,
            &Claim::default(),
        )
        .await
        .expect("delete the client");
    store.refresh_config().await.expect("poll");
    assert_eq!(
        display_name(&store, &tenant.tenant_id, &client_id).await,
        None
    );

    assert!(
        store
            .tenant_config(&subdomain)
            .await
            .expect("read")
            .is_some()
    );
    replica
        .delete_tenant(&subdomain, &Claim::default())
        .await
        .expect("delete the tenant");
    store.refresh_config().await.expect("poll");
    assert!(
        store
            .tenant_config(&subdomain)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn the_background_poll_brings_another_replicas_write_within_its_interval() {
    let store = test_support::open().await;
    let replica = store.replica().await;
    let tenant_id = test_support::tenant(&store).await;
    let client_id = unique_id();
    put_client(&store, &tenant_id, &client_id, "first").await;
    assert!(display_name(&store, &tenant_id, &client_id).await.is_some());
    store.spawn_config_refresh(Duration::from_millis(20));

    put_client(&replica, &tenant_id, &client_id, "second").await;

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while display_name(&store, &tenant_id, &client_id)
        .await
        .as_deref()
        != Some("second")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the poll never brought the write"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_rotation_through_another_replica_is_seen_after_the_poll() {
    let store = test_support::open().await;
    let replica = store.replica().await;
    let tenant_id = test_support::tenant(&store).await;
    let (current, next) = (key(key_state::CURRENT, None), key(key_state::NEXT, None));
    store
        .insert_signing_key(&tenant_id, &current)
        .await
        .expect("current");
    store
        .insert_signing_key(&tenant_id, &next)
        .await
        .expect("next");
    let current_of = |keys: &[SigningKeyRecord]| {
        keys.iter()
            .find(|key| key.state == key_state::CURRENT)
            .map(|key| key.kid.clone())
    };
    let before = store.published_keys(&tenant_id).await.expect("keys");
    assert_eq!(current_of(&before), Some(current.kid.clone()));

    let new_next = key(key_state::NEXT, None);
    replica
        .rotate_signing_keys(&tenant_id, &new_next, now() + 600)
        .await
        .expect("rotate");
    store.refresh_config().await.expect("poll");

    let after = store.published_keys(&tenant_id).await.expect("keys");
    assert_eq!(current_of(&after), Some(next.kid.clone()));
    assert!(kids(&after).contains(&new_next.kid.as_str()));
}

#[tokio::test]
async fn an_unknown_key_id_reloads_the_keys_at_most_once_per_interval() {
    let store = test_support::open().await;
    let replica = store.replica().await;
    let tenant_id = test_support::tenant(&store).await;
    let first = key(key_state::CURRENT, None);
    store
        .insert_signing_key(&tenant_id, &first)
        .await
        .expect("first");
    assert_eq!(
        kids(&store.published_keys(&tenant_id).await.expect("keys")),
        [first.kid.as_str()]
    );

    let second = key(key_state::NEXT, None);
    replica
        .insert_signing_key(&tenant_id, &second)
        .await
        .expect("second");
    let reloaded = store
        .reload_published_keys(&tenant_id)
        .await
        .expect("reload");
    let third = key(key_state::NEXT, None);
    replica
        .insert_signing_key(&tenant_id, &third)
        .await
        .expect("third");
    let not_again = store
        .reload_published_keys(&tenant_id)
        .await
        .expect("reload");

    assert!(
        kids(&reloaded).contains(&second.kid.as_str()),
        "the first reload reads the database"
    );
    assert!(
        !kids(&not_again).contains(&third.kid.as_str()),
        "a second reload within the interval is served from memory"
    );
    tokio::time::sleep(UNKNOWN_KEY_RELOAD_INTERVAL).await;
    let later = store
        .reload_published_keys(&tenant_id)
        .await
        .expect("reload");
    assert!(kids(&later).contains(&third.kid.as_str()));
}

#[tokio::test]
async fn a_retired_key_leaves_the_published_keys_on_time_without_a_write() {
    let store = test_support::open().await;
    let tenant_id = test_support::tenant(&store).await;
    let retiring = key(key_state::RETIRED, Some(now() + 1));
    store
        .insert_signing_key(&tenant_id, &retiring)
        .await
        .expect("insert");
    assert_eq!(
        kids(&store.published_keys(&tenant_id).await.expect("keys")),
        [retiring.kid.as_str()]
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !store
        .published_keys(&tenant_id)
        .await
        .expect("keys")
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the retired key stayed published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_read_that_raced_an_invalidation_is_not_kept() {
    let cache = ConfigCache::default();
    let generation = cache.generation();
    cache.clear();
    cache.fill(&cache.tenants, generation, "stale".to_string(), None);
    assert!(lookup(&cache.tenants, &"stale".to_string()).is_none());

    let generation = cache.generation();
    cache.fill(&cache.tenants, generation, "fresh".to_string(), None);
    assert!(lookup(&cache.tenants, &"fresh".to_string()).is_some());
}

#[tokio::test]
async fn user_flows_are_parsed_once_and_follow_writes() {
    let store = test_support::open().await;
    let replica = store.replica().await;
    let tenant_id = test_support::tenant(&store).await;
    let flow = |application: &str| {
        serde_json::json!({
            "displayName": "Shop",
            "applications": [application],
            "signIn": {"methods": ["emailPassword"]},
        })
        .to_string()
    };
    let put = |store: &Store, application: &'static str| {
        let (store, tenant_id, spec) = (store.clone(), tenant_id.clone(), flow(application));
        async move {
            store
                .put_document(
                    Kind::UserFlow,
                    &tenant_id,
                    "shop",
                    &spec,
                    None,
                    &Claim::default(),
                )
                .await
                .expect("put a flow")
        }
    };
    let applications = |flows: UserFlows| -> Vec<String> {
        flows
            .iter()
            .flat_map(|(_, spec)| spec.applications.clone())
            .collect()
    };
    put(&store, "first").await;
    assert_eq!(
        applications(store.user_flows(&tenant_id).await.expect("flows")),
        ["first"]
    );

    put(&replica, "second").await;
    store.refresh_config().await.expect("poll");

    assert_eq!(
        applications(store.user_flows(&tenant_id).await.expect("flows")),
        ["second"]
    );
}
