-- Bench data for the lookup plans: 10 000 domains, 100 000 users, 20 000
-- aliases and 5 000 sender logins. Used by bench/explain.sh and
-- test/concerns/database/lookup-plans.test.ts, against a throwaway cluster, never a real one.
-- Every 10th domain authenticates against LDAP, every 50th is inactive.
INSERT INTO domains (domain_name, auth_type, ldap_base_dn, is_active)
SELECT 'd' || i || '.example',
       CASE WHEN i % 10 = 0 THEN 'ldap' ELSE 'local' END,
       CASE WHEN i % 10 = 0 THEN 'ou=people,dc=d' || i || ',dc=example' END,
       i % 50 <> 0
FROM generate_series(1, 10000) AS i;

-- Ten mailboxes per domain; every 100th is disabled.
INSERT INTO virtual_users (domain_id, email, password_hash, enabled)
SELECT d.id, 'u' || i || '@' || d.domain_name,
       '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$' || md5(i::text), i % 100 <> 0
FROM generate_series(1, 100000) AS i
JOIN domains d ON d.domain_name = 'd' || (i % 10000 + 1) || '.example';

-- 18 000 address aliases to a mailbox of the same domain, and 2 000 catch-alls.
INSERT INTO virtual_aliases (domain_id, source, destination)
SELECT d.id, 'a' || i || '@' || d.domain_name, 'u' || i || '@' || d.domain_name
FROM generate_series(1, 18000) AS i
JOIN domains d ON d.domain_name = 'd' || (i % 10000 + 1) || '.example';
INSERT INTO virtual_aliases (domain_id, source, destination)
SELECT d.id, '@' || d.domain_name, 'u' || (i + 9999) || '@' || d.domain_name
FROM generate_series(1, 2000) AS i
JOIN domains d ON d.domain_name = 'd' || i || '.example';

-- 4 500 shared addresses and 500 whole-domain rights.
INSERT INTO sender_logins (address, login)
SELECT 'shared' || i || '@d' || (i % 10000 + 1) || '.example', 'u' || i || '@d' || (i % 10000 + 1) || '.example'
FROM generate_series(1, 4500) AS i;
INSERT INTO sender_logins (address, login)
SELECT '@d' || (i % 10000 + 1) || '.example', 'u' || i || '@d' || (i % 10000 + 1) || '.example'
FROM generate_series(1, 500) AS i;

ANALYZE;
