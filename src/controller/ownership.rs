//! Who owns what: the claims the operator sends with backend writes, and the Secrets it may
//! touch.
//!
//! Two rules keep one team's objects out of another's reach (DESIGN.md, "Trust boundaries"):
//! the backend records the Kubernetes object behind each write and refuses any other, and the
//! operator only reads credentials from, writes or deletes Secrets that carry an owner
//! reference to the object being reconciled.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::Error;
use crate::backend::Observed;
use crate::contract::owner::{Claim, Owner};

/// The owner record of a Kubernetes object.
pub fn owner_of<K: Resource<DynamicType = ()>>(object: &K) -> Owner {
    Owner {
        kind: K::kind(&()).into_owned(),
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        uid: object.uid().unwrap_or_default(),
    }
}

/// The claim with which `object` writes a backend object recorded as owned by `recorded`.
///
/// The operator takes over from a recorded owner only when that owner is of the same kind, in
/// the same namespace, and gone from the cluster (deleted with `deletionPolicy: Retain`, or
/// its finalizer removed by hand): the same team declaring the same thing again. Anything else
/// is left to the backend to refuse.
///
/// # Errors
/// Fails only when the API server cannot be read.
pub async fn claim_for<K>(
    client: &kube::Client,
    object: &K,
    recorded: Option<&Owner>,
) -> Result<Claim, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let me = owner_of(object);
    let Some(recorded) = recorded.filter(|recorded| recorded.uid != me.uid) else {
        return Ok(Claim::by(me));
    };
    if recorded.kind != me.kind || recorded.namespace != me.namespace {
        return Ok(Claim::by(me));
    }
    let current = Api::<K>::namespaced(client.clone(), &recorded.namespace)
        .get_opt(&recorded.name)
        .await
        .map_err(Error::kube(format!(
            "read {} {}/{}",
            recorded.kind, recorded.namespace, recorded.name
        )))?;
    let gone = current.is_none_or(|current| current.uid().as_deref() != Some(&recorded.uid));
    Ok(Claim {
        owner: Some(me),
        replaces: gone.then(|| recorded.uid.clone()),
    })
}

/// Whether the backend object needs a write: `None` when it exists with the desired state
/// and `me` as its owner, otherwise `Some` of its recorded owner (for [`claim_for`]).
pub fn write_needed<T: PartialEq>(
    observed: Option<Observed<T>>,
    desired: &T,
    me: &Owner,
) -> Option<Option<Owner>> {
    match observed {
        Some(observed) if observed.spec == *desired && observed.owner.as_ref() == Some(me) => None,
        Some(observed) => Some(observed.owner),
        None => Some(None),
    }
}

/// How `owner` may be named to an object in `namespace`: by kind and name when in the same
/// namespace, otherwise without anything that would tell another team it exists.
pub fn describe_for(owner: &Owner, namespace: &str) -> String {
    if owner.namespace == namespace {
        format!("{} {}", owner.kind, owner.name)
    } else {
        format!("another {} the operator manages", owner.kind)
    }
}

/// Whether the operator created `secret` for the object with `uid` (an owner reference to it).
pub fn is_owned_by(secret: &Secret, uid: &str) -> bool {
    secret
        .owner_references()
        .iter()
        .any(|reference| reference.uid == uid)
}

/// A Secret the operator wants to write, as found in the cluster.
pub enum SecretState {
    /// No such Secret: the operator creates it.
    Absent,
    /// Created by the operator for this object: it may be read and updated.
    Owned(Box<Secret>),
    /// Someone else's: never read for credentials, written or deleted.
    Foreign,
}

/// Reads the Secret `name` of `namespace` and says whose it is.
///
/// # Errors
/// Fails only when the API server cannot be read.
pub async fn read_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    owner_uid: &str,
) -> Result<SecretState, Error> {
    let found = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(Error::kube(format!("read Secret {namespace}/{name}")))?;
    Ok(match found {
        None => SecretState::Absent,
        Some(secret) if is_owned_by(&secret, owner_uid) => SecretState::Owned(Box::new(secret)),
        Some(_) => SecretState::Foreign,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn owner(namespace: &str) -> Owner {
        Owner {
            kind: "AppRegistration".into(),
            namespace: namespace.into(),
            name: "web".into(),
            uid: "u-1".into(),
        }
    }

    #[test]
    fn a_write_is_needed_unless_the_object_is_ours_and_as_desired() {
        let me = owner("shop");
        let observed = |spec: u8, owner: Option<Owner>| Some(Observed { spec, owner });
        assert_eq!(write_needed(observed(1, Some(me.clone())), &1, &me), None);
        assert_eq!(
            write_needed(observed(2, Some(me.clone())), &1, &me),
            Some(Some(me.clone()))
        );
        assert_eq!(write_needed(observed(1, None), &1, &me), Some(None));
        assert_eq!(write_needed(None, &1, &me), Some(None));
    }

    #[test]
    fn another_namespace_learns_nothing_about_the_owner() {
        assert_eq!(describe_for(&owner("shop"), "shop"), "AppRegistration web");
        let described = describe_for(&owner("shop"), "attacker");
        assert!(!described.contains("shop") && !described.contains("web"));
    }

    #[test]
    fn only_an_owner_reference_to_the_uid_makes_a_secret_ours() {
        let mut secret = Secret::default();
        assert!(!is_owned_by(&secret, "u-1"));
        secret.metadata.owner_references = Some(vec![OwnerReference {
            uid: "u-2".into(),
            ..Default::default()
        }]);
        assert!(!is_owned_by(&secret, "u-1"));
        secret
            .metadata
            .owner_references
            .as_mut()
            .unwrap()
            .push(OwnerReference {
                uid: "u-1".into(),
                ..Default::default()
            });
        assert!(is_owned_by(&secret, "u-1"));
    }
}
