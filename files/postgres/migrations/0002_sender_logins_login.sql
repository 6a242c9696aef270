-- Deleting or renaming a user cascades to sender_logins by login; without an
-- index of its own that cascade scans the whole table.
-- https://www.postgresql.org/docs/15/ddl-constraints.html#DDL-CONSTRAINTS-FK
CREATE INDEX sender_logins_login ON sender_logins (login);
