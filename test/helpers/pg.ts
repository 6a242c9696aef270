// A throwaway PostgreSQL for tests: Debian's server binaries, run as the
// `postgres` OS user in a fresh temp dir, listening only on a unix socket in
// that dir (no TCP at all), with trust auth inside it (only root and postgres
// can reach the socket: the dir is 0700 postgres). The distribution's own
// cluster and system services are never touched. Call stop() in afterAll; an
// exit hook stops the server too if a run is cut short.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadMigrations, renderMigrationPayload } from "../../src/concerns/database/migrations";
import { DATABASE_SPEC, type DatabaseSpec } from "../../src/concerns/database/spec";
import { ROOT } from "../../src/core/template";

const STARTUP_TIMEOUT_S = 30;

export interface PsqlResult {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

export interface TestPostgres {
  /** The temp dir holding the data dir, the log and the socket. */
  readonly dir: string;
  /** Where the server's socket is: pass as PGHOST or `psql -h`. */
  readonly socketDir: string;
  /** The PostgreSQL bin dir (initdb, pg_ctl, psql, pg_dump). */
  readonly bin: string;
  /** Runs `sql` (any number of statements, via stdin) as `role`, unaligned and tuples-only. */
  psql(sql: string, opts?: { role?: string; database?: string }): PsqlResult;
  /** Like psql(), but throws with psql's message on failure and returns stdout trimmed. */
  query(sql: string, opts?: { role?: string; database?: string }): string;
  /** Stops the server and removes the temp dir. Safe to call twice. */
  stop(): void;
}

/** The server binaries: Debian's postgresql-15, else whatever pg_config names. */
export function findPgBin(): string {
  const candidates = ["/usr/lib/postgresql/15/bin"];
  const cfg = spawnSync("pg_config", ["--bindir"], { encoding: "utf8" });
  if (cfg.status === 0) candidates.push(cfg.stdout.trim());
  for (const c of candidates) {
    if (fs.existsSync(path.join(c, "initdb")) && fs.existsSync(path.join(c, "pg_ctl"))) return c;
  }
  throw new Error(
    "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/15/bin; " +
      "install them with: apt-get install postgresql-15",
  );
}

function check(what: string, r: SpawnSyncReturns<string>): void {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
}

/** Starts a throwaway cluster; throws (after cleaning up) if it is not up within 30 s. */
export function startPostgres(): TestPostgres {
  if (process.getuid?.() !== 0) throw new Error("the throwaway PostgreSQL needs root (it runs as postgres)");
  const bin = findPgBin();
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0)
    throw new Error("there is no postgres OS user; install postgresql-15, which creates it");

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-pg-"));
  fs.chownSync(dir, Number(uid.stdout), Number(gid.stdout));
  fs.chmodSync(dir, 0o700);
  const data = path.join(dir, "data");
  const log = path.join(dir, "server.log");
  // As postgres, from a dir postgres can enter.
  const asPostgres = (args: string[], timeoutS = STARTUP_TIMEOUT_S) =>
    spawnSync("runuser", ["-u", "postgres", "--", ...args], {
      cwd: dir,
      encoding: "utf8",
      timeout: timeoutS * 1000,
    });

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", stop);
    if (fs.existsSync(path.join(data, "postmaster.pid"))) {
      const r = asPostgres([`${bin}/pg_ctl`, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"], 35);
      if (r.status !== 0) {
        // pg_ctl failed or timed out: kill the postmaster directly; its children follow it.
        const pid = Number(fs.readFileSync(path.join(data, "postmaster.pid"), "utf8").split("\n")[0]);
        if (pid > 0) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);

  try {
    check(
      "initdb",
      asPostgres([
        `${bin}/initdb`,
        "-D",
        data,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
      ]),
    );
    // Socket only, in our own dir; durability is pointless for a throwaway cluster.
    fs.appendFileSync(
      path.join(data, "postgresql.conf"),
      [
        "listen_addresses = ''",
        `unix_socket_directories = '${dir}'`,
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "",
      ].join("\n"),
    );
    const start = asPostgres(
      [`${bin}/pg_ctl`, "-D", data, "-l", log, "-w", "-t", String(STARTUP_TIMEOUT_S), "start"],
      STARTUP_TIMEOUT_S + 5,
    );
    if (start.status !== 0) {
      const serverLog = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "(no server log)";
      throw new Error(`pg_ctl start failed:\n${start.stderr}${start.stdout}\n${serverLog}`);
    }
  } catch (e) {
    stop();
    throw e;
  }

  const psql = (sql: string, opts: { role?: string; database?: string } = {}): PsqlResult => {
    const r = spawnSync(
      `${bin}/psql`,
      [
        "-X",
        "-q",
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        dir,
        "-U",
        opts.role ?? "postgres",
        "-d",
        opts.database ?? "postgres",
        "-f",
        "-",
      ],
      { input: sql, encoding: "utf8", timeout: 60_000 },
    );
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const query = (sql: string, opts: { role?: string; database?: string } = {}): string => {
    const r = psql(sql, opts);
    if (r.code !== 0) throw new Error(`psql as ${opts.role ?? "postgres"} failed: ${r.err}\nSQL: ${sql}`);
    return r.out.trim();
  };

  return { dir, socketDir: dir, bin, psql, query, stop };
}

/**
 * Provisions the mail database in `pg` as the stack does on a host: roles.sql
 * as a superuser (the DBA's part), then the migrations through the real
 * files/postgres/migrate.sh. Throws with migrate.sh's message on failure.
 */
export function provisionMailDatabase(pg: TestPostgres, spec: DatabaseSpec = DATABASE_SPEC): void {
  pg.query(fs.readFileSync(path.join(ROOT, "files/postgres/roles.sql"), "utf8"), { database: "postgres" });
  migrateMailDatabase(pg, spec);
}

/** Runs the migrations through the real files/postgres/migrate.sh, as every mode does once the roles exist. */
export function migrateMailDatabase(pg: TestPostgres, spec: DatabaseSpec = DATABASE_SPEC): void {
  const migrate = spawnSync(
    "bash",
    ["-c", fs.readFileSync(path.join(ROOT, "files/postgres/migrate.sh"), "utf8"), "m"],
    {
      input: renderMigrationPayload(spec.database, spec.owner, loadMigrations()),
      encoding: "utf8",
      env: { ...process.env, PGHOST: pg.socketDir, MAILSTACK_LIB: path.join(ROOT, "files/lib/mailstack.sh") },
    },
  );
  if (migrate.status !== 0) throw new Error(`migrate.sh failed: ${migrate.stderr}`);
}

/**
 * The whole privilege matrix of `database`, from files/postgres/privilege-matrix.sql:
 * "grantee privilege kind object t|f" lines, sorted.
 */
export function privilegeMatrix(pg: TestPostgres, database: string): string[] {
  const sql = fs.readFileSync(path.join(ROOT, "files/postgres/privilege-matrix.sql"), "utf8");
  return pg
    .query(sql, { database })
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("|").join(" "));
}
