//! Leader election with a `coordination.k8s.io/v1` Lease: only the holder reconciles, so two
//! replicas can run and only one writes.
//!
//! The holder renews the Lease every `renew` interval; another replica takes it over once it
//! has not been renewed for `duration`. Updates carry the Lease's `resourceVersion`, so two
//! candidates can never both win the same round. A holder that fails to renew before its
//! Lease expires stops the process (the Deployment restarts it as a follower), because it can
//! no longer be sure nobody else is writing.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

/// Where the Lease lives and how it is timed.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How often the holder renews.
    pub renew: Duration,
}

/// Whether `lease` may be taken by `identity` at `now`.
fn can_take(lease: &Lease, identity: &str, now: jiff::Timestamp, duration: Duration) -> bool {
    let Some(spec) = &lease.spec else { return true };
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == identity {
        return true;
    }
    let renewed = spec.renew_time.as_ref().map(|time| time.0);
    let seconds = spec
        .lease_duration_seconds
        .map_or(duration.as_secs() as i64, i64::from);
    renewed.is_none_or(|renewed| renewed.as_second() + seconds < now.as_second())
}

/// Tries once to take or renew the Lease; `Ok(true)` when this replica holds it afterwards.
async fn try_acquire(api: &Api<Lease>, settings: &LeaseSettings) -> Result<bool, kube::Error> {
    let now = jiff::Timestamp::now();
    let seconds = i32::try_from(settings.duration.as_secs()).unwrap_or(i32::MAX);
    match api.get_opt(&settings.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(settings.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            }
        }
        Some(mut lease) => {
            if !can_take(&lease, &settings.identity, now, settings.duration) {
                return Ok(false);
            }
            let spec = lease.spec.get_or_insert_with(Default::default);
            if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                spec.holder_identity = Some(settings.identity.clone());
            }
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(seconds);
            match api
                .replace(&settings.name, &PostParams::default(), &lease)
                .await
            {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(error) => Err(error),
            }
        }
    }
}

/// Waits until this replica holds the Lease, then keeps renewing it in the background.
/// The process exits if the Lease cannot be renewed before it expires.
pub async fn acquire_and_hold(client: Client, settings: LeaseSettings) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    loop {
        match try_acquire(&api, &settings).await {
            Ok(true) => break,
            Ok(false) => tracing::info!(lease = %settings.name, "another replica leads; waiting"),
            Err(error) => {
                tracing::warn!(error = %error, "failed to read or update the leader Lease")
            }
        }
        tokio::time::sleep(settings.renew).await;
    }
    tracing::info!(lease = %settings.name, identity = %settings.identity, "became the leader");
    tokio::spawn(async move {
        let mut last_renewal = std::time::Instant::now();
        loop {
            tokio::time::sleep(settings.renew).await;
            match try_acquire(&api, &settings).await {
                Ok(true) => last_renewal = std::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("lost the leader Lease to another replica; exiting");
                    std::process::exit(1);
                }
                Err(error) => {
                    tracing::warn!(error = %error, "failed to renew the leader Lease");
                    if last_renewal.elapsed() >= settings.duration {
                        tracing::error!("the leader Lease expired without renewal; exiting");
                        std::process::exit(1);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: &str) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(renewed.parse().unwrap())),
                lease_duration_seconds: Some(15),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_fresh_lease_of_another_replica_is_respected() {
        let now: jiff::Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        assert!(!can_take(
            &lease("a", "2026-01-01T00:00:00Z"),
            "b",
            now,
            Duration::from_secs(15)
        ));
        assert!(can_take(
            &lease("b", "2026-01-01T00:00:00Z"),
            "b",
            now,
            Duration::from_secs(15)
        ));
    }

    #[test]
    fn an_expired_lease_can_be_taken() {
        let now: jiff::Timestamp = "2026-01-01T00:00:16Z".parse().unwrap();
        assert!(can_take(
            &lease("a", "2026-01-01T00:00:00Z"),
            "b",
            now,
            Duration::from_secs(15)
        ));
        assert!(can_take(
            &lease("", "2026-01-01T00:00:15Z"),
            "b",
            now,
            Duration::from_secs(15)
        ));
    }
}
