-- One counter every configuration write (tenants, clients, user flows, branding, SMTP
-- settings, signing keys) increments in the same transaction. Each runtime process keeps its
-- configuration in memory and polls this row: a changed value drops its copy, so a write
-- through one replica reaches the others within the poll interval.
CREATE TABLE config_version (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);

INSERT INTO config_version (id, version) VALUES (1, 0);
