//! Test fixture of the domain: a fresh in-memory SQLite store with one tenant.

use std::net::IpAddr;

use super::hosted::Hosted;
use super::throttles::Throttles;
use crate::contract::owner::Claim;
use crate::runtime::Tenant;
use crate::runtime::metrics::Metrics;
use crate::runtime::store::{Store, UserRecord};

/// Passcode lifetime of the fixture (10 minutes).
pub const PASSCODE_LIFETIME_SECONDS: i64 = 600;

/// Resend cool-down of the fixture.
pub const PASSCODE_RESEND_SECONDS: i64 = 30;

/// A tenant whose spec is `{"displayName":"T","countryCode":"US"}` plus `extra`.
pub fn tenant_with(id: &str, extra: serde_json::Value) -> Tenant {
    let mut spec = serde_json::json!({"displayName": "T", "countryCode": "US"});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    Tenant {
        id: id.to_string(),
        subdomain: "t".to_string(),
        spec: std::sync::Arc::new(serde_json::from_value(spec).expect("tenant spec")),
    }
}

/// A fresh migrated store on a named shared-cache memory database, so every connection of
/// the pool sees the same one (plain `sqlite::memory:` gives each connection its own).
pub(crate) async fn memory_store() -> Store {
    let url = format!(
        "sqlite:file:domain-{}?mode=memory&cache=shared",
        uuid::Uuid::new_v4().simple()
    );
    Store::connect(&url).await.expect("open an in-memory store")
}

/// A store with one tenant, and what the flows need beside it.
pub struct Fixture {
    pub store: Store,
    pub tenant: Tenant,
    pub metrics: Metrics,
    pub passcode_key: [u8; 32],
}

impl Fixture {
    /// A fresh store whose tenant has the spec `extra` adds to the minimal one.
    pub async fn with_spec(extra: serde_json::Value) -> Self {
        let store = memory_store().await;
        let template = tenant_with("", extra);
        let spec = serde_json::to_string(&template.spec).expect("spec");
        let (document, _) = store
            .put_tenant("t", None, &spec, &Claim::default())
            .await
            .expect("tenant");
        Self {
            store,
            tenant: Tenant {
                id: document.tenant_id,
                ..template
            },
            metrics: Metrics::new(),
            passcode_key: [7; 32],
        }
    }

    /// A store whose tenant has the defaults of the CRD.
    pub async fn new() -> Self {
        Self::with_spec(serde_json::json!({})).await
    }

    /// Creates an account with `email` and the given stored password hash.
    pub async fn user(&self, email: &str, password_hash: &str) -> UserRecord {
        let user = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            email: email.to_string(),
            password_hash: password_hash.to_string(),
            display_name: None,
            failed_sign_ins: 0,
            locked_until: 0,
            attributes: Default::default(),
            consents: Default::default(),
        };
        self.store
            .create_user(&self.tenant.id, &user)
            .await
            .expect("create user");
        user
    }

    /// The throttles of a browser at `ip` (or without IP counting).
    pub fn throttles(&self, ip: Option<IpAddr>) -> Throttles<'_> {
        Throttles {
            store: &self.store,
            tenant: &self.tenant,
            ip,
        }
    }

    /// What the flows use, with the fixture's passcode timings.
    pub fn hosted(&self) -> Hosted<'_> {
        Hosted {
            store: &self.store,
            metrics: &self.metrics,
            passcode_key: &self.passcode_key,
            passcode_lifetime_seconds: PASSCODE_LIFETIME_SECONDS,
            passcode_resend_seconds: PASSCODE_RESEND_SECONDS,
        }
    }
}
