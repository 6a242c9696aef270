-- Roles and grants of the mail database, generated from src/concerns/database/spec.ts.
-- Run as a superuser: psql -v ON_ERROR_STOP=1 -f roles.sql. Safe to run again.

SELECT format('CREATE ROLE %I LOGIN', 'techmail')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'techmail') \gexec
SELECT format('CREATE ROLE %I LOGIN', 'postfix_lookup')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'postfix_lookup') \gexec
SELECT format('CREATE ROLE %I LOGIN', 'dovecot_lookup')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dovecot_lookup') \gexec

SELECT 'CREATE DATABASE mailserver OWNER techmail ENCODING ''UTF8'' TEMPLATE template0'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'mailserver') \gexec
ALTER DATABASE mailserver OWNER TO techmail;
REVOKE ALL ON DATABASE mailserver FROM PUBLIC;
GRANT CONNECT ON DATABASE mailserver TO postfix_lookup, dovecot_lookup;

\connect mailserver
-- Nothing but the owner may create objects; future tables grant nothing by default.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT ALL ON SCHEMA public TO techmail;
ALTER DEFAULT PRIVILEGES FOR ROLE techmail IN SCHEMA public REVOKE ALL ON TABLES FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO postfix_lookup;
GRANT USAGE ON SCHEMA public TO dovecot_lookup;
