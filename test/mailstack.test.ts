import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { dependsOn, flush, parents, recordParents, resources, settle, setup } from "./helpers/mocks";

// Pulumi's wire marker for a secret value.
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";

/** What each package install prints (files/host/packages.sh), by command; every other command prints the OS. */
const INSTALLS: Readonly<Record<string, string>> = {
  "mail-host-packages": "ufw=0.36.2-1\nopenssh-server=1:9.2p1-2+deb12u3\n",
  "mail-db-server": "postgresql=15+248+deb12u2\npostgresql-client=15+248+deb12u2\n",
  "mail-clamav-packages": "clamav-daemon=1.4.6+dfsg-0+deb12u1\nclamav-freshclam=1.4.6+dfsg-0+deb12u1\n",
  "mail-rspamd-packages": "redis-server=5:7.0.15-1~deb12u10\nrspamd=3.4-1\n",
  "mail-postfix-packages": "postfix=3.7.11-0+deb12u1\npostfix-pgsql=3.7.11-0+deb12u1\n",
  "mail-dovecot-packages": "dovecot-core=1:2.3.19.1+dfsg1-2.1+deb12u7\n",
  "mail-web-packages": "nginx=1.22.1-9+deb12u11\n",
  "mail-backup-packages": "cron=3.0pl1-162\nrestic=0.14.0-1+b5\n",
  "mail-fail2ban-rsyslog": "rsyslog=8.2302.0-1+deb12u2\n",
  "mail-fail2ban-packages": "fail2ban=1.0.2-2\n",
  "mail-health-packages": "bind9-dnsutils=1:9.18.41-1~deb12u1\ncron=3.0pl1-162\n",
};
setup((name) => INSTALLS[name] ?? "debian 12 sysv\n");

// Imported after the mocks are set, as Pulumi requires.
let stack: import("../src/mailstack").MailStack;
let pulumi: typeof pulumiType;
const tunnels: unknown[] = [];

beforeAll(async () => {
  pulumi = await import("@pulumi/pulumi");
  const { parseConfig } = await import("../src/config");
  const { MailStack } = await import("../src/mailstack");
  const config = parseConfig({
    values: {
      host: "203.0.113.25",
      hostname: "mail.tlabs.team",
      adminEmail: "postmaster@tlabs.team",
      sshPrivateKey: KEY,
      sshPort: "2222",
      domains: JSON.stringify([{ name: "tlabs.team" }, { name: "tlabs.dev" }]),
      dbAdminPassword: "ADMIN-PASSWORD",
      users: JSON.stringify([{ address: "alice@tlabs.team" }]),
      passwordHashes: JSON.stringify({ "alice@tlabs.team": "{BLF-CRYPT}$2b$05$HASHHASHHASH" }),
      minioEndpoint: "https://minio.tlabs.team:9000",
      minioRootUser: "MINIO-ROOT-USER",
      minioRootPassword: "MINIO-ROOT-PASSWORD",
      backupPassword: "BACKUP-RESTIC-PASSWORD",
      messageSizeLimit: "40MiB",
    },
    secretKeys: new Set([
      "sshPrivateKey",
      "dbAdminPassword",
      "passwordHashes",
      "minioRootUser",
      "minioRootPassword",
      "backupPassword",
    ]),
  });
  stack = new MailStack(
    "mail",
    {
      config,
      privateKey: pulumi.secret(KEY),
      tunnel: async (args, key) => {
        tunnels.push({ ...args, keyMatches: key === KEY });
      },
    },
    { transformations: [recordParents] },
  );
  await settle(stack.versions);
  await flush();
});

const pushes = ["library", "identity", "timezone", "upgrades", "sshd", "firewall"];

describe("MailStack", () => {
  it("registers one component per concern, each named after its parent", () => {
    expect(resources.get("mail-host")?.type).toBe("mailstack:host:MailHost");
    for (const p of pushes) {
      expect(resources.get(`mail-host-${p}`)?.type).toBe("mailstack:push:ConfigPush");
      expect(parents.get(`mail-host-${p}`)).toBe("mail-host");
      expect(resources.get(`mail-host-${p}-apply`)?.type).toBe("command:remote:Command");
      expect(parents.get(`mail-host-${p}-apply`)).toBe(`mail-host-${p}`);
    }
    expect(parents.get("mail-host")).toBe("mail");
    expect(parents.get("mail-db")).toBe("mail");
    expect(resources.get("mail-db")?.type).toBe("mailstack:database:MailDatabase");
    for (const child of [
      "server",
      "settings",
      "migrations",
      "accounts",
      "passwords",
      "provider",
      "database",
    ]) {
      expect(parents.get(`mail-db-${child}`), child).toBe("mail-db");
    }
    expect(parents.get("mail-host-facts")).toBe("mail-host");
    for (const [child, type] of [
      ["tls", "mailstack:tls:BootstrapCertificate"],
      ["postfix", "mailstack:postfix:Postfix"],
      ["dovecot", "mailstack:dovecot:Dovecot"],
    ]) {
      expect(resources.get(`mail-${child}`)?.type).toBe(type);
      expect(parents.get(`mail-${child}`)).toBe("mail");
    }
    for (const p of ["postfix-config", "dovecot-config"]) {
      expect(parents.get(`mail-${p}-apply`)).toBe(`mail-${p}`);
    }
  });

  it("the daemons read the bootstrap certificate and the mail host's name", () => {
    const postfix = resources.get("mail-postfix-config-apply")?.inputs.stdin as string;
    expect(postfix).toContain("\nmyhostname = mail.tlabs.team\n");
    expect(postfix).toContain("\nsmtpd_tls_cert_file = /etc/mailstack/tls/fullchain.pem\n");
    const dovecot = resources.get("mail-dovecot-config-apply")?.inputs.stdin as string;
    expect(dovecot).toContain("\nssl_key = </etc/mailstack/tls/privkey.pem\n");
    expect(dovecot).toContain("postmaster_address = postmaster@tlabs.team\n");
  });

  it("the one message size limit reaches Postfix, Dovecot, Rspamd and clamd, each with its margin", () => {
    const limit = 40 * 2 ** 20;
    const inner = limit + 2 ** 20;
    const stdin = (push: string) => resources.get(`mail-${push}-config-apply`)?.inputs.stdin as string;
    expect(stdin("postfix")).toContain(`\nmessage_size_limit = ${limit}\n`);
    // The loopback relay: the limit, as port 25; its cleanup: the margin.
    expect(stdin("postfix")).toContain(`-o message_size_limit=${limit}\n`);
    expect(stdin("postfix").match(new RegExp(`-o message_size_limit=${inner}\n`, "g"))).toHaveLength(1);
    // Dovecot announces the limit less the 1024 bytes it keeps for its header.
    expect(stdin("dovecot")).toContain(`\nsubmission_max_mail_size = ${limit - 1024}\n`);
    expect(stdin("rspamd")).toContain(`\nmax_message = ${inner};\n`);
    expect(stdin("clamav")).toContain(`\nStreamMaxLength ${inner}\n`);
  });

  it("every remote command gets the key only as a secret connection, never in a command or stdin", () => {
    const commands = [...resources.values()].filter((r) => r.type === "command:remote:Command");
    // host: facts, packages, 6 pushes; database: server, settings, admin password,
    // migrations, accounts, passwords; tls: selfsigned; postfix: preseed, packages,
    // push; dovecot: packages, vmail, push; clamav: packages, signatures, push;
    // rspamd: packages, DKIM key push, push; fail2ban: rsyslog, logs, rotation push,
    // packages, push;
    // web: packages, prepare, push; acme: packages, CA, deploy hook push, issue, renewal;
    // backup: packages, config push, secrets push; health: packages, push.
    expect(commands.length).toBe(pushes.length + 2 + 6 + 1 + 3 + 3 + 3 + 3 + 5 + 3 + 5 + 3 + 2);
    for (const c of commands) {
      const text = JSON.stringify({ create: c.inputs.create, stdin: c.inputs.stdin });
      expect(text).not.toContain("SECRET-KEY-MATERIAL");
      expect(c.inputs.addPreviousOutputInEnv).toBe(false);
      // The engine receives the whole connection wrapped as a secret.
      const wrapped = c.inputs.connection as Record<string, unknown>;
      expect(wrapped[SECRET_SIG]).toBe(SECRET_VALUE);
      const conn = wrapped.value as Record<string, unknown>;
      expect(conn.host).toBe("203.0.113.25");
      expect(conn.port).toBe(2222);
      expect(conn.privateKey).toBe(KEY);
    }
  });

  it("runs nothing on the host before the shell library is there, which needs nothing itself", () => {
    const library = "mail-host-library-apply";
    /** Everything `name` waits for: its dependsOn (a component meaning all under it) and its parent's. */
    const waitsFor = (name: string): Set<string> => {
      const seen = new Set<string>();
      const todo = [name];
      const under = (c: string) => [...parents].filter(([, p]) => p === c).map(([child]) => child);
      for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
        const parent = parents.get(n);
        const next = parent === undefined ? [] : [parent];
        for (let queue = [...(dependsOn.get(n) ?? [])], d = queue.pop(); d !== undefined; d = queue.pop()) {
          next.push(d);
          queue.push(...under(d));
        }
        for (const m of next) {
          if (!seen.has(m)) {
            seen.add(m);
            todo.push(m);
          }
        }
      }
      return seen;
    };
    const commands = [...resources.values()].filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBeGreaterThan(30);
    for (const c of commands) {
      if (c.name !== library) expect(waitsFor(c.name).has(library), c.name).toBe(true);
    }
    expect([...waitsFor(library)].filter((n) => resources.get(n)?.type === "command:remote:Command")).toEqual(
      [],
    );
    const stdin = resources.get(library)?.inputs.stdin as string;
    expect(stdin).toContain("check bash -n /usr/local/lib/mailstack/mailstack.sh\n");
    expect(stdin).not.toMatch(/^(reload|verify) /m);
  });

  it("opens exactly the mission's ports plus SSH in the firewall", () => {
    const stdin = resources.get("mail-host-firewall-apply")?.inputs.stdin as string;
    const rules = stdin
      .split("\n")
      .filter((l) => l.startsWith("allow "))
      .map((l) => l.split(" ")[1]);
    expect(rules).toEqual([
      "25/tcp",
      "80/tcp",
      "443/tcp",
      "465/tcp",
      "587/tcp",
      "993/tcp",
      "995/tcp",
      "2222/tcp",
    ]);
    expect(stack.openPorts.map((p) => p.port)).toEqual([25, 80, 443, 465, 587, 993, 995, 2222]);
  });

  it("checks sshd with sshd -t and listens on the configured port", () => {
    const stdin = resources.get("mail-host-sshd-apply")?.inputs.stdin as string;
    expect(stdin).toContain("check sshd -t\n");
    expect(stdin).toContain("reload svc reload ssh\n");
    expect(stdin).toContain("\nPort 2222\n");
    expect(stdin).toContain("\nPasswordAuthentication no\n");
  });

  it("audit outputs carry every component's package versions, sorted by name, and no secret", async () => {
    const versions = await settle(stack.versions);
    expect(versions.value).toEqual({
      "bind9-dnsutils": "1:9.18.41-1~deb12u1",
      "clamav-daemon": "1.4.6+dfsg-0+deb12u1",
      "clamav-freshclam": "1.4.6+dfsg-0+deb12u1",
      cron: "3.0pl1-162",
      "dovecot-core": "1:2.3.19.1+dfsg1-2.1+deb12u7",
      fail2ban: "1.0.2-2",
      nginx: "1.22.1-9+deb12u11",
      "openssh-server": "1:9.2p1-2+deb12u3",
      postfix: "3.7.11-0+deb12u1",
      "postfix-pgsql": "3.7.11-0+deb12u1",
      postgresql: "15+248+deb12u2",
      "postgresql-client": "15+248+deb12u2",
      "redis-server": "5:7.0.15-1~deb12u10",
      restic: "0.14.0-1+b5",
      rspamd: "3.4-1",
      rsyslog: "8.2302.0-1+deb12u2",
      ufw: "0.36.2-1",
    });
    const names = Object.keys(versions.value);
    expect(names).toEqual([...names].sort());
    expect(versions.secret).toBe(false);
    const os = await settle(stack.os);
    expect(os).toEqual({ value: "debian 12 sysv", secret: false });
    expect(stack.domains).toEqual(["tlabs.dev", "tlabs.team"]);
    expect(JSON.stringify([stack.host, stack.hostname, stack.openPorts, stack.domains])).not.toContain(
      "PRIVATE",
    );
  });

  describe("managed database", () => {
    it("opens the SSH tunnel to the host's PostgreSQL and points the provider at it", () => {
      expect(tunnels).toEqual([
        {
          connection: expect.objectContaining({ host: "203.0.113.25", port: 2222 }),
          localPort: 15432,
          remotePort: 5432,
          keyMatches: true,
        },
      ]);
      const provider = resources.get("mail-db-provider");
      expect(provider?.type).toBe("pulumi:providers:postgresql");
      expect(provider?.inputs).toMatchObject({
        host: "127.0.0.1",
        port: "15432",
        username: "postgres",
        sslmode: "disable",
      });
    });

    it("makes the roles and database of the spec, with secret passwords", () => {
      const owner = resources.get("mail-db-role-techmail");
      expect(owner?.type).toBe("postgresql:index/role:Role");
      expect(owner?.inputs).toMatchObject({ name: "techmail", login: true });
      expect(((owner?.inputs.password ?? {}) as Record<string, unknown>)[SECRET_SIG]).toBe(SECRET_VALUE);
      expect(resources.get("mail-db-owner-password")?.type).toBe(
        "random:index/randomPassword:RandomPassword",
      );
      for (const role of ["postfix_lookup", "dovecot_lookup"]) {
        expect(resources.get(`mail-db-role-${role}`)?.inputs).toMatchObject({ name: role, login: true });
        expect(resources.get(`mail-db-role-${role}`)?.inputs.password).toBeUndefined();
      }
      expect(resources.get("mail-db-database")?.inputs).toMatchObject({
        name: "mailserver",
        owner: "techmail",
      });
      expect(resources.get("mail-db-default-privileges")?.inputs).toMatchObject({
        owner: "techmail",
        privileges: [],
      });
    });

    it("grants the lookup roles SELECT on exactly the spec's columns", () => {
      const grant = resources.get("mail-db-select-postfix_lookup-virtual_users");
      expect(grant?.type).toBe("postgresql:index/grant:Grant");
      expect(grant?.inputs).toMatchObject({
        role: "postfix_lookup",
        objectType: "column",
        objects: ["virtual_users"],
        columns: ["id", "domain_id", "email", "enabled"],
        privileges: ["SELECT"],
      });
      const grants = [...resources.values()].filter((r) => r.name.startsWith("mail-db-select-"));
      expect(grants.map((g) => g.name).sort()).toEqual([
        "mail-db-select-dovecot_lookup-domains",
        "mail-db-select-dovecot_lookup-virtual_users",
        "mail-db-select-postfix_lookup-domains",
        "mail-db-select-postfix_lookup-sender_logins",
        "mail-db-select-postfix_lookup-virtual_aliases",
        "mail-db-select-postfix_lookup-virtual_users",
      ]);
    });

    it("gives mailstack-health the privileges the spec declares, to compare on this host", () => {
      const push = String(resources.get("mail-health-config-apply")?.inputs.stdin);
      expect(push).toMatch(/\nPRIVILEGES_DATABASE='?mailserver'?\n/);
      expect(push).toContain("\npostfix_lookup SELECT column public.virtual_users.email\n");
      expect(push).toContain("\ntechmail SELECT table *\n");
      expect(push).not.toContain("postfix_lookup SELECT column public.virtual_users.password_hash");
      expect(push).toContain("file /usr/local/lib/mailstack/privilege-matrix.sql ");
    });

    it("keeps the admin password and the password hashes secret, and the accounts readable", () => {
      const admin = resources.get("mail-db-admin-password")?.inputs.stdin as Record<string, unknown>;
      expect(admin[SECRET_SIG]).toBe(SECRET_VALUE);
      const passwords = resources.get("mail-db-passwords")?.inputs.stdin as Record<string, unknown>;
      expect(passwords[SECRET_SIG]).toBe(SECRET_VALUE);
      const accounts = resources.get("mail-db-accounts")?.inputs.stdin;
      expect(typeof accounts).toBe("string");
      expect(accounts).toContain("('alice@tlabs.team', 0, true)");
      expect(accounts).not.toContain("HASHHASH");
      const everything = JSON.stringify(
        [...resources.values()].map((r) => [
          r.inputs.create,
          typeof r.inputs.stdin === "string" ? r.inputs.stdin : "",
        ]),
      );
      expect(everything.includes("ADMIN-PASSWORD")).toBe(false);
      expect(everything.includes("HASHHASH")).toBe(false);
    });
  });
});
