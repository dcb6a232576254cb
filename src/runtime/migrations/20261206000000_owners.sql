-- The Kubernetes object that owns each configuration object (see src/runtime/owner.rs):
-- owner_uid decides who may write, owner (JSON: kind, namespace, name, uid) explains refusals.
-- Rows stored before this migration have no owner and are claimed by their next owned write.

ALTER TABLE tenants ADD COLUMN owner_uid TEXT;
ALTER TABLE tenants ADD COLUMN owner TEXT;
ALTER TABLE clients ADD COLUMN owner_uid TEXT;
ALTER TABLE clients ADD COLUMN owner TEXT;
ALTER TABLE user_flows ADD COLUMN owner_uid TEXT;
ALTER TABLE user_flows ADD COLUMN owner TEXT;
ALTER TABLE brandings ADD COLUMN owner_uid TEXT;
ALTER TABLE brandings ADD COLUMN owner TEXT;
