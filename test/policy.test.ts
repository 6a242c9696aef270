// The policy pack (policy/): each rule fires on a resource shaped like the
// stack's own (payloads from the real render functions) and passes on a
// compliant one; the real program, run under mocks with the sandbox and prod
// stack files, has no mandatory finding; edits to those real resources make
// each rule fire there too, so no rule passes only because it found nothing;
// and the CrossGuard pack is exactly RULES.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { packArgs, stackOfUrn } from "../policy/pack";
import { evaluate, type PolicyFinding, type PolicyResource, RULES } from "../policy/rules";
import { DATABASE_SPEC } from "../src/concerns/database/spec";
import { cloudflareRecordArgs } from "../src/concerns/dns/component";
import { dovecotFiles } from "../src/concerns/dovecot/render-dovecot";
import { renderFirewallRules } from "../src/concerns/host/render";
import { postfixFiles, renderPostfixMaster } from "../src/concerns/postfix/render";
import { CONFIG_KEYS } from "../src/config";
import { type PushFile, renderPayload } from "../src/core/push";
import { script } from "../src/core/remote";
import { openPorts } from "../src/mailstack";
import { flush, parents, recordParents, resources, setup } from "./helpers/mocks";
import { privateKeyPem, stackFileSettings, standInValues } from "./helpers/stack-files";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const ROOT = path.join(__dirname, "..");

// Private keys made here, PEM: the DKIM keys accepted, and some to refuse.
const pem = privateKeyPem;
const RSA2048 = pem("rsa");
const RSA1024 = pem("rsa", 1024);
const STAND_INS = {
  sshKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
  passwordHash: "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
  dkimKey: RSA2048,
};

// --- resources shaped like the stack's ---------------------------------------

const MAILSTACK = "mailstack:index:MailStack";
const PUSH = "mailstack:push:ConfigPush";
const COMMAND = "command:remote:Command";

function resource(type: string, name: string, props: Record<string, unknown>, parentTypes: string[] = []) {
  return {
    urn: `urn:pulumi:test::mailstack::${[...parentTypes, type].join("$")}::${name}`,
    type,
    name,
    props,
  };
}

/** The Command of a push named `name`, as src/core/push.ts makes it. */
function push(
  name: string,
  files: readonly (Omit<PushFile, "content"> & { content: string })[],
): PolicyResource {
  return resource(
    COMMAND,
    `${name}-apply`,
    { create: script("root", "push/runner.sh", ["mailstack-push"]), stdin: renderPayload(name, {}, files) },
    [MAILSTACK, PUSH],
  );
}

/** The stdin with one file's text replaced (its line count too). */
function replaceFile(stdin: string, file: string, content: string): string {
  const lines = stdin.split("\n");
  const at = lines.findIndex((l) => l.startsWith(`file ${file} `));
  if (at < 0) throw new Error(`no ${file} in the payload`);
  const header = (lines[at] ?? "").split(" ");
  const body = content.slice(0, -1).split("\n");
  const old = Number(header[5]);
  header[5] = String(body.length);
  lines.splice(at, old + 1, header.join(" "), ...body);
  return lines.join("\n");
}

function withStdin(r: PolicyResource, edit: (stdin: string) => string): PolicyResource {
  return { ...r, props: { ...r.props, stdin: edit(String(r.props.stdin)) } };
}

function check(rule: string, r: PolicyResource, stack = "test"): string[] {
  const found = RULES.find((x) => x.name === rule);
  if (!found) throw new Error(`no rule ${rule}`);
  return found.check(r, stack);
}

const firewall = (ports = openPorts(22)) =>
  push("mail-host-firewall", [
    { path: "/etc/mailstack/firewall.rules", content: renderFirewallRules(ports) },
  ]);

const DOVECOT_ARGS = {
  certPath: "/etc/ssl/mail.pem",
  keyPath: "/etc/ssl/mail.key",
  postmaster: "pm@tlabs.team",
};
/** The Dovecot push, each file's text through `edit`. */
const dovecot = (edit: (file: string, text: string) => string = (_, t) => t) =>
  push(
    "mail-dovecot-config",
    dovecotFiles(DOVECOT_ARGS, DATABASE_SPEC).map((f) => ({ ...f, content: edit(f.path, f.content) })),
  );
const postfix = () =>
  push(
    "mail-postfix-config",
    postfixFiles({ hostname: "mail.tlabs.team", certPath: "/c.pem", keyPath: "/k.pem" }, DATABASE_SPEC),
  );
const dkimKeys = (keys: Record<string, string>) =>
  push(
    "mail-rspamd-dkim-keys",
    Object.entries(keys).map(([id, key]) => ({
      path: `/var/lib/rspamd/dkim/${id.replace("/", ".")}.key`,
      content: key,
      secret: true,
    })),
  );
const dnsRecord = (args: Record<string, unknown>) =>
  resource(
    "cloudflare:index/dnsRecord:DnsRecord",
    `mail-dns-${String(args.type)}-${String(args.name)}`,
    args,
    [MAILSTACK, "mailstack:dns:MailDns"],
  );
const dnsComponent = (dmarc?: Record<string, string>) =>
  resource("mailstack:dns:MailDns", "mail-dns", dmarc ? { dmarc } : {}, [MAILSTACK]);

describe("firewall-mail-ports-only", () => {
  it("passes the mail ports and one SSH port", () => {
    expect(check("firewall-mail-ports-only", firewall())).toEqual([]);
    expect(check("firewall-mail-ports-only", firewall(openPorts(2222)))).toEqual([]);
  });

  it("fires on a port beyond the mail set and SSH, naming it and mailstack:sshPort", () => {
    const [m, ...rest] = check(
      "firewall-mail-ports-only",
      firewall([...openPorts(22), { port: 3306, service: "mysql" }]),
    );
    expect(rest).toEqual([]);
    expect(m).toMatch(/opens 3306\/tcp \(mysql\), which is neither a mail port .* nor SSH/);
    expect(m).toContain("mailstack:sshPort");
  });

  it("fires on a second SSH port and on a rule it cannot read", () => {
    expect(
      check("firewall-mail-ports-only", firewall([...openPorts(22), { port: 2222, service: "ssh" }])),
    ).toEqual([expect.stringContaining("opens 22/tcp and 2222/tcp for SSH")]);
    const range = withStdin(firewall(), (s) => s.replace("allow 25/tcp # smtp", "allow 1000:2000/tcp"));
    expect(check("firewall-mail-ports-only", range)).toEqual([
      expect.stringContaining('firewall rule "allow 1000:2000/tcp"'),
    ]);
  });

  it("fires when the firewall push carries no rules file: it cannot pass by finding nothing", () => {
    const empty = push("mail-host-firewall", [
      { path: "/usr/local/sbin/mailstack-firewall", content: "#!/bin/sh\n" },
    ]);
    expect(check("firewall-mail-ports-only", empty)).toEqual([
      expect.stringContaining("carries no /etc/mailstack/firewall.rules"),
    ]);
  });

  it("fires on a port opened with ufw outside the firewall push", () => {
    const r = resource(COMMAND, "mail-web-open", { create: "ufw allow 8080/tcp" }, [MAILSTACK]);
    expect(check("firewall-mail-ports-only", r)).toEqual([
      expect.stringContaining("outside the firewall push"),
    ]);
    const fail2ban = push("mail-fail2ban-config", [
      { path: "/etc/fail2ban/jail.local", content: "banaction = ufw\n" },
    ]);
    expect(check("firewall-mail-ports-only", fail2ban)).toEqual([]);
  });
});

describe("tls-on-client-ports", () => {
  it("passes the Dovecot and Postfix pushes the stack renders", () => {
    expect(check("tls-on-client-ports", dovecot())).toEqual([]);
    expect(check("tls-on-client-ports", postfix())).toEqual([]);
  });

  // Without ssl = required, the STARTTLS listener on 587 no longer requires TLS either.
  const plain587 = expect.stringContaining("inet_listener submission listens on 587 without TLS");

  it("fires when Dovecot's ssl is not required", () => {
    const r = dovecot((_, t) => t.replace("ssl = required", "ssl = yes"));
    expect(check("tls-on-client-ports", r)).toEqual([
      expect.stringMatching(
        /^Dovecot sets ssl = yes in \/etc\/dovecot\/conf.d\/10-ssl.conf: clients may log in/,
      ),
      plain587,
    ]);
  });

  it("fires when no ssl setting is pushed at all", () => {
    const r = dovecot((f, t) => (f.endsWith("/10-ssl.conf") ? "# nothing\n" : t));
    expect(check("tls-on-client-ports", r)).toEqual([
      expect.stringContaining("sets no ssl = required"),
      plain587,
    ]);
  });

  it("fires on an IMAPS, POP3S or submissions listener without implicit TLS", () => {
    for (const port of ["993", "995", "465"]) {
      const r = dovecot((_, t) => t.replace(new RegExp(`port = ${port}\\n\\s*ssl = yes`), `port = ${port}`));
      expect(check("tls-on-client-ports", r), port).toEqual([
        expect.stringContaining(`listens on ${port} without ssl = yes`),
      ]);
    }
  });

  it("fires on plaintext passwords", () => {
    const r = dovecot((_, t) => t.replace("disable_plaintext_auth = yes", "disable_plaintext_auth = no"));
    expect(check("tls-on-client-ports", r)).toEqual([expect.stringContaining("disable_plaintext_auth = no")]);
  });

  it("fires on a Postfix submission listener without TLS, passes one that requires it", () => {
    const listener = (opts: string) =>
      withStdin(postfix(), (s) =>
        replaceFile(
          s,
          "/etc/postfix/master.cf",
          `${renderPostfixMaster()}submission inet n - n - - smtpd${opts}\n`,
        ),
      );
    expect(check("tls-on-client-ports", listener(""))).toEqual([
      expect.stringContaining("Postfix listens on submission (mail-postfix-config) without requiring TLS"),
    ]);
    expect(check("tls-on-client-ports", listener("\n  -o smtpd_tls_security_level=encrypt"))).toEqual([]);
  });

  it("fires when Postfix offers AUTH on port 25 without TLS", () => {
    const r = withStdin(postfix(), (s) => s.replace("smtpd_tls_auth_only = yes", "smtpd_tls_auth_only = no"));
    expect(check("tls-on-client-ports", r)).toEqual([]);
    const auth = withStdin(r, (s) =>
      s.replace("smtpd_sasl_auth_enable = no", "smtpd_sasl_auth_enable = yes"),
    );
    expect(check("tls-on-client-ports", auth)).toEqual([expect.stringContaining("offers AUTH on port 25")]);
  });
});

describe("mail-dns-not-proxied", () => {
  const a = {
    name: "mail.tlabs.team",
    type: "A" as const,
    value: "203.0.113.25",
    zone: "tlabs.team",
    why: "host",
  };

  it("passes the records src/concerns/dns/component.ts makes", () => {
    expect(check("mail-dns-not-proxied", dnsRecord({ ...cloudflareRecordArgs(a, "zone", 3600) }))).toEqual(
      [],
    );
  });

  it("fires on a proxied record, and on an A record that does not say proxied: false", () => {
    const proxied = dnsRecord({ ...cloudflareRecordArgs(a, "zone", 3600), proxied: true });
    expect(check("mail-dns-not-proxied", proxied)).toEqual([
      expect.stringMatching(/^Cloudflare record A mail.tlabs.team is proxied/),
    ]);
    const { proxied: _, ...unsaid } = cloudflareRecordArgs(a, "zone", 3600);
    expect(check("mail-dns-not-proxied", dnsRecord(unsaid))).toEqual([
      expect.stringContaining("is not explicitly unproxied"),
    ]);
  });
});

describe("dkim-key-strength", () => {
  const key = (props: Record<string, unknown>) =>
    resource("tls:index/privateKey:PrivateKey", "mail-dkim-tlabs.team-s1", props, [
      MAILSTACK,
      "mailstack:dkim:DkimKeys",
    ]);

  it("passes generated RSA 2048/4096 and Ed25519 keys", () => {
    for (const props of [
      { algorithm: "RSA", rsaBits: 2048 },
      { algorithm: "RSA", rsaBits: 4096 },
      { algorithm: "ED25519" },
    ]) {
      expect(check("dkim-key-strength", key(props))).toEqual([]);
    }
  });

  it("fires on a generated RSA 1024 or ECDSA key, naming mailstack:dkim", () => {
    expect(check("dkim-key-strength", key({ algorithm: "RSA", rsaBits: 1024 }))).toEqual([
      expect.stringMatching(/is RSA of 1024 bits.*mailstack:dkim/),
    ]);
    expect(check("dkim-key-strength", key({ algorithm: "ECDSA", ecdsaCurve: "P256" }))).toEqual([
      expect.stringContaining("is ECDSA"),
    ]);
  });

  it("passes pushed RSA 2048 and Ed25519 keys; fires on weak ones, naming the mailstack:dkimPrivateKeys entry", () => {
    expect(
      check("dkim-key-strength", dkimKeys({ "tlabs.team/s1": RSA2048, "tlabs.team/s2": pem("ed25519") })),
    ).toEqual([]);
    expect(
      check("dkim-key-strength", dkimKeys({ "tlabs.team/s1": RSA1024, "a.tlabs.team/s2": pem("ec") })),
    ).toEqual([
      expect.stringContaining(`'mailstack:dkimPrivateKeys["tlabs.team/s1"]'`),
      expect.stringMatching(/a\.tlabs\.team\/s2 is a ec key/),
    ]);
  });

  it("fires when the key push holds no key", () => {
    const readme = push("mail-rspamd-dkim-keys", [{ path: "/var/lib/rspamd/dkim/README", content: "x\n" }]);
    for (const r of [dkimKeys({}), readme]) {
      expect(check("dkim-key-strength", r)).toEqual([expect.stringContaining("carries no key under")]);
    }
  });
});

describe("no-secret-in-command", () => {
  const cmd = (props: Record<string, unknown>) => resource(COMMAND, "mail-x", props, [MAILSTACK]);

  it("passes every script of files/ as the stack runs it, and references to secrets", () => {
    const scripts = fs
      .readdirSync(path.join(ROOT, "files"), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".sh"));
    expect(scripts.length).toBeGreaterThan(10);
    for (const f of scripts)
      expect(check("no-secret-in-command", cmd({ create: script("root", f) })), f).toEqual([]);
    for (const create of [
      'PGPASSWORD="$pw" psql -h 127.0.0.1',
      "RESTIC_PASSWORD_FILE=/etc/mailstack/restic.pw restic snapshots",
      "mc alias set backup http://10.213.0.1:9000",
    ]) {
      expect(check("no-secret-in-command", cmd({ create })), create).toEqual([]);
    }
  });

  it("fires on a private key, a password hash, a password, a token, URL credentials and an S3 key", () => {
    const cases: [string, Record<string, unknown>][] = [
      ["a PEM private key", { create: `printf %s '${RSA2048}' > /etc/key` }],
      ["a password hash", { update: `doveadm auth test alice '${STAND_INS.passwordHash}'` }],
      ["a password, secret or token assignment", { create: "PGPASSWORD=hunter2hunter2 psql -h db" }],
      [
        "a password, secret or token assignment",
        { environment: { RESTIC_PASSWORD: "correct-horse-battery" } },
      ],
      ["a password or token option", { delete: "certbot --dns-cloudflare --token abcdefabcdef1234" }],
      ["credentials in a URL", { create: "psql postgres://techmail:s3cret@127.0.0.1/mailserver" }],
      ["a bearer token", { create: "curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345'" }],
      ["an AWS-style access key id", { create: "restic -o s3.key=AKIAIOSFODNN7EXAMPLE backup" }],
    ];
    for (const [what, props] of cases) {
      const found = check("no-secret-in-command", cmd(props));
      expect(found, what).toContainEqual(expect.stringContaining(`holds ${what}`));
      expect(found.join(" "), what).toContain("mailstack:");
    }
  });
});

describe("dmarc-enforced-in-prod", () => {
  const none = { "_dmarc.tlabs.team": "v=DMARC1; p=none; adkim=r; aspf=r" };

  it("passes quarantine in prod, and p=none anywhere but prod", () => {
    expect(
      check(
        "dmarc-enforced-in-prod",
        dnsComponent({ "_dmarc.tlabs.team": "v=DMARC1; p=quarantine" }),
        "prod",
      ),
    ).toEqual([]);
    expect(check("dmarc-enforced-in-prod", dnsComponent(none), "sandbox")).toEqual([]);
  });

  it("fires on p=none in prod, from the DNS component and from a Cloudflare record", () => {
    expect(check("dmarc-enforced-in-prod", dnsComponent(none), "prod")).toEqual([
      expect.stringMatching(/^_dmarc.tlabs.team publishes DMARC p=none in prod.*mailstack:dmarc.policy/),
    ]);
    const txt = dnsRecord({ name: "_dmarc.tlabs.team", type: "TXT", content: '"v=DMARC1; p=none; adkim=r"' });
    expect(check("dmarc-enforced-in-prod", txt, "prod")).toEqual([expect.stringContaining("p=none in prod")]);
  });

  it("fires in prod when the DNS component carries no DMARC records", () => {
    expect(check("dmarc-enforced-in-prod", dnsComponent(), "prod")).toEqual([
      expect.stringContaining("carries no DMARC records"),
    ]);
  });
});

// --- the real program under mocks ---------------------------------------------

/** Secret values unwrapped, as @pulumi/policy hands inputs to a policy. */
function unwrap(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrap);
  if (typeof v !== "object" || v === null) return v;
  if (SECRET_SIG in v && "value" in v) return unwrap(v.value);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
}

/** The URN the engine gives a resource: its parents' types, the stack's excepted. */
function urnOf(stack: string, name: string): string {
  const types: string[] = [];
  for (let n: string | undefined = name; n !== undefined; n = parents.get(n)) {
    const type = resources.get(n)?.type;
    if (type !== undefined && type !== "pulumi:pulumi:Stack") types.unshift(type);
  }
  return `urn:pulumi:${stack}::mailstack::${types.join("$")}::${name}`;
}

// The sandbox's files on the deploying machine (deploy key, ACME CA, LDAP
// password) are made by scripts/sandbox.sh; stand-ins live in a scratch HOME.
const HOME = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-policy-"));
for (const [file, text] of [
  ["id_ed25519", STAND_INS.sshKey],
  ["acme/ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
  ["ldap-bind-pw", "stand-in\n"],
] as const) {
  fs.mkdirSync(path.dirname(path.join(HOME, ".cache/mailstack/sandbox", file)), { recursive: true });
  fs.writeFileSync(path.join(HOME, ".cache/mailstack/sandbox", file), text);
}

afterAll(() => fs.rmSync(HOME, { recursive: true, force: true }));

const SECRET_KEYS = Object.entries(CONFIG_KEYS)
  .filter(([, spec]) => "secret" in spec && spec.secret)
  .map(([k]) => `mailstack:${k}`);

/** What the mocked commands print: package versions, a certificate summary (TLSA needs its key hash), the OS. */
function stdout(name: string): string {
  if (name.endsWith("-packages")) return "ufw=0.36.2-1\n";
  if (name.endsWith("-issue") || name.endsWith("-selfsigned"))
    return `DNS:mail.example.test\nspki-sha256 ${"0f".repeat(32)}\n`;
  return "debian 12 sysv\n";
}

/** Runs index.ts as `stack` with its stack file's settings (edited by `edit`); every resource it registers. */
async function runProgram(stack: string, edit: (values: Record<string, string>) => void = () => undefined) {
  resources.clear();
  parents.clear();
  setup(stdout, stack);
  const values = standInValues(stackFileSettings(`Pulumi.${stack}.yaml`), STAND_INS);
  edit(values);
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(values).map(([k, v]) => [`mailstack:${k}`, v])),
    SECRET_KEYS,
  );
  // Managed mode's SSH tunnel would listen on this machine; nothing here connects to it.
  vi.doMock("../src/core/tunnel", () => ({ startTunnel: async () => undefined }));
  vi.resetModules();
  const home = process.env.HOME;
  process.env.HOME = HOME;
  try {
    await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation(recordParents);
      return { ...(await import("../index")) };
    });
  } finally {
    process.env.HOME = home;
  }
  await flush();
  return [...resources.values()].map(
    (r): PolicyResource => ({
      urn: urnOf(stack, r.name),
      type: r.type,
      name: r.name,
      props: unwrap(r.inputs) as Record<string, unknown>,
    }),
  );
}

const mandatory = (f: readonly PolicyFinding[]) => f.filter((x) => x.enforcementLevel === "mandatory");

function edited(all: readonly PolicyResource[], name: string, edit: (r: PolicyResource) => PolicyResource) {
  const r = all.find((x) => x.name === name);
  if (!r) throw new Error(`the program registered no ${name}`);
  return all.map((x) => (x === r ? edit(x) : x));
}

describe("the real program", () => {
  let sandbox: PolicyResource[];
  let prod: PolicyResource[];
  let prodCloudflare: PolicyResource[];

  beforeAll(async () => {
    sandbox = await runProgram("sandbox");
    prod = await runProgram("prod");
    prodCloudflare = await runProgram("prod", (v) => {
      v.dnsProvider = "cloudflare";
      v.cloudflareApiToken = "stand-in-cloudflare-token";
      v.cloudflareZoneIds = JSON.stringify({ "tlabs.team": "023e105f4ecef8ad9ca31a8372d0c353" });
      v.mailIpv4 = "203.0.113.25";
      v.dmarc = JSON.stringify({ policy: "none" });
    });
  }, 120_000);

  it("has no finding on the sandbox and prod stack files", () => {
    expect(sandbox.length).toBeGreaterThan(60);
    expect(prod.some((r) => r.type.startsWith("postgresql:"))).toBe(true);
    expect(evaluate(sandbox, "sandbox")).toEqual([]);
    expect(evaluate(prod, "prod")).toEqual([]);
  });

  it("prod on Cloudflare with DMARC p=none: advisories only, from the component and the record", () => {
    expect(
      prodCloudflare.filter((r) => r.type === "cloudflare:index/dnsRecord:DnsRecord").length,
    ).toBeGreaterThan(5);
    const found = evaluate(prodCloudflare, "prod");
    expect(mandatory(found)).toEqual([]);
    expect(found.map((f) => [f.rule, f.urn.split("::").pop()])).toEqual([
      ["dmarc-enforced-in-prod", "mail-dns"],
      ["dmarc-enforced-in-prod", "mail-dns-txt-_dmarc.tlabs.team"],
    ]);
  });

  it("fires on the real firewall push with a port beyond the mail set", () => {
    const all = edited(sandbox, "mail-host-firewall-apply", (r) =>
      withStdin(r, (s) => s.replace("allow 80/tcp # http (ACME challenges)", "allow 8080/tcp # http-alt")),
    );
    expect(mandatory(evaluate(all, "sandbox")).map((f) => f.rule)).toEqual(["firewall-mail-ports-only"]);
  });

  it("fires on the real Dovecot push without ssl = required", () => {
    const all = edited(sandbox, "mail-dovecot-config-apply", (r) =>
      withStdin(r, (s) => s.replace("ssl = required", "ssl = yes")),
    );
    const found = mandatory(evaluate(all, "sandbox"));
    expect(found.map((f) => f.rule)).toEqual(["tls-on-client-ports", "tls-on-client-ports"]);
    expect(found.map((f) => f.message)).toEqual([
      expect.stringContaining("Dovecot sets ssl = yes in /etc/dovecot/conf.d/10-ssl.conf"),
      expect.stringContaining("inet_listener submission listens on 587 without TLS"),
    ]);
  });

  it("fires on the real DKIM key push with a weak imported key, and on a weak generated key in prod", () => {
    const all = edited(sandbox, "mail-rspamd-dkim-keys-apply", (r) =>
      withStdin(r, (s) => replaceFile(s, "/var/lib/rspamd/dkim/example.org.s2026a.key", RSA1024)),
    );
    expect(mandatory(evaluate(all, "sandbox")).map((f) => f.message)).toEqual([
      expect.stringContaining(`'mailstack:dkimPrivateKeys["example.org/s2026a"]'`),
    ]);
    const key = prod.find((r) => r.type === "tls:index/privateKey:PrivateKey");
    expect(key?.urn).toContain("mailstack:dkim:DkimKeys$tls:index/privateKey:PrivateKey");
    const weak = edited(prod, key?.name ?? "", (r) => ({ ...r, props: { ...r.props, rsaBits: 1024 } }));
    expect(mandatory(evaluate(weak, "prod")).map((f) => f.rule)).toEqual(["dkim-key-strength"]);
  });

  it("fires on a real command that carries a secret push's payload in its create string", () => {
    const secret = sandbox.find((r) => r.name === "mail-rspamd-dkim-keys-apply");
    const all = edited(sandbox, "mail-host-facts", (r) => ({
      ...r,
      props: { ...r.props, create: `${String(r.props.create)} <<'EOF'\n${String(secret?.props.stdin)}\nEOF` },
    }));
    expect(new Set(mandatory(evaluate(all, "sandbox")).map((f) => f.rule))).toEqual(
      new Set(["no-secret-in-command"]),
    );
  });

  it("fires on a real Cloudflare record of the mail host that is proxied", () => {
    const all = edited(prodCloudflare, "mail-dns-a-mail.tlabs.team", (r) => ({
      ...r,
      props: { ...r.props, proxied: true },
    }));
    expect(mandatory(evaluate(all, "prod")).map((f) => f.rule)).toEqual(["mail-dns-not-proxied"]);
  });
});

// --- the CrossGuard pack ------------------------------------------------------

describe("the policy pack", () => {
  it("is exactly RULES, each with its enforcement level", () => {
    expect(packArgs.policies.map((p) => [p.name, p.description, p.enforcementLevel])).toEqual(
      RULES.map((r) => [r.name, r.description, r.enforcementLevel]),
    );
    expect(new Set(RULES.map((r) => r.enforcementLevel))).toEqual(new Set(["mandatory", "advisory"]));
    expect(RULES.filter((r) => r.enforcementLevel === "advisory").map((r) => r.name)).toEqual([
      "dmarc-enforced-in-prod",
    ]);
  });

  it("reports each rule's messages for the resource's stack, read from its URN", () => {
    const r = dnsComponent({ "_dmarc.tlabs.team": "v=DMARC1; p=none" });
    const reported = (urn: string) => {
      const out: string[] = [];
      for (const p of packArgs.policies as ResourceValidationPolicy[]) {
        const validate = p.validateResource;
        if (typeof validate !== "function") throw new Error(`${p.name} has no single validateResource`);
        const args = { ...r, urn, opts: {}, stackTags: new Map(), getConfig: () => ({}) } as unknown;
        validate(args as ResourceValidationArgs, (m) => out.push(`${p.name}: ${m ?? ""}`));
      }
      return out;
    };
    expect(reported(r.urn.replace(":test::", ":prod::"))).toEqual([
      expect.stringMatching(/^dmarc-enforced-in-prod: _dmarc.tlabs.team publishes DMARC p=none in prod/),
    ]);
    expect(reported(r.urn)).toEqual([]);
    expect(stackOfUrn("urn:pulumi:sandbox::mailstack::pulumi:pulumi:Stack::mailstack-sandbox")).toBe(
      "sandbox",
    );
    expect(() => stackOfUrn("mail-dns")).toThrow('"mail-dns" is not a Pulumi URN');
  });

  it("loads from the project's node_modules and reports the project's version", () => {
    const yaml = fs.readFileSync(path.join(ROOT, "policy", "PulumiPolicy.yaml"), "utf8");
    expect(yaml).toMatch(/^runtime: nodejs$/m);
    const version = (f: string) => JSON.parse(fs.readFileSync(path.join(ROOT, f), "utf8")).version;
    expect(version("policy/package.json")).toBe(version("package.json"));
    expect(fs.existsSync(path.join(ROOT, "policy", "node_modules"))).toBe(false);
    expect(require.resolve("@pulumi/policy", { paths: [path.join(ROOT, "policy")] })).toContain(
      fs.realpathSync(path.join(ROOT, "node_modules")),
    );
  });
});
