-- The privilege matrix of the database psql is connected to, as PostgreSQL
-- itself answers it (has_*_privilege), so a direct grant, a grant to PUBLIC,
-- a role's membership in another and ownership all count, as they do when a
-- daemon runs its query. Rows: grantee, privilege, kind, object, granted (t/f),
-- tab-separated, one for every
--   grantee   each role that is neither a superuser (which bypasses every
--             check) nor one of PostgreSQL's predefined pg_ roles, and PUBLIC;
--   object    the database; each schema, table, view, sequence and column
--             outside pg_catalog and information_schema;
--   privilege each privilege that kind of object has;
-- and one granted row for every default privilege a role set for objects it
-- has yet to make (kind "default", object owner.schema.type), beyond its own.
-- mailstack-health compares the granted rows with the matrix the stack
-- declares (src/concerns/database/spec.ts, declaredPrivileges); the tests
-- compare the whole matrix of a managed and a preprovisioned database.
-- https://www.postgresql.org/docs/15/functions-info.html#FUNCTIONS-INFO-ACCESS-TABLE
-- https://www.postgresql.org/docs/15/ddl-priv.html
WITH grantees (name, arg) AS (
  SELECT rolname, rolname FROM pg_roles WHERE NOT rolsuper AND rolname !~ '^pg_'
  -- has_*_privilege takes the name "public" for the PUBLIC pseudo-role.
  UNION ALL SELECT 'PUBLIC', 'public'
),
schemas AS (
  SELECT oid, nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
),
relations AS (
  SELECT c.oid, c.relkind, s.nspname || '.' || c.relname AS name
  FROM pg_class c JOIN schemas s ON s.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
)
SELECT g.name, p, 'database', d.datname, has_database_privilege(g.arg, d.oid, p)
FROM grantees g, pg_database d, unnest(ARRAY['CREATE', 'CONNECT', 'TEMPORARY']) p
WHERE d.datname = current_database()
UNION ALL
SELECT g.name, p, 'schema', s.nspname, has_schema_privilege(g.arg, s.oid, p)
FROM grantees g, schemas s, unnest(ARRAY['CREATE', 'USAGE']) p
UNION ALL
SELECT g.name, p, 'table', r.name, has_table_privilege(g.arg, r.oid, p)
FROM grantees g, relations r,
  unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
WHERE r.relkind <> 'S'
UNION ALL
SELECT g.name, p, 'sequence', r.name, has_sequence_privilege(g.arg, r.oid, p)
FROM grantees g, relations r, unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) p
WHERE r.relkind = 'S'
UNION ALL
SELECT g.name, p, 'column', r.name || '.' || a.attname, has_column_privilege(g.arg, r.oid, a.attnum, p)
FROM grantees g, relations r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped,
  unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p
WHERE r.relkind <> 'S'
UNION ALL
SELECT CASE e.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(e.grantee) END, e.privilege_type, 'default',
  pg_get_userbyid(d.defaclrole) || '.' || coalesce(n.nspname, '*') || '.' ||
    CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
      WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE d.defaclobjtype::text END,
  true
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace, aclexplode(d.defaclacl) e
WHERE e.grantee <> d.defaclrole
ORDER BY 1, 3, 4, 2;
