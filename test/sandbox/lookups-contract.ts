// The lookups of src/concerns/database/lookups.ts against the deployed sandbox: the
// rendered Postfix maps and Dovecot SQL config, run by the real daemons' tools
// as their OS users, so peer authentication (pg_ident.conf) picks the lookup
// role and the spec's grants decide what it may read. test/sandbox/e2e.test.ts calls
// registerLookupTests right after deploying the stack with the accounts of
// Pulumi.sandbox.yaml. Everything it adds to the host lives in a scratch
// directory and goes again at the end; only the packages stay.
import { afterAll, expect, it } from "vitest";
import {
  lookupRole,
  POSTFIX_MAPS,
  type PostfixMap,
  renderDovecotSql,
  renderPostfixMap,
} from "../../src/concerns/database/lookups";
import { DATABASE_SPEC } from "../../src/concerns/database/spec";
import { shellQuote } from "../../src/core/push";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";

/**
 * Mail log lines the lookup tests provoke on purpose: postmap run as root,
 * which peer authentication refuses (rsyslog puts the tools' own syslog
 * messages into the mail log). Pass them to registerHygieneTests.
 */
export const LOOKUP_LOG_ALLOWED: readonly AllowedLogLine[] = [
  {
    pattern:
      /postfix\/postmap\[\d+\]: (warning: connect to pgsql server unix:\/var\/run\/postgresql: .*FATAL: +Peer authentication failed for user "postfix_lookup"|fatal: table pgsql:\/etc\/mailstack-test\/virtual_mailbox_domains\.cf: query error)/,
    why: "postmap run as root on purpose (postfix maps: root is refused by peer authentication)",
  },
];

const DIR = "/etc/mailstack-test";
const POSTFIX_CONF_DIR = `${DIR}/postfix`;
const DOVECOT_CONF = `${DIR}/dovecot.conf`;
const DOVECOT_LOG = `${DIR}/dovecot.log`;
const DOVECOT_BASE = "/run/mailstack-test-dovecot";
/** Present when the setup made the vmail user, so the cleanup removes it again. */
const VMAIL_MARKER = `${DIR}/made-vmail-user`;
const SETUP = 5 * 60_000;
const STEP = 2 * 60_000;

const DB = DATABASE_SPEC.database;
const POSTFIX_ROLE = lookupRole(DATABASE_SPEC, "postfix").role;
const DOVECOT_ROLE = lookupRole(DATABASE_SPEC, "dovecot").role;

/** postmap needs a main.cf; this one keeps the test independent of the host's. */
const POSTFIX_MAIN_CF = "# mailstack lookup tests only: postmap -c reads this.\ncompatibility_level = 3.6\n";

/**
 * A Dovecot that does nothing but authentication, with the rendered file as
 * its only passdb and userdb, on its own base_dir beside any system Dovecot.
 */
const DOVECOT_TEST_CONF = `# mailstack lookup tests only (test/sandbox/lookups-contract.ts).
instance_name = mailstack-test
base_dir = ${DOVECOT_BASE}
protocols =
ssl = no
log_path = ${DOVECOT_LOG}
auth_verbose = yes

passdb {
  driver = sql
  args = ${DIR}/dovecot-sql.conf.ext
}
userdb {
  driver = sql
  args = ${DIR}/dovecot-sql.conf.ext
}

# User iteration runs in auth-worker processes, which Dovecot 2.3 runs as root
# unless told otherwise; root has no pg_ident.conf mapping, so peer
# authentication would refuse them. The production config needs the same.
service auth-worker {
  user = $default_internal_user
}
`;

/** Installs the lookup clients; long-running, so it runs detached and is polled. */
const INSTALL = `set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for p in postfix-pgsql dovecot-core dovecot-pgsql; do
  dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
[ \${#need[@]} -gt 0 ] || { echo "already installed"; exit 0; }
# Postfix must not ask, nor configure itself: its main.cf is the stack's business.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
install() { apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "\${need[@]}"; }
install || { apt-get -o DPkg::Lock::Timeout=120 update -q && install; }
`;

interface Result {
  code: number | null;
  out: string;
  err: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function registerLookupTests(ssh: SandboxSsh): void {
  /** A command on the sandbox from / (daemon users cannot enter root's home). */
  const run = (cmd: string, input?: string): Result => {
    const r = ssh(`cd / && ${cmd}`, input);
    if (r.code === null) throw new Error(`ssh gave no exit status (timeout?) for: ${cmd}\n${r.err}`);
    return r;
  };
  const ok = (cmd: string, input?: string): string => {
    const r = run(cmd, input);
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${cmd}\n${r.out}${r.err}`);
    return r.out;
  };
  /** A superuser query in the mail database, tab-separated rows. */
  const sql = (query: string): string =>
    ok(`runuser -u postgres -- psql -XAtq -F '\t' -v ON_ERROR_STOP=1 -d ${DB}`, `${query}\n`);

  /** Runs a script detached and polls for its end, as each SSH call has a short timeout. */
  async function runLong(name: string, script: string, limitMs: number): Promise<string> {
    const dir = `/var/tmp/mailstack-test-${name}`;
    ok(`rm -rf ${dir} && mkdir -p ${dir} && cat > ${dir}/run.sh`, script);
    ok(
      `setsid nohup sh -c ${shellQuote(`bash ${dir}/run.sh > ${dir}/log 2>&1; echo $? > ${dir}/rc`)} </dev/null >/dev/null 2>&1 &`,
    );
    const deadline = Date.now() + limitMs;
    for (;;) {
      const rc = run(`cat ${dir}/rc 2>/dev/null`).out.trim();
      if (rc !== "") {
        const log = ok(`cat ${dir}/log; rm -rf ${dir}`);
        if (rc !== "0") throw new Error(`${name} failed (exit ${rc}):\n${log}`);
        return log;
      }
      if (Date.now() > deadline)
        throw new Error(`${name} still running after ${limitMs / 1000} s; see ${dir}/log`);
      await sleep(3000);
    }
  }

  /** One Postfix table lookup, as Postfix's own tools do it. */
  const postmap = (map: PostfixMap, key: string, asUser: string | null = "postfix"): Result =>
    run(
      `${asUser ? `runuser -u ${asUser} -- ` : ""}postmap -c ${POSTFIX_CONF_DIR} -q ${shellQuote(key)} pgsql:${DIR}/${map}.cf`,
    );
  /** The lookup's answer, or null for "not found"; anything else (an error, a warning) throws. */
  const lookup = (map: PostfixMap, key: string): string[] | null => {
    const r = postmap(map, key);
    if (r.err !== "" || (r.code !== 0 && r.code !== 1)) {
      throw new Error(`postmap ${map} ${key}: exit ${r.code}\n${r.err}`);
    }
    if (r.code === 1) return null;
    return r.out
      .trim()
      .split(/\s*,\s*/)
      .sort();
  };

  const doveadm = (args: string): Result => run(`doveadm -c ${DOVECOT_CONF} ${args}`);
  const authTest = (user: string, password: string): Result =>
    doveadm(`auth test ${shellQuote(user)} ${shellQuote(password)}`);
  /** doveadm user's "field<TAB>value" lines, or null when the user does not exist. */
  const userdb = (user: string): Record<string, string> | null => {
    const r = doveadm(`user ${shellQuote(user)}`);
    if (r.code === 67) return null;
    if (r.code !== 0) throw new Error(`doveadm user ${user}: exit ${r.code}\n${r.out}${r.err}`);
    const fields: Record<string, string> = {};
    for (const line of r.out.split("\n").slice(1)) {
      const [k, ...v] = line.split("\t");
      if (k) fields[k] = v.join("\t");
    }
    return fields;
  };
  const lookupBackends = (role: string): number =>
    Number(
      sql(
        `SELECT count(*) FROM pg_stat_activity WHERE datname = '${DB}' AND usename = '${role}' AND backend_type = 'client backend'`,
      ),
    );
  const stopDovecot = () =>
    run(
      `if [ -f ${DOVECOT_BASE}/master.pid ] && kill -0 "$(cat ${DOVECOT_BASE}/master.pid)" 2>/dev/null; then
         dovecot -c ${DOVECOT_CONF} stop
         for i in $(seq 50); do kill -0 "$(cat ${DOVECOT_BASE}/master.pid 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
       fi`,
    );
  const cleanup = () => {
    if (run(`test -d ${DIR}`).code !== 0) return;
    stopDovecot();
    ok(
      `if [ -f ${VMAIL_MARKER} ]; then userdel vmail; fi; rm -rf ${DIR} ${DOVECOT_BASE}; rm -rf /var/tmp/mailstack-test-*`,
    );
  };

  it(
    "lookups setup: the pgsql clients are installed and the rendered files are in a scratch dir",
    async () => {
      await runLong("install", INSTALL, SETUP - 30_000);
      stopDovecot();
      ok(`rm -rf ${DIR} && install -d -m 0755 ${DIR} ${POSTFIX_CONF_DIR}`);
      const files: [string, string][] = [
        ...POSTFIX_MAPS.map((m): [string, string] => [`${m}.cf`, renderPostfixMap(DATABASE_SPEC, m)]),
        ["dovecot-sql.conf.ext", renderDovecotSql(DATABASE_SPEC)],
        ["dovecot.conf", DOVECOT_TEST_CONF],
        ["postfix/main.cf", POSTFIX_MAIN_CF],
      ];
      for (const [name, text] of files) ok(`install -m 0644 /dev/stdin ${DIR}/${name}`, text);
      // The userdb answers uid/gid "vmail", which Dovecot resolves; the
      // Dovecot component makes that user, so borrow it only if it is missing.
      ok(
        `id vmail >/dev/null 2>&1 || { useradd --system --home-dir /var/vmail --no-create-home --shell /usr/sbin/nologin vmail && touch ${VMAIL_MARKER}; }`,
      );
      ok(`doveconf -c ${DOVECOT_CONF} -n >/dev/null`);
      ok(
        `dovecot -c ${DOVECOT_CONF} </dev/null >/dev/null 2>&1 &&
         for i in $(seq 50); do [ -S ${DOVECOT_BASE}/auth-client ] && exit 0; sleep 0.2; done; echo "no auth socket" >&2; exit 1`,
      );
      // The daemons' users read exactly what was rendered.
      for (const [name, text] of files) {
        const reader = name.startsWith("dovecot") ? "dovecot" : "postfix";
        expect(run(`runuser -u ${reader} -- cat ${DIR}/${name}`).out, name).toBe(text);
      }
    },
    SETUP,
  );

  const expected: Record<PostfixMap, Record<string, string[] | null>> = {
    virtual_mailbox_domains: {
      "example.test": ["1"],
      "example.org": ["1"],
      // An LDAP domain still receives mail; only its passwords live elsewhere.
      "corp.example.test": ["1"],
      "old.example.test": null,
      "nowhere.test": null,
    },
    virtual_mailbox_maps: {
      "alice@example.test": ["1"],
      "frank@example.org": ["1"],
      "carol@corp.example.test": ["1"],
      "eve@example.test": null,
      "dave@old.example.test": null,
      "sales@example.test": null,
      "nobody@example.test": null,
    },
    virtual_alias_maps: {
      "sales@example.test": ["alice@example.test"],
      "postmaster@example.test": ["alice@example.test"],
      "alice@example.test": ["alice@example.test"],
      "@example.org": ["frank@example.org"],
      "frank@example.org": ["frank@example.org"],
      "x@example.org": null,
      "@example.test": null,
      "eve@example.test": null,
      "dave@old.example.test": null,
      "nobody@example.test": null,
    },
    sender_login_maps: {
      "alice@example.test": ["alice@example.test"],
      "sales@example.test": ["alice@example.test"],
      "bob@example.test": ["bob@example.test"],
      "postmaster@example.test": null,
      "eve@example.test": null,
      "dave@old.example.test": null,
      "nobody@example.test": null,
    },
    // The sandbox's aliases have no loop (the loop case below makes one).
    alias_loops: {
      "sales@example.test": null,
      "alice@example.test": null,
      "alice+news@example.test": null,
      "x@example.org": null,
      "nobody@example.test": null,
      // Keys of access(5) without a domain: Postfix sends no query (%d).
      "example.test": null,
      "alice@": null,
    },
  };
  for (const map of POSTFIX_MAPS) {
    it(`postfix ${map}: answers as the postfix OS user (${POSTFIX_ROLE})`, () => {
      const cases = expected[map];
      const actual = Object.fromEntries(Object.keys(cases).map((k) => [k, lookup(map, k)]));
      expect(actual).toEqual(cases);
    });
  }

  it("postfix catch-all: Postfix's full-address-then-@domain order never swallows a mailbox", () => {
    // What cleanup(8) does with virtual_alias_maps (virtual(5), TABLE SEARCH ORDER).
    const resolve = (address: string) =>
      lookup("virtual_alias_maps", address) ??
      lookup("virtual_alias_maps", address.slice(address.indexOf("@")));
    expect(resolve("x@example.org")).toEqual(["frank@example.org"]);
    expect(resolve("frank@example.org")).toEqual(["frank@example.org"]);
    expect(resolve("alice@example.test")).toEqual(["alice@example.test"]);
    expect(resolve("x@example.test")).toBeNull();
  });

  it("postfix alias_loops: a loop written into the database by hand is named, also for its plus addresses", () => {
    const [a, b] = ["looptest-a@example.test", "looptest-b@example.test"];
    sql(
      `INSERT INTO virtual_aliases (domain_id, source, destination)
       SELECT d.id, v.s, v.d FROM (VALUES ('${a}', '${b}'), ('${b}', '${a}')) AS v (s, d)
       JOIN domains d ON d.domain_name = 'example.test'`,
    );
    try {
      expect(lookup("alias_loops", a)).toEqual([`550 5.4.6 alias loop ${a} -> ${b} -> ${a}`]);
      expect(lookup("alias_loops", b)).toEqual([`550 5.4.6 alias loop ${b} -> ${a} -> ${b}`]);
      expect(lookup("alias_loops", "looptest-a+x@example.test")).toEqual([
        "550 5.4.6 alias loop looptest-a+x@example.test -> looptest-b+x@example.test -> looptest-a+x@example.test",
      ]);
      // The mailbox beside it is untouched.
      expect(lookup("alias_loops", "alice@example.test")).toBeNull();
    } finally {
      sql(`DELETE FROM virtual_aliases WHERE source IN ('${a}', '${b}')`);
    }
    expect(lookup("alias_loops", a)).toBeNull();
  });

  it("postfix maps: only the postfix OS user gets in; root is refused by peer authentication", () => {
    const r = postmap("virtual_mailbox_domains", "example.test", null);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`Peer authentication failed for user "${POSTFIX_ROLE}"`);
  });

  it(
    "dovecot passdb: right password in, wrong password, disabled user, inactive domain and LDAP domain out",
    () => {
      expect(authTest("alice@example.test", "alice-sandbox-pw")).toMatchObject({ code: 0 });
      expect(authTest("alice@example.test", "alice-sandbox-pw").out).toContain("auth succeeded");
      const wrong = authTest("alice@example.test", "not-alice-pw");
      expect([wrong.code, wrong.out.includes("auth failed")]).toEqual([77, true]);
      expect(authTest("dave@old.example.test", "dave-sandbox-pw").code).toBe(77);
      // eve has no hash and carol's is in LDAP: lend them bob's for a moment, so
      // only the enabled and auth_type conditions can keep them out.
      const borrowers = ["eve@example.test", "carol@corp.example.test"];
      const list = borrowers.map((b) => `'${b}'`).join(", ");
      const before = sql(
        `SELECT email, coalesce(password_hash, '') FROM virtual_users WHERE email IN (${list}) ORDER BY email`,
      );
      try {
        sql(
          `UPDATE virtual_users SET password_hash = (SELECT password_hash FROM virtual_users WHERE email = 'bob@example.test') WHERE email IN (${list})`,
        );
        expect(authTest("bob@example.test", "bob-sandbox-pw").code).toBe(0);
        for (const b of borrowers) expect(authTest(b, "bob-sandbox-pw").code, b).toBe(77);
      } finally {
        for (const line of before.split("\n").filter(Boolean)) {
          const [email, hash] = line.split("\t");
          sql(
            `UPDATE virtual_users SET password_hash = ${hash ? `'${hash}'` : "NULL"} WHERE email = '${email}'`,
          );
        }
      }
      expect(
        sql(
          `SELECT email, coalesce(password_hash, '') FROM virtual_users WHERE email IN (${list}) ORDER BY email`,
        ),
      ).toBe(before);
    },
    STEP,
  );

  it(
    "dovecot userdb: home, vmail owner and quota for every mailbox, none for disabled or inactive",
    () => {
      const vmail = ok("id -u vmail").trim();
      expect(userdb("alice@example.test")).toMatchObject({
        home: "/var/vmail/example.test/alice",
        uid: vmail,
        gid: ok("id -g vmail").trim(),
        quota_rule: "*:bytes=1073741824",
      });
      // quota 0 is unlimited, which *:bytes=0 says to the quota plugin.
      expect(userdb("bob@example.test")?.quota_rule).toBe("*:bytes=0");
      expect(userdb("carol@corp.example.test")?.home).toBe("/var/vmail/corp.example.test/carol");
      expect(userdb("eve@example.test")).toBeNull();
      expect(userdb("dave@old.example.test")).toBeNull();

      const listed = ok(`doveadm -c ${DOVECOT_CONF} user '*'`).split("\n").filter(Boolean).sort();
      const enabled = sql(
        `SELECT u.email FROM virtual_users u JOIN domains d ON d.id = u.domain_id WHERE u.enabled AND d.is_active ORDER BY 1`,
      );
      expect(listed).toEqual(enabled.split("\n").filter(Boolean).sort());
      expect(listed).toEqual(expect.arrayContaining(["alice@example.test", "carol@corp.example.test"]));
      expect(listed).not.toContain("eve@example.test");
      expect(listed).not.toContain("dave@old.example.test");
    },
    STEP,
  );

  it(
    `dovecot connects as ${DOVECOT_ROLE}: its auth processes run as dovecot and the log is clean`,
    () => {
      expect(userdb("alice@example.test")).not.toBeNull();
      const users = ok(`ps -eo user=,args= | awk '$2 ~ /^dovecot-mailstack-test\\/auth/ { print $1 }'`)
        .split("\n")
        .filter(Boolean);
      expect(users.length).toBeGreaterThanOrEqual(2); // auth and auth-worker
      expect([...new Set(users)]).toEqual(["dovecot"]);
      const before = lookupBackends(DOVECOT_ROLE);
      expect(before).toBeGreaterThan(0);
      expect(ok(`grep -E 'Error|Fatal|Panic|Warning' ${DOVECOT_LOG} || true`)).toBe("");
      // Its connections go with it: they were this Dovecot's. (The deployed
      // Dovecot may hold connections as the same role, so count the drop.)
      stopDovecot();
      let left = lookupBackends(DOVECOT_ROLE);
      for (let i = 0; i < 20 && left >= before; i++) {
        ok("sleep 0.2");
        left = lookupBackends(DOVECOT_ROLE);
      }
      expect(left).toBeLessThan(before);
    },
    STEP,
  );

  it("the lookup roles can read what the spec grants, and write nothing", () => {
    const as = (osUser: string, role: string, query: string) =>
      run(
        `runuser -u ${osUser} -- psql -XAtq -v ON_ERROR_STOP=1 -d ${DB} -U ${role} -c ${shellQuote(query)}`,
      );
    // Reading works, so the refusals below are the grants speaking, not a failed login.
    expect(as("postfix", POSTFIX_ROLE, "SELECT count(*) > 0 FROM virtual_aliases")).toMatchObject({
      code: 0,
      out: "t\n",
    });
    expect(as("dovecot", DOVECOT_ROLE, "SELECT count(*) > 0 FROM virtual_users")).toMatchObject({
      code: 0,
      out: "t\n",
    });
    const refused: [string, string, string, string][] = [
      ["postfix", POSTFIX_ROLE, "INSERT INTO domains (domain_name) VALUES ('write-test.invalid')", "domains"],
      ["postfix", POSTFIX_ROLE, "UPDATE virtual_users SET enabled = true", "virtual_users"],
      ["postfix", POSTFIX_ROLE, "SELECT password_hash FROM virtual_users", "virtual_users"],
      ["dovecot", DOVECOT_ROLE, "INSERT INTO domains (domain_name) VALUES ('write-test.invalid')", "domains"],
      ["dovecot", DOVECOT_ROLE, "UPDATE virtual_users SET password_hash = NULL", "virtual_users"],
      ["dovecot", DOVECOT_ROLE, "DELETE FROM virtual_users", "virtual_users"],
      ["dovecot", DOVECOT_ROLE, "SELECT destination FROM virtual_aliases", "virtual_aliases"],
    ];
    for (const [osUser, role, query, table] of refused) {
      const r = as(osUser, role, query);
      expect([r.code, r.err.trim()], `${role}: ${query}`).toEqual([
        1,
        expect.stringContaining(`permission denied for table ${table}`),
      ]);
    }
    // Nothing slipped through.
    expect(sql("SELECT count(*) FROM domains WHERE domain_name = 'write-test.invalid'")).toBe("0\n");
  });

  it("lookups cleanup: the test Dovecot stops and the scratch dir goes", () => {
    cleanup();
    expect(run(`test -e ${DIR} || test -e ${DOVECOT_BASE}`).code).toBe(1);
    expect(run("pgrep -f '^dovecot-mailstack-test/'").code).toBe(1);
  });

  // A failed case must not leave the test Dovecot running.
  afterAll(() => {
    try {
      cleanup();
    } catch {
      // the cleanup case reports the failure
    }
  });
}
