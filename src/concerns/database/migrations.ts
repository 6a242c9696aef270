// Database migrations: versioned SQL files in files/postgres/migrations, named
// NNNN_name.sql and numbered 0001, 0002, ... without gaps. They are applied on
// the mail host by files/postgres/migrate.sh, whose stdin is the plain-text
// payload rendered here, so `pulumi preview --diff` shows the SQL lines that
// change. Everything in this file is pure: no Pulumi resources.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "../../core/template";

export interface Migration {
  /** The file name without ".sql", e.g. "0001_mail_schema". */
  readonly name: string;
  /** The file's exact text; it ends with a newline. */
  readonly sql: string;
  /** sha256 (hex) of the exact text; migrate.sh records it when it applies the migration. */
  readonly checksum: string;
}

export const MIGRATIONS_DIR = path.join(ROOT, "files", "postgres", "migrations");

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const NAME = /^\d{4}_[a-z0-9_]+$/;
// Database and role names go into SQL and psql arguments on the host, so they
// are plain lower-case identifiers that never need quoting.
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** sha256 (hex) of a migration's text, as migrate.sh computes it with sha256sum. */
export function migrationChecksum(sql: string): string {
  return createHash("sha256").update(sql, "utf8").digest("hex");
}

/**
 * Reads the migrations in `dir`, sorted by name. Throws, naming every problem,
 * for a file that is not NNNN_name.sql (lower-case name), a gap or duplicate in
 * the numbering (it starts at 0001), a file that does not end with a newline,
 * and a file that is not UTF-8.
 */
export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const entries = fs.readdirSync(dir).sort();
  const problems: string[] = [];
  const byNumber = new Map<number, string[]>();
  const out: Migration[] = [];
  for (const file of entries) {
    const m = FILE.exec(file);
    if (!m) {
      problems.push(
        `"${file}" is not named NNNN_name.sql (four digits, an underscore, then lower-case letters, digits and _)`,
      );
      continue;
    }
    const n = Number(m[1]);
    byNumber.set(n, [...(byNumber.get(n) ?? []), file]);
    const bytes = fs.readFileSync(path.join(dir, file));
    const sql = bytes.toString("utf8");
    if (!Buffer.from(sql, "utf8").equals(bytes)) {
      problems.push(`${file} is not valid UTF-8`);
      continue;
    }
    if (!sql.endsWith("\n")) {
      problems.push(`${file} must end with a newline`);
      continue;
    }
    out.push({ name: file.slice(0, -".sql".length), sql, checksum: migrationChecksum(sql) });
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);
  const last = numbers.length > 0 ? (numbers[numbers.length - 1] ?? 0) : 0;
  for (let n = 1; n <= last; n++) {
    const files = byNumber.get(n);
    const nnnn = String(n).padStart(4, "0");
    if (files === undefined)
      problems.push(`migration number ${nnnn} is missing (numbers run 0001, 0002, ...)`);
    else if (files.length > 1) problems.push(`migration number ${nnnn} is used by ${files.join(" and ")}`);
  }
  if (byNumber.has(0)) problems.push(`migration number 0000 is not allowed; numbering starts at 0001`);
  if (problems.length > 0) throw new Error(`migrations in ${dir}: ${problems.join("; ")}`);
  return out;
}

/**
 * Renders migrate.sh's stdin: the database and its owner role, then each
 * migration's header (name, checksum, number of lines) followed by its lines
 * verbatim, then "end". The same line-count framing as renderPayload in
 * src/core/push.ts, so no line of SQL can be mistaken for a header. Pure.
 */
export function renderMigrationPayload(
  database: string,
  owner: string,
  migrations: readonly Migration[],
): string {
  const problems: string[] = [];
  if (!IDENTIFIER.test(database)) problems.push(`database name "${database}" is not a plain identifier`);
  if (!IDENTIFIER.test(owner)) problems.push(`owner role "${owner}" is not a plain identifier`);
  const out = [`database ${database}`, `owner ${owner}`];
  const seen = new Set<string>();
  for (const m of migrations) {
    if (!NAME.test(m.name)) problems.push(`migration name "${m.name}" is not NNNN_name`);
    if (seen.has(m.name)) problems.push(`migration ${m.name} is listed twice`);
    seen.add(m.name);
    if (!m.sql.endsWith("\n")) problems.push(`migration ${m.name} must end with a newline`);
    if (m.checksum !== migrationChecksum(m.sql))
      problems.push(`migration ${m.name}: checksum does not match its text`);
    const lines = m.sql.slice(0, -1).split("\n");
    out.push(`migration ${m.name} ${m.checksum} ${lines.length}`, ...lines);
  }
  if (problems.length > 0) throw new Error(`migration payload: ${problems.join("; ")}`);
  out.push("end");
  return `${out.join("\n")}\n`;
}
