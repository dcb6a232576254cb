-- SMTP connection of a tenant (its password sealed with the key-encryption key).
CREATE TABLE smtp_settings (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A one-time passcode sent by email. purpose: sign_up, sign_in, mfa, reset. code_digest is
-- an HMAC of the code (never the code itself); payload is what succeeding unlocks (the
-- pending account of a sign-up, or the user ID). A decoy challenge (unknown email) has no
-- usable digest, so its responses look exactly like a real one's.
CREATE TABLE passcode_challenges (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    code_digest TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- Failed sign-in attempts per subject (email:<address> whether or not the account exists,
-- or ip:<address>), so lockout neither reveals accounts nor spares unknown ones.
CREATE TABLE sign_in_throttle (
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, subject)
);
