-- Mail accounts: domains, mailboxes, aliases and sending rights.
-- Postfix and Dovecot only read these tables, through least-privilege roles
-- (see components/database-spec.ts). Applied by files/postgres/migrate.sh in
-- one transaction and recorded with its checksum; never edit it once applied,
-- add a new migration instead.
-- https://www.postgresql.org/docs/15/ddl.html

-- The domains table keeps the columns of the original plan exactly.
CREATE TABLE domains (
    id SERIAL PRIMARY KEY,
    domain_name VARCHAR(255) UNIQUE NOT NULL,
    transport VARCHAR(255) DEFAULT 'virtual:',
    company_id INTEGER,
    auth_type VARCHAR(10) DEFAULT 'local' CHECK (auth_type IN ('ldap', 'local')),
    ldap_base_dn VARCHAR(255),
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    -- Lookups compare lower-case keys, so names are stored lower-case.
    CONSTRAINT domains_name_lower CHECK (domain_name = lower(domain_name)),
    -- An LDAP domain needs the base DN its users live under.
    CONSTRAINT domains_ldap_base CHECK (auth_type <> 'ldap' OR ldap_base_dn IS NOT NULL)
);

CREATE TABLE virtual_users (
    id SERIAL PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    email VARCHAR(320) NOT NULL UNIQUE CHECK (email = lower(email) AND position('@' IN email) > 1),
    -- A Dovecot password scheme prefix keeps the hash self-describing.
    -- NULL for LDAP users without a local fallback password.
    password_hash VARCHAR(255) CHECK (password_hash ~ '^\{(ARGON2ID|BLF-CRYPT)\}'),
    quota_bytes BIGINT NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0), -- 0 means unlimited
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- source is a full address, or '@domain' for the domain's catch-all.
CREATE TABLE virtual_aliases (
    id SERIAL PRIMARY KEY,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE RESTRICT,
    source VARCHAR(320) NOT NULL CHECK (source = lower(source) AND position('@' IN source) > 0),
    destination VARCHAR(320) NOT NULL CHECK (destination = lower(destination)),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (source, destination)
);

-- Which login may send as which address, beyond its own (Postfix
-- smtpd_sender_login_maps). address may be '@domain' for any address there.
CREATE TABLE sender_logins (
    id SERIAL PRIMARY KEY,
    address VARCHAR(320) NOT NULL CHECK (address = lower(address)),
    login VARCHAR(320) NOT NULL REFERENCES virtual_users (email) ON UPDATE CASCADE ON DELETE CASCADE,
    UNIQUE (address, login)
);

-- Indexes for the lookups Postfix and Dovecot run on every message and login.
-- The UNIQUE constraints above already index domains.domain_name,
-- virtual_users.email and sender_logins (address, login).
CREATE INDEX virtual_users_domain_id ON virtual_users (domain_id);
CREATE INDEX virtual_aliases_source ON virtual_aliases (source);
CREATE INDEX virtual_aliases_domain_id ON virtual_aliases (domain_id);
