-- The `jti` of every accepted private_key_jwt client assertion, kept until the assertion
-- expires so that a replay within its lifetime is refused (RFC 7523 §3, OIDC Core §9).
-- The primary key makes the check-and-record one atomic INSERT on SQLite and PostgreSQL.
CREATE TABLE client_assertions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, client_id, jti)
);

CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
