//! The Kubernetes object that owns a runtime object, as the admin API's writers declare it.
//!
//! The operator sends `Ciam-Owner: kind=AppRegistration; namespace=shop; name=web; uid=…` with
//! every `PUT` and `DELETE`. The runtime records the owner of each tenant, client, user flow and
//! branding when it is created and refuses (409) a write from any other owner, so one
//! Kubernetes object can never overwrite or delete what another one created, whatever it
//! learned about its key. An object stored before owners were recorded is claimed by its next
//! owned write.
//!
//! `Ciam-Owner-Replaces: <uid>` lets the operator take over an object whose recorded owner it
//! has seen to be gone from the cluster (a tenant kept by `deletionPolicy: Retain` and then
//! declared again, a flow whose finalizer was removed by hand): the write succeeds only while
//! the recorded owner is still that UID, so it is a compare-and-swap, never a blind override.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Header naming the owner of a write.
pub const HEADER: &str = "ciam-owner";

/// Header naming the UID of a vanished owner that this write takes over from.
pub const REPLACES_HEADER: &str = "ciam-owner-replaces";

/// Longest accepted header field value (Kubernetes names are at most 253 characters).
const MAX_FIELD: usize = 253;

/// The Kubernetes object that created a runtime object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Owner {
    /// Kind, for example `AppRegistration`.
    pub kind: String,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
    /// UID of the object: what ownership is decided on.
    pub uid: String,
}

impl Owner {
    /// The value of the [`HEADER`] for this owner.
    pub fn header_value(&self) -> String {
        format!(
            "kind={}; namespace={}; name={}; uid={}",
            self.kind, self.namespace, self.name, self.uid
        )
    }

    /// Parses a [`HEADER`] value.
    ///
    /// # Errors
    /// Names the missing, repeated or malformed field.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut fields: [Option<String>; 4] = Default::default();
        const NAMES: [&str; 4] = ["kind", "namespace", "name", "uid"];
        for part in value.split(';') {
            let (key, field) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| format!("'{}' is not key=value", part.trim()))?;
            let index = NAMES
                .iter()
                .position(|name| *name == key.trim())
                .ok_or_else(|| format!("unknown field {}", key.trim()))?;
            if fields[index].is_some() {
                return Err(format!("{} is given twice", NAMES[index]));
            }
            fields[index] = Some(checked_field(NAMES[index], field.trim())?);
        }
        let [kind, namespace, name, uid] =
            fields.map(|field| field.ok_or(()).map_err(|()| String::new()));
        let missing = |name: &str| format!("{name} is missing");
        Ok(Self {
            kind: kind.map_err(|_| missing("kind"))?,
            namespace: namespace.map_err(|_| missing("namespace"))?,
            name: name.map_err(|_| missing("name"))?,
            uid: uid.map_err(|_| missing("uid"))?,
        })
    }
}

/// A field of the header: non-empty, at most 253 characters of what Kubernetes names, kinds
/// and UIDs are made of.
fn checked_field(name: &str, value: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if value.is_empty() || value.len() > MAX_FIELD || !value.chars().all(allowed) {
        return Err(format!(
            "{name} must be 1-{MAX_FIELD} letters, digits, '-', '.' or '_'"
        ));
    }
    Ok(value.to_string())
}

/// Checks a [`REPLACES_HEADER`] value (a UID).
///
/// # Errors
/// When it is empty, too long or has characters a UID does not have.
pub fn parse_replaces(value: &str) -> Result<String, String> {
    checked_field("uid", value.trim())
}

impl fmt::Display for Owner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} {}/{} (uid {})",
            self.kind, self.namespace, self.name, self.uid
        )
    }
}

/// Who a write comes from: the declared owner, and the vanished owner it may replace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// The declared owner; `None` for a write without the header (a person with the admin
    /// token), which may only touch objects that have no owner.
    pub owner: Option<Owner>,
    /// UID of a recorded owner this write may take over from.
    pub replaces: Option<String>,
}

impl Claim {
    /// A claim by `owner` alone.
    pub fn by(owner: Owner) -> Self {
        Self {
            owner: Some(owner),
            replaces: None,
        }
    }

    /// Whether this claim may write an object recorded as owned by `recorded`.
    pub fn may_write(&self, recorded: Option<&Owner>) -> bool {
        match recorded {
            None => true,
            Some(recorded) => {
                self.owner
                    .as_ref()
                    .is_some_and(|owner| owner.uid == recorded.uid)
                    || self.replaces.as_deref() == Some(recorded.uid.as_str())
            }
        }
    }

    /// The declared owner's UID, as stored in the `owner_uid` columns.
    pub fn owner_uid(&self) -> Option<&str> {
        self.owner.as_ref().map(|owner| owner.uid.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str) -> Owner {
        Owner {
            kind: "AppRegistration".into(),
            namespace: "shop".into(),
            name: "web".into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn the_header_round_trips() {
        let original = owner("6f1c2a4e-0000-4000-8000-000000000001");
        assert_eq!(Owner::parse(&original.header_value()), Ok(original));
    }

    #[test]
    fn malformed_headers_name_the_problem() {
        let error = |value: &str| Owner::parse(value).unwrap_err();
        assert_eq!(error("kind=A; namespace=b; name=c"), "uid is missing");
        assert_eq!(
            error("kind=A; namespace=b; name=c; uid=1; uid=2"),
            "uid is given twice"
        );
        assert!(error("kind=A; namespace=b; name=c; uid=x y").starts_with("uid must be"));
        assert_eq!(
            error("kind=A; namespace=b; name=c; uid=1; team=x"),
            "unknown field team"
        );
        assert!(error("kind").contains("not key=value"));
    }

    #[test]
    fn only_the_recorded_owner_or_an_explicit_successor_may_write() {
        let recorded = owner("victim");
        assert!(Claim::by(owner("victim")).may_write(Some(&recorded)));
        assert!(!Claim::by(owner("thief")).may_write(Some(&recorded)));
        assert!(!Claim::default().may_write(Some(&recorded)));
        assert!(Claim::default().may_write(None));
        assert!(Claim::by(owner("thief")).may_write(None));
        let successor = Claim {
            owner: Some(owner("successor")),
            replaces: Some("victim".into()),
        };
        assert!(successor.may_write(Some(&recorded)));
        let stale = Claim {
            owner: Some(owner("successor")),
            replaces: Some("someone-else".into()),
        };
        assert!(!stale.may_write(Some(&recorded)));
    }
}
