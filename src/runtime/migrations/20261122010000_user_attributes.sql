-- Attributes a user flow collected at sign-up (a JSON object) and the consents given with
-- their times (a JSON object of attribute name to Unix seconds).
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN consents TEXT NOT NULL DEFAULT '{}';
