-- hotline case API, foundation: tenants, users, credentials, cases and the audit chain.
--
-- One file for SQLite and PostgreSQL: only types and syntax both accept (BIGINT, TEXT,
-- composite keys, UPDATE ... RETURNING). Ids are allocated by the application under the
-- tenant row's lock (see `tenant.rs`), so no SERIAL / AUTOINCREMENT dialect split is needed.
-- Times are Unix milliseconds (BIGINT).

CREATE TABLE tenants (
    id            TEXT   NOT NULL PRIMARY KEY,
    created_at    BIGINT NOT NULL,
    next_user_id  BIGINT NOT NULL DEFAULT 1,
    next_case_id  BIGINT NOT NULL DEFAULT 1,
    -- Head of the tenant's audit chain: the last sequence number and its hash (hex).
    audit_seq     BIGINT NOT NULL DEFAULT 0,
    audit_head    TEXT   NOT NULL DEFAULT ''
);

CREATE TABLE users (
    tenant_id     TEXT   NOT NULL REFERENCES tenants (id),
    id            BIGINT NOT NULL,
    username      TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, username)
);

CREATE TABLE refresh_tokens (
    token_hash    TEXT   NOT NULL PRIMARY KEY,
    tenant_id     TEXT   NOT NULL,
    user_id       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);

CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);

CREATE TABLE api_keys (
    key_hash      TEXT   NOT NULL PRIMARY KEY,
    tenant_id     TEXT   NOT NULL REFERENCES tenants (id),
    prefix        TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    created_by    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

CREATE TABLE cases (
    tenant_id     TEXT   NOT NULL REFERENCES tenants (id),
    id            BIGINT NOT NULL,
    title         TEXT   NOT NULL,
    description   TEXT   NOT NULL,
    priority      TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    assignee_id   BIGINT,
    created_by    TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    resolved_at   BIGINT,
    PRIMARY KEY (tenant_id, id),
    -- The assignee is a user of the same tenant: the key itself forbids crossing tenants.
    FOREIGN KEY (tenant_id, assignee_id) REFERENCES users (tenant_id, id)
);

CREATE INDEX cases_status ON cases (tenant_id, status, id);
CREATE INDEX cases_assignee ON cases (tenant_id, assignee_id, id);

-- Append-only and hash-chained per tenant: hash = SHA-256(prev_hash || canonical row).
CREATE TABLE audit (
    tenant_id     TEXT   NOT NULL REFERENCES tenants (id),
    seq           BIGINT NOT NULL,
    at            BIGINT NOT NULL,
    actor         TEXT   NOT NULL,
    action        TEXT   NOT NULL,
    object_type   TEXT   NOT NULL,
    object_id     TEXT   NOT NULL,
    request_id    TEXT   NOT NULL,
    client_addr   TEXT   NOT NULL,
    detail        TEXT   NOT NULL,
    prev_hash     TEXT   NOT NULL,
    hash          TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
