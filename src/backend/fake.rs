//! An in-memory [`Backend`] for the controllers' unit tests: objects in maps, the owner
//! recorded on each write and checked on every later write or deletion, as the runtime does.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Backend, BackendError, Observed, ObservedTenant};
use crate::contract::owner::Claim;
use crate::contract::{BrandingDocument, ClientSpec, SmtpSpec, TenantSpec, UserFlowSpec};

/// Makes the error every call fails with, from the operation.
pub type Failure = fn(String) -> BackendError;

/// The backend's state, keyed by subdomain (and client ID or flow name).
#[derive(Default)]
pub struct FakeBackend {
    tenants: Mutex<BTreeMap<String, ObservedTenant>>,
    clients: Mutex<BTreeMap<(String, String), Observed<ClientSpec>>>,
    flows: Mutex<BTreeMap<(String, String), Observed<UserFlowSpec>>>,
    brandings: Mutex<BTreeMap<String, Observed<BrandingDocument>>>,
    smtp: Mutex<BTreeMap<String, SmtpSpec>>,
    /// Every write and deletion, as `operation object key`.
    pub writes: Mutex<Vec<String>>,
    /// When set, every call fails with this error's kind (`Unavailable` or `Rejected`).
    pub failing: Mutex<Option<Failure>>,
}

impl FakeBackend {
    /// Stores a client as someone else (or nobody) left it, bypassing owner checks.
    pub fn put_client(&self, subdomain: &str, client_id: &str, client: Observed<ClientSpec>) {
        let key = (subdomain.to_string(), client_id.to_string());
        self.clients.lock().unwrap().insert(key, client);
    }

    /// The writes made so far.
    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    fn check(&self, operation: String) -> Result<(), BackendError> {
        match *self.failing.lock().unwrap() {
            Some(fail) => Err(fail(operation)),
            None => Ok(()),
        }
    }

    /// The runtime's owner check, then the write.
    fn write<K: Ord, T>(
        &self,
        map: &Mutex<BTreeMap<K, Observed<T>>>,
        key: K,
        spec: T,
        claim: &Claim,
        operation: String,
    ) -> Result<(), BackendError> {
        self.check(operation.clone())?;
        let mut map = map.lock().unwrap();
        let recorded = map.get(&key).and_then(|observed| observed.owner.clone());
        if !claim.may_write(recorded.as_ref()) {
            return Err(owned_by_another(operation, recorded));
        }
        self.writes.lock().unwrap().push(operation);
        map.insert(
            key,
            Observed {
                spec,
                owner: claim.owner.clone(),
            },
        );
        Ok(())
    }

    fn delete<K: Ord, T>(
        &self,
        map: &Mutex<BTreeMap<K, Observed<T>>>,
        key: &K,
        claim: &Claim,
        operation: String,
    ) -> Result<(), BackendError> {
        self.check(operation.clone())?;
        let mut map = map.lock().unwrap();
        let recorded = map.get(key).and_then(|observed| observed.owner.clone());
        if !claim.may_write(recorded.as_ref()) {
            return Err(owned_by_another(operation, recorded));
        }
        self.writes.lock().unwrap().push(operation);
        map.remove(key);
        Ok(())
    }
}

fn owned_by_another(
    operation: String,
    recorded: Option<crate::contract::owner::Owner>,
) -> BackendError {
    BackendError::OwnedByAnother {
        operation,
        owner: Box::new(recorded.expect("a refused claim has a recorded owner")),
    }
}

impl Backend for FakeBackend {
    async fn apply_tenant(
        &self,
        subdomain: &str,
        tenant: &TenantSpec,
        claim: &Claim,
    ) -> Result<ObservedTenant, BackendError> {
        let operation = format!("apply tenant {subdomain}");
        self.check(operation.clone())?;
        let mut tenants = self.tenants.lock().unwrap();
        let recorded = tenants
            .get(subdomain)
            .and_then(|tenant| tenant.owner.clone());
        if !claim.may_write(recorded.as_ref()) {
            return Err(owned_by_another(operation, recorded));
        }
        self.writes.lock().unwrap().push(operation);
        let tenant_id = tenants
            .get(subdomain)
            .map(|stored| stored.tenant_id.clone())
            .or_else(|| tenant.tenant_id.clone())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let issuer = format!("https://{subdomain}.example/{tenant_id}/v2.0");
        let observed = ObservedTenant {
            tenant_id,
            authority: issuer.clone(),
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            issuer,
            spec: tenant.clone(),
            owner: claim.owner.clone(),
        };
        tenants.insert(subdomain.to_string(), observed.clone());
        Ok(observed)
    }

    async fn observe_tenant(
        &self,
        subdomain: &str,
    ) -> Result<Option<ObservedTenant>, BackendError> {
        self.check(format!("observe tenant {subdomain}"))?;
        Ok(self.tenants.lock().unwrap().get(subdomain).cloned())
    }

    async fn delete_tenant(&self, subdomain: &str, claim: &Claim) -> Result<(), BackendError> {
        let operation = format!("delete tenant {subdomain}");
        self.check(operation.clone())?;
        let mut tenants = self.tenants.lock().unwrap();
        let recorded = tenants
            .get(subdomain)
            .and_then(|tenant| tenant.owner.clone());
        if !claim.may_write(recorded.as_ref()) {
            return Err(owned_by_another(operation, recorded));
        }
        self.writes.lock().unwrap().push(operation);
        tenants.remove(subdomain);
        Ok(())
    }

    async fn apply_client(
        &self,
        subdomain: &str,
        client_id: &str,
        client: &ClientSpec,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        let key = (subdomain.to_string(), client_id.to_string());
        let operation = format!("apply client {client_id}");
        self.write(&self.clients, key, client.clone(), claim, operation)
    }

    async fn observe_client(
        &self,
        subdomain: &str,
        client_id: &str,
    ) -> Result<Option<Observed<ClientSpec>>, BackendError> {
        self.check(format!("observe client {client_id}"))?;
        let key = (subdomain.to_string(), client_id.to_string());
        Ok(self.clients.lock().unwrap().get(&key).cloned())
    }

    async fn delete_client(
        &self,
        subdomain: &str,
        client_id: &str,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        let key = (subdomain.to_string(), client_id.to_string());
        self.delete(
            &self.clients,
            &key,
            claim,
            format!("delete client {client_id}"),
        )
    }

    fn unsupported_user_flow_fields(&self, flow: &UserFlowSpec) -> Vec<(String, String)> {
        // What the embedded runtime cannot honour yet, as it says.
        crate::contract::unsupported_user_flow_fields(flow)
    }

    async fn apply_user_flow(
        &self,
        subdomain: &str,
        name: &str,
        flow: &UserFlowSpec,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        let key = (subdomain.to_string(), name.to_string());
        self.write(
            &self.flows,
            key,
            flow.clone(),
            claim,
            format!("apply userflow {name}"),
        )
    }

    async fn observe_user_flow(
        &self,
        subdomain: &str,
        name: &str,
    ) -> Result<Option<Observed<UserFlowSpec>>, BackendError> {
        self.check(format!("observe userflow {name}"))?;
        let key = (subdomain.to_string(), name.to_string());
        Ok(self.flows.lock().unwrap().get(&key).cloned())
    }

    async fn delete_user_flow(
        &self,
        subdomain: &str,
        name: &str,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        let key = (subdomain.to_string(), name.to_string());
        self.delete(&self.flows, &key, claim, format!("delete userflow {name}"))
    }

    async fn apply_branding(
        &self,
        subdomain: &str,
        branding: &BrandingDocument,
        claim: &Claim,
    ) -> Result<(), BackendError> {
        let operation = format!("apply branding {subdomain}");
        let key = subdomain.to_string();
        self.write(&self.brandings, key, branding.clone(), claim, operation)
    }

    async fn observe_branding(
        &self,
        subdomain: &str,
    ) -> Result<Option<Observed<BrandingDocument>>, BackendError> {
        self.check(format!("observe branding {subdomain}"))?;
        Ok(self.brandings.lock().unwrap().get(subdomain).cloned())
    }

    async fn apply_smtp(
        &self,
        subdomain: &str,
        smtp: &SmtpSpec,
        _password: Option<&str>,
    ) -> Result<(), BackendError> {
        let operation = format!("apply smtp {subdomain}");
        self.check(operation.clone())?;
        self.writes.lock().unwrap().push(operation);
        self.smtp
            .lock()
            .unwrap()
            .insert(subdomain.to_string(), smtp.clone());
        Ok(())
    }

    async fn observe_smtp(&self, subdomain: &str) -> Result<Option<SmtpSpec>, BackendError> {
        self.check(format!("observe smtp {subdomain}"))?;
        Ok(self.smtp.lock().unwrap().get(subdomain).cloned())
    }

    async fn delete_smtp(&self, subdomain: &str) -> Result<(), BackendError> {
        let operation = format!("delete smtp {subdomain}");
        self.check(operation.clone())?;
        self.writes.lock().unwrap().push(operation);
        self.smtp.lock().unwrap().remove(subdomain);
        Ok(())
    }

    async fn delete_branding(&self, subdomain: &str, claim: &Claim) -> Result<(), BackendError> {
        let key = subdomain.to_string();
        self.delete(
            &self.brandings,
            &key,
            claim,
            format!("delete branding {subdomain}"),
        )
    }
}
