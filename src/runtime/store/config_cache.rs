//! Configuration served from memory: tenants, clients, user flows, branding, SMTP settings and
//! signing keys, read from the database once and kept (parsed where the hot paths parse them)
//! until a configuration write invalidates them.
//!
//! Invalidation across replicas: every configuration write increments the `config_version`
//! row in its own transaction. A write through this process drops the copy at once; every
//! process polls the row ([`Store::refresh_config`], every `--config-refresh-interval-ms`) and
//! drops its copy when the value changed, so a write through another replica is visible within
//! one interval plus one query. Accounts, sessions, grants, throttles and passcodes are never
//! cached: their checks stay exact across replicas.
//!
//! A read that races a write cannot put the old value back: each fill remembers the
//! generation it started in and is discarded when the copy was dropped meanwhile.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{Document, Kind, SigningKeyRecord, Store, StoreError, now, query_error};
use crate::contract::{ClientSpec, TenantSpec, UserFlowSpec};

/// Entries per table before the table is emptied: unknown names are remembered as absent, and
/// a caller inventing names must not grow memory without bound.
const MAX_ENTRIES: usize = 50_000;

/// How often one tenant's keys may be reloaded because a token names a key ID not held.
pub const UNKNOWN_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// A tenant as stored, with its spec parsed.
#[derive(Debug)]
pub struct TenantConfig {
    /// The stored row.
    pub document: Document,
    /// The parsed spec.
    pub spec: Arc<TenantSpec>,
}

/// A tenant's published signing keys, valid until the first of them leaves the JWKS.
#[derive(Clone, Debug)]
struct PublishedKeys {
    keys: Arc<Vec<SigningKeyRecord>>,
    valid_until: Option<i64>,
}

type Table<K, V> = RwLock<HashMap<K, V>>;

/// A tenant's user flows by name, parsed, ordered by name.
pub type UserFlows = Arc<Vec<(String, Arc<UserFlowSpec>)>>;

/// The in-memory copy shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub(super) struct ConfigCache {
    generation: AtomicU64,
    tenants: Table<String, Option<Document>>,
    tenant_configs: Table<String, Option<Arc<TenantConfig>>>,
    documents: Table<(Kind, String, String), Option<Document>>,
    clients: Table<(String, String), Option<Arc<ClientSpec>>>,
    lists: Table<(Kind, String), Arc<Vec<Document>>>,
    flows: Table<String, UserFlows>,
    by_identifier_uri: Table<(String, String), Option<Document>>,
    keys: Table<String, PublishedKeys>,
    forced_key_reloads: Mutex<HashMap<String, Instant>>,
    seen_version: Mutex<Option<i64>>,
    poll_failures: AtomicU32,
}

fn lookup<K: Hash + Eq, V: Clone>(table: &Table<K, V>, key: &K) -> Option<V> {
    table.read().ok().and_then(|map| map.get(key).cloned())
}

impl ConfigCache {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value` unless the copy was dropped since `generation` was read.
    fn fill<K: Hash + Eq, V>(&self, table: &Table<K, V>, generation: u64, key: K, value: V) {
        let Ok(mut map) = table.write() else {
            return;
        };
        if self.generation() != generation {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, value);
    }

    /// Drops everything. The generation moves first, so a fill in flight is discarded.
    pub(super) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        fn empty<K, V>(table: &Table<K, V>) {
            if let Ok(mut map) = table.write() {
                map.clear();
            }
        }
        empty(&self.tenants);
        empty(&self.tenant_configs);
        empty(&self.documents);
        empty(&self.clients);
        empty(&self.lists);
        empty(&self.flows);
        empty(&self.by_identifier_uri);
        empty(&self.keys);
    }
}

fn corrupt(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |error| StoreError::Corrupt {
        what,
        reason: error.to_string(),
    }
}

impl Store {
    /// Finds a tenant by subdomain.
    ///
    /// # Errors
    /// A failed query.
    pub async fn tenant(&self, subdomain: &str) -> Result<Option<Document>, StoreError> {
        let cache = &self.cache;
        if let Some(found) = lookup(&cache.tenants, &subdomain.to_string()) {
            return Ok(found);
        }
        let generation = cache.generation();
        let loaded = self.load_tenant(subdomain).await?;
        cache.fill(
            &cache.tenants,
            generation,
            subdomain.to_string(),
            loaded.clone(),
        );
        Ok(loaded)
    }

    /// Finds a tenant by subdomain with its spec parsed.
    ///
    /// # Errors
    /// A failed query or a stored spec that no longer parses.
    pub async fn tenant_config(
        &self,
        subdomain: &str,
    ) -> Result<Option<Arc<TenantConfig>>, StoreError> {
        let cache = &self.cache;
        if let Some(found) = lookup(&cache.tenant_configs, &subdomain.to_string()) {
            return Ok(found);
        }
        let generation = cache.generation();
        let loaded = match self.tenant(subdomain).await? {
            Some(document) => Some(Arc::new(TenantConfig {
                spec: Arc::new(serde_json::from_str(&document.spec).map_err(corrupt("tenant"))?),
                document,
            })),
            None => None,
        };
        let key = subdomain.to_string();
        cache.fill(&cache.tenant_configs, generation, key, loaded.clone());
        Ok(loaded)
    }

    /// Reads one document of a tenant.
    ///
    /// # Errors
    /// A failed query.
    pub async fn document(
        &self,
        kind: Kind,
        tenant_id: &str,
        key: &str,
    ) -> Result<Option<Document>, StoreError> {
        let cache = &self.cache;
        let cache_key = (kind, tenant_id.to_string(), key.to_string());
        if let Some(found) = lookup(&cache.documents, &cache_key) {
            return Ok(found);
        }
        let generation = cache.generation();
        let loaded = self.load_document(kind, tenant_id, key).await?;
        cache.fill(&cache.documents, generation, cache_key, loaded.clone());
        Ok(loaded)
    }

    /// A client's registration, parsed.
    ///
    /// # Errors
    /// A failed query or a stored spec that no longer parses.
    pub async fn client_spec(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> Result<Option<Arc<ClientSpec>>, StoreError> {
        let cache = &self.cache;
        let cache_key = (tenant_id.to_string(), client_id.to_string());
        if let Some(found) = lookup(&cache.clients, &cache_key) {
            return Ok(found);
        }
        let generation = cache.generation();
        let loaded = match self
            .load_document(Kind::Client, tenant_id, client_id)
            .await?
        {
            Some(document) => Some(Arc::new(
                serde_json::from_str(&document.spec).map_err(corrupt("client"))?,
            )),
            None => None,
        };
        cache.fill(&cache.clients, generation, cache_key, loaded.clone());
        Ok(loaded)
    }

    /// Lists the documents of a tenant, ordered by key.
    ///
    /// # Errors
    /// A failed query.
    pub async fn documents(
        &self,
        kind: Kind,
        tenant_id: &str,
    ) -> Result<Vec<Document>, StoreError> {
        let cache = &self.cache;
        let cache_key = (kind, tenant_id.to_string());
        if let Some(found) = lookup(&cache.lists, &cache_key) {
            return Ok(found.as_ref().clone());
        }
        let generation = cache.generation();
        let loaded = Arc::new(self.load_documents(kind, tenant_id).await?);
        cache.fill(&cache.lists, generation, cache_key, loaded.clone());
        Ok(loaded.as_ref().clone())
    }

    /// The tenant's user flows, parsed, ordered by name.
    ///
    /// # Errors
    /// A failed query or a stored flow that no longer parses.
    pub async fn user_flows(&self, tenant_id: &str) -> Result<UserFlows, StoreError> {
        let cache = &self.cache;
        if let Some(found) = lookup(&cache.flows, &tenant_id.to_string()) {
            return Ok(found);
        }
        let generation = cache.generation();
        let loaded: UserFlows = Arc::new(
            self.documents(Kind::UserFlow, tenant_id)
                .await?
                .into_iter()
                .map(|document| {
                    let spec =
                        serde_json::from_str(&document.spec).map_err(corrupt("user flow"))?;
                    Ok((document.key, Arc::new(spec)))
                })
                .collect::<Result<_, StoreError>>()?,
        );
        cache.fill(
            &cache.flows,
            generation,
            tenant_id.to_string(),
            loaded.clone(),
        );
        Ok(loaded)
    }

    /// Finds a client of a tenant by its exposed API's identifier URI.
    ///
    /// # Errors
    /// A failed query.
    pub async fn client_by_identifier_uri(
        &self,
        tenant_id: &str,
        identifier_uri: &str,
    ) -> Result<Option<Document>, StoreError> {
        let cache = &self.cache;
        let cache_key = (tenant_id.to_string(), identifier_uri.to_string());
        if let Some(found) = lookup(&cache.by_identifier_uri, &cache_key) {
            return Ok(found);
        }
        let generation = cache.generation();
        let loaded = self
            .load_client_by_identifier_uri(tenant_id, identifier_uri)
            .await?;
        cache.fill(
            &cache.by_identifier_uri,
            generation,
            cache_key,
            loaded.clone(),
        );
        Ok(loaded)
    }

    /// The tenant's signing keys that are still published (next, current and retired keys
    /// not yet past `retire_after`).
    ///
    /// # Errors
    /// A failed query.
    pub async fn signing_keys(&self, tenant_id: &str) -> Result<Vec<SigningKeyRecord>, StoreError> {
        Ok(self.published_keys(tenant_id).await?.as_ref().clone())
    }

    /// [`Store::signing_keys`], shared rather than copied.
    ///
    /// # Errors
    /// A failed query.
    pub async fn published_keys(
        &self,
        tenant_id: &str,
    ) -> Result<Arc<Vec<SigningKeyRecord>>, StoreError> {
        let cache = &self.cache;
        let now = now();
        if let Some(found) = lookup(&cache.keys, &tenant_id.to_string())
            && found.valid_until.is_none_or(|until| now < until)
        {
            return Ok(found.keys);
        }
        let generation = cache.generation();
        let keys = self.load_signing_keys(tenant_id, now).await?;
        let valid_until = keys.iter().filter_map(|key| key.retire_after).min();
        let keys = Arc::new(keys);
        let entry = PublishedKeys {
            keys: keys.clone(),
            valid_until,
        };
        cache.fill(&cache.keys, generation, tenant_id.to_string(), entry);
        Ok(keys)
    }

    /// The tenant's published keys read again from the database, for a token naming a key ID
    /// this process does not hold (a rotation through another replica not yet polled). At
    /// most once per tenant per [`UNKNOWN_KEY_RELOAD_INTERVAL`], so invented key IDs cannot
    /// send every request to the database; otherwise the keys held.
    ///
    /// # Errors
    /// A failed query.
    pub async fn reload_published_keys(
        &self,
        tenant_id: &str,
    ) -> Result<Arc<Vec<SigningKeyRecord>>, StoreError> {
        let cache = &self.cache;
        let allowed = cache.forced_key_reloads.lock().is_ok_and(|mut reloads| {
            let now = Instant::now();
            let recent = reloads
                .get(tenant_id)
                .is_some_and(|at| now.duration_since(*at) < UNKNOWN_KEY_RELOAD_INTERVAL);
            if !recent {
                reloads.retain(|_, at| now.duration_since(*at) < UNKNOWN_KEY_RELOAD_INTERVAL);
                reloads.insert(tenant_id.to_string(), now);
            }
            !recent
        });
        if allowed && let Ok(mut keys) = cache.keys.write() {
            keys.remove(tenant_id);
        }
        self.published_keys(tenant_id).await
    }

    /// Increments the configuration version inside a write's transaction.
    pub(super) async fn bump_config_version(
        connection: &mut sqlx::AnyConnection,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE config_version SET version = version + 1 WHERE id = 1")
            .execute(connection)
            .await
            .map_err(query_error("record a configuration change"))?;
        Ok(())
    }

    /// Drops this process's copy after a configuration write committed.
    pub(super) fn config_written(&self) {
        self.cache.clear();
    }

    /// Polls the configuration version once and drops the copy when another writer changed
    /// it. Returns whether it did. A failed poll keeps the copy and counts the failure (see
    /// [`Store::config_poll_failures`]).
    ///
    /// # Errors
    /// A failed query.
    pub async fn refresh_config(&self) -> Result<bool, StoreError> {
        let polled =
            sqlx::query_scalar::<_, i64>("SELECT version FROM config_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(query_error("read the configuration version"));
        let version = match polled {
            Ok(version) => version,
            Err(error) => {
                self.cache.poll_failures.fetch_add(1, Ordering::Relaxed);
                return Err(error);
            }
        };
        self.cache.poll_failures.store(0, Ordering::Relaxed);
        let Ok(mut seen) = self.cache.seen_version.lock() else {
            return Ok(false);
        };
        let changed = seen.is_some_and(|seen| seen != version);
        *seen = Some(version);
        if changed {
            self.cache.clear();
        }
        Ok(changed)
    }

    /// Consecutive failed polls of the configuration version (0 when the last one answered).
    pub fn config_poll_failures(&self) -> u32 {
        self.cache.poll_failures.load(Ordering::Relaxed)
    }

    /// Polls the configuration version every `interval` until the process ends; a failure
    /// keeps serving the copy and is logged once until a poll succeeds again.
    pub fn spawn_config_refresh(&self, interval: Duration) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.refresh_config().await {
                    Ok(_) => {}
                    Err(error) if store.config_poll_failures() == 1 => {
                        tracing::warn!(error = %error, "configuration version poll failed; serving the configuration held in memory");
                    }
                    Err(_) => {}
                }
            }
        });
    }
}

#[cfg(test)]
#[path = "config_cache_tests.rs"]
mod tests;
