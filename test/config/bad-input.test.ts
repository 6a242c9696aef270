// Bad input through the real engine: each case is the sandbox stack's config
// with one setting broken, on a throwaway stack in a throwaway file backend
// (never the sandbox's state). `pulumi preview` must fail naming the setting
// and the fix, `pulumi up` must fail the same way, the state must hold no
// resource but the stack itself, and the program must never connect to the
// mail host: the stack's host is a fake one on loopback that counts the
// connections it gets. Needs the built toolchain (`npm test`, or
// `source scripts/pulumi-env.sh`); not the sandbox host.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, it } from "vitest";
import { NAMESPACE } from "../../src/core/settings";
import { ROOT } from "../../src/core/template";
import { requireToolchain, sandboxStackSettings, writeStackFile } from "../helpers/engine";

const STEP = 3 * 60_000;
/** Stacks at work at once: each preview or up keeps about one core busy. */
const SLOTS = 2;
const RUN = crypto.randomBytes(3).toString("hex");
const UNSET = Symbol("unset");

interface BadInput {
  /** What is wrong, as the test's name. */
  readonly what: string;
  /** The setting the error names first (without the namespace). */
  readonly key: string;
  /** Over the sandbox's config: objects merge, anything else replaces; UNSET removes. */
  readonly set?: Readonly<Record<string, unknown>>;
  /** Entries added to the sandbox's lists. */
  readonly append?: Readonly<Record<string, readonly unknown[]>>;
  /** Set with `pulumi config set --secret --path`: never to appear in any output. */
  readonly secret?: Readonly<Record<string, string>>;
  /** A plain value that belongs to a secret setting: never to appear in any output either. */
  readonly hidden?: string;
  /** The reason and the fix the message must give. */
  readonly expect: RegExp;
  /** Refused by Pulumi's own check of Pulumi.yaml's types, before the program runs. */
  readonly typeCheck?: boolean;
}

const pem = (key: crypto.KeyObject): string => key.export({ type: "pkcs8", format: "pem" }).toString();
const ed25519 = () => pem(crypto.generateKeyPairSync("ed25519").privateKey);
const WEAK_DKIM_KEY = pem(crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey);
const STALE_DKIM_KEY = ed25519();
const DEPLOY_KEY = ed25519();

const CASES: readonly BadInput[] = [
  // Pulumi.yaml declares each setting's type; the engine checks it first.
  {
    what: "a port that is no number",
    key: "sshPort",
    set: { sshPort: "twenty-two" },
    expect: /configuration key 'sshPort' must be of type 'integer'/,
    typeCheck: true,
  },
  {
    what: "a boolean written as yes",
    key: "greylisting",
    set: { greylisting: "yes" },
    expect: /configuration key 'greylisting' must be of type 'boolean'/,
    typeCheck: true,
  },
  // Settings that do not exist, or are missing.
  {
    what: "a misspelt setting",
    key: "sshport",
    set: { sshport: "22" },
    expect: /did you mean mailstack:sshPort\? remove it with: pulumi config rm mailstack:sshport/,
  },
  {
    what: "the host name left out",
    key: "hostname",
    set: { hostname: UNSET },
    expect: /is missing configuration value 'hostname'/,
    typeCheck: true,
  },
  // SSH and the host.
  {
    what: "a host with a space",
    key: "host",
    set: { host: "mail host.example.test" },
    expect: /is neither an IP address nor a host name/,
  },
  {
    what: "a port above 65535",
    key: "sshPort",
    set: { sshPort: "70000" },
    expect:
      /"70000" is not a TCP port \(a whole number from 1 to 65535\)\. Fix: pulumi config set mailstack:sshPort 22/,
  },
  {
    what: "SSH on the submission port",
    key: "sshPort",
    set: { sshPort: "587" },
    expect: /value 587 collides with a mail port/,
  },
  {
    what: "sshd options that undo the hardening",
    key: "sshdOptions",
    set: { sshdOptions: { PasswordAuthentication: "yes" } },
    expect: /sets PasswordAuthentication, which the stack manages for hardening; remove it/,
  },
  {
    what: "a deploy key both in config and by path",
    key: "sshPrivateKeyPath",
    secret: { sshPrivateKey: DEPLOY_KEY },
    expect:
      /is set together with mailstack:sshPrivateKey; keep one\. Fix: pulumi config rm mailstack:sshPrivateKeyPath/,
  },
  {
    what: "an OS the stack does not support",
    key: "os",
    set: { os: "debian11" },
    expect: /"debian11" is not debian12 or ubuntu2204\. Fix: pulumi config set mailstack:os/,
  },
  // Domains and accounts.
  {
    what: "an operator address without a real domain",
    key: "adminEmail",
    set: { adminEmail: "ops@localhost" },
    expect: /has a domain "localhost" that is not fully qualified/,
  },
  {
    what: "an LDAP domain without its base DN",
    key: "domains",
    append: { domains: [{ name: "staff.example.test", authType: "ldap" }] },
    expect: /an ldap domain needs ldapBaseDn/,
  },
  {
    what: "a user in a domain the host does not serve",
    key: "users",
    append: { users: [{ address: "zed@example.net" }] },
    expect: /address "zed@example\.net" is not in a domain of mailstack:domains/,
  },
  {
    what: "an alias to no address",
    key: "aliases",
    append: { aliases: [{ source: "info@example.test", destination: "alice" }] },
    expect: /destination "alice" is not an address of the form local@domain/,
  },
  {
    what: "an alias loop",
    key: "aliases",
    append: {
      aliases: [
        { source: "loop-a@example.test", destination: "loop-b@example.test" },
        { source: "loop-b@example.test", destination: "loop-a@example.test" },
      ],
    },
    expect:
      /has a loop, loop-a@example\.test -> loop-b@example\.test -> loop-a@example\.test: .* Fix: pulumi config set --path 'aliases\[N\]\.destination'/,
  },
  {
    what: "a password that is no hash",
    key: "passwordHashes",
    secret: { 'passwordHashes["carol@corp.example.test"]': "{PLAIN}carol-local-pw" },
    expect: /the hash for carol@corp\.example\.test is not a Dovecot \{ARGON2ID\} or \{BLF-CRYPT\} hash/,
  },
  {
    what: "an LDAP URI with a path",
    key: "ldapUri",
    set: { ldapUri: "ldap://10.213.0.3/dc=corp,dc=example,dc=test" },
    expect: /give only scheme, host and optional port/,
  },
  // DKIM.
  {
    what: "a DKIM algorithm that does not exist",
    key: "dkim",
    set: {
      dkim: {
        "example.org": {
          selectors: [
            { name: "s2026a", source: "import" },
            { name: "s2026c", algorithm: "rsa1024" },
          ],
        },
      },
    },
    expect: /selector "s2026c" has algorithm "rsa1024", not rsa2048, rsa4096, ed25519/,
  },
  {
    what: "signing with a selector that is not listed",
    key: "dkim",
    set: { dkim: { "example.org": { sign: "s2026z" } } },
    expect:
      /sign "s2026z" is not one of its selectors \(s2026a\)\. Fix: pulumi config set --path 'dkim\["example\.org"\]\.sign' s2026a/,
  },
  {
    what: "an imported DKIM key that is too short",
    key: "dkimPrivateKeys",
    secret: { 'dkimPrivateKeys["example.org/s2026a"]': WEAK_DKIM_KEY },
    expect: /example\.org\/s2026a"\]? is an RSA key of 1024 bits; DKIM needs 2048 or more/,
  },
  {
    what: "an imported DKIM key no selector uses",
    key: "dkimPrivateKeys",
    secret: { 'dkimPrivateKeys["example.org/s2025"]': STALE_DKIM_KEY },
    expect:
      /has a key for "example\.org\/s2025", which no selector of mailstack:dkim imports \(a stale secret\)/,
  },
  // The mail core.
  {
    what: "a message size limit in decimal megabytes",
    key: "messageSizeLimit",
    set: { messageSizeLimit: "35MB" },
    expect:
      /value "35MB" is ambiguous: MB can mean 10\^6 or 2\^20 bytes; write 35MiB for 36700160 bytes, or the number of bytes\. Fix: pulumi config set mailstack:messageSizeLimit 50MiB/,
  },
  {
    what: "a message size limit too small for mail",
    key: "messageSizeLimit",
    set: { messageSizeLimit: "512K" },
    expect: /value "512K" is 524288 bytes, less than 1 MiB/,
  },
  // Filtering, Fail2ban, DNS and TLS.
  {
    what: "a reject score below the add-header score",
    key: "spamActions",
    set: { spamActions: { reject: 5 } },
    expect: /addHeader must be below reject/,
  },
  {
    what: "a ban time in words",
    key: "fail2ban",
    set: { fail2ban: { banTime: "20 minutes" } },
    expect: /banTime "20 minutes" must be a time such as 600, 30s, 10m, 1h, 1d or 1w/,
  },
  {
    what: "a DMARC policy that does not exist",
    key: "dmarc",
    set: { dmarc: { policy: "block" } },
    expect: /policy "block" must be none, quarantine or reject/,
  },
  {
    what: "an ACME directory over plain http",
    key: "acmeServer",
    set: { acmeServer: "http://10.213.0.1:14000/dir" },
    expect: /must be an https:\/\/ URL \(ACME runs over HTTPS only\)/,
  },
  {
    what: "DNS-01 challenges without a Cloudflare token",
    key: "cloudflareApiToken",
    set: { acmeChallenge: "dns-01" },
    expect: /is required with acmeChallenge dns-01 but not set/,
  },
  // Backups and storage.
  {
    what: "a storage mode that does not exist",
    key: "storageMode",
    set: { storageMode: "s3" },
    expect: /"s3" is not minio, external or none/,
  },
  {
    what: "a MinIO setting in external mode",
    key: "minioEndpoint",
    set: { minioEndpoint: "http://10.213.0.1:9000" },
    expect:
      /is a setting of storageMode minio, but storageMode is external\. Fix: pulumi config rm mailstack:minioEndpoint/,
  },
  {
    what: "an S3 endpoint with credentials in it",
    key: "s3Endpoint",
    set: { s3Endpoint: "http://backup:leaked-in-url@10.213.0.1:9000" },
    hidden: "leaked-in-url",
    expect: /value \(not shown\) holds credentials/,
  },
  {
    what: "the backup password set without --secret",
    key: "backupPassword",
    set: { backupPassword: "plain-text-restic-password" },
    hidden: "plain-text-restic-password",
    expect:
      /is stored in plain text but must be a secret\. Fix: pulumi config rm mailstack:backupPassword, then pulumi config set --secret/,
  },
  {
    what: "a short backup password",
    key: "backupPassword",
    secret: { backupPassword: "short-pw" },
    expect: /value \(secret, not shown\) is shorter than 16 characters/,
  },
  {
    what: "backups that keep no snapshot",
    key: "backup",
    set: { backup: { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 } },
    expect: /are all 0, which would delete every snapshot/,
  },
  {
    what: "an obox cache that is no size",
    key: "obox",
    set: { mailStorage: "obox", obox: { cacheSize: "lots", allowHttp: true } },
    expect: /cacheSize "lots" must be a size such as 512M or 2G/,
  },
];

/** `base` with `over` merged in: objects recursively, anything else replaced, UNSET removed. */
function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === UNSET) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/** What of a secret must never show: the value, or each line of a PEM's body. */
function secretParts(secret: string): string[] {
  return secret.includes("\n")
    ? secret.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"))
    : [secret];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * One stack at work, with its own fake mail host: a TCP listener on loopback
 * that counts the connections it gets and drops them.
 */
interface Slot {
  readonly stackName: string;
  stack: Stack;
  readonly server: net.Server;
  readonly port: number;
  connections: number;
  /** Called on each connection (the running case stops its engine then). */
  onConnect: () => void;
}

interface Outcome {
  readonly preview: string;
  readonly up: string;
  /** Types of the resources in the state after the up. */
  readonly resources: readonly string[];
  readonly connections: number;
  readonly ms: number;
}

let dir = "";
let envVars: Record<string, string> = {};
const idle: Slot[] = [];
const waiting: ((s: Slot) => void)[] = [];
const times: { what: string; ms: number }[] = [];
let started = 0;

const namespaced = (o: Readonly<Record<string, unknown>>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [`${NAMESPACE}:${k}`, v]));

/** The sandbox's config on the slot's fake host, with the case's changes. */
function stackFile(slot: Slot, c?: BadInput): string {
  const settings = sandboxStackSettings();
  // The fake host, and throwaway files where the sandbox reads its own.
  const local = namespaced({
    host: "127.0.0.1",
    sshPort: String(slot.port),
    sshPrivateKeyPath: path.join(dir, "deploy-key"),
    ldapBindPasswordPath: path.join(dir, "ldap-bind-pw"),
    acmeCaBundlePath: UNSET,
  });
  const config = merge(merge(settings.config, local), namespaced(c?.set ?? {})) as Record<string, unknown>;
  for (const [k, items] of Object.entries(namespaced(c?.append ?? {}))) {
    config[k] = [...((config[k] as unknown[] | undefined) ?? []), ...(items as unknown[])];
  }
  return writeStackFile(slot.stackName, { encryptionsalt: settings.encryptionsalt, config });
}

async function newSlot(i: number): Promise<Slot> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const slot: Slot = {
    stackName: `bad-input-${RUN}-${i}`,
    stack: undefined as unknown as Stack,
    server,
    port: (server.address() as net.AddressInfo).port,
    connections: 0,
    onConnect: () => {},
  };
  server.on("connection", (socket) => {
    slot.connections++;
    socket.destroy();
    slot.onConnect();
  });
  await freshStack(slot);
  return slot;
}

/** (Re)makes the slot's stack with an empty state. */
async function freshStack(slot: Slot): Promise<void> {
  if (slot.stack) await slot.stack.workspace.removeStack(slot.stackName, { force: true });
  const file = stackFile(slot);
  slot.stack = await LocalWorkspace.createStack(
    { stackName: slot.stackName, workDir: path.dirname(file) },
    { envVars },
  );
}

async function withSlot<T>(run: (s: Slot) => Promise<T>): Promise<T> {
  const slot = idle.pop() ?? (await new Promise<Slot>((resolve) => waiting.push(resolve)));
  try {
    return await run(slot);
  } finally {
    const next = waiting.shift();
    if (next) next(slot);
    else idle.push(slot);
  }
}

/** One case: its config on a slot's stack, a preview, an up, and the state afterwards. */
async function attempt(c: BadInput): Promise<Outcome> {
  return withSlot(async (slot) => {
    const t0 = Date.now();
    stackFile(slot, c);
    for (const [k, value] of Object.entries(c.secret ?? {})) {
      await slot.stack.setConfig(`${NAMESPACE}:${k}`, { value, secret: true }, true);
    }
    const abort = new AbortController();
    // Any connection means the program reached for the host: stop at once.
    slot.onConnect = () => abort.abort();
    const before = slot.connections;
    const failure = (err: Error) => err.message;
    try {
      const preview = await slot.stack
        .preview({ signal: abort.signal })
        .then(() => "preview succeeded", failure);
      const up = await slot.stack.up({ signal: abort.signal }).then(() => "up succeeded", failure);
      const state = (await slot.stack.exportStack()).deployment as { resources?: { type: string }[] };
      const resources = (state.resources ?? []).map((r) => r.type);
      // A case that left resources behind must not spoil the next one on this stack.
      if (resources.some((t) => t !== "pulumi:pulumi:Stack")) await freshStack(slot);
      return { preview, up, resources, connections: slot.connections - before, ms: Date.now() - t0 };
    } finally {
      slot.onConnect = () => {};
    }
  });
}

beforeAll(async () => {
  requireToolchain();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-bad-input-"));
  fs.mkdirSync(path.join(dir, "state"));
  fs.writeFileSync(path.join(dir, "deploy-key"), DEPLOY_KEY, { mode: 0o600 });
  fs.writeFileSync(path.join(dir, "ldap-bind-pw"), "throwaway-bind-pw", { mode: 0o600 });
  // Its own backend: the sandbox's state is never read or written.
  envVars = { PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}` };
  started = Date.now();
  idle.push(...(await Promise.all(Array.from({ length: SLOTS }, (_, i) => newSlot(i)))));
}, STEP);

afterAll(async () => {
  const total = Date.now() - started;
  for (const slot of idle) {
    await slot.stack.workspace.removeStack(slot.stackName, { force: true });
    fs.rmSync(path.join(ROOT, `Pulumi.${slot.stackName}.yaml`), { force: true });
    await new Promise((resolve) => slot.server.close(resolve));
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (times.length > 0) {
    const slowest = [...times].sort((a, b) => b.ms - a.ms)[0];
    console.log(
      `bad input: ${times.length} cases in ${(total / 1000).toFixed(1)} s with ${SLOTS} stacks at once; slowest: ${slowest?.what}, ${((slowest?.ms ?? 0) / 1000).toFixed(1)} s`,
    );
  }
}, STEP);

describe("bad input fails at preview with the setting and the fix, and nothing is deployed", () => {
  for (const c of CASES) {
    it.concurrent(
      `${c.what} (mailstack:${c.key})`,
      async ({ expect }) => {
        const o = await attempt(c);
        times.push({ what: c.what, ms: o.ms });
        // The program never reached for the host, and nothing is in the state but the stack.
        expect(o.connections, "connections to the mail host").toBe(0);
        expect(o.resources.filter((t) => t !== "pulumi:pulumi:Stack")).toEqual([]);
        for (const [op, out] of [
          ["preview", o.preview],
          ["up", o.up],
        ] as const) {
          expect(out, op).not.toMatch(/^(preview|up) succeeded$/);
          expect(out, op).toMatch(c.expect);
          if (c.typeCheck) {
            expect(out, op).toContain("error: validating stack config:");
          } else {
            // One problem, this one: it opens with the setting and gives the fix.
            const line = new RegExp(
              `Invalid stack configuration \\(1 problem\\):\\s*\\n\\s*- mailstack:${c.key}\\b[^\\n]*Fix: `,
            );
            expect(out, op).toMatch(line);
          }
          const hidden = [...Object.values(c.secret ?? {}), ...(c.hidden ? [c.hidden] : [])];
          // A boolean: a failing assertion must not print the secret itself.
          expect(
            hidden.flatMap(secretParts).some((s) => out.includes(s)),
            `${op} output shows a secret value`,
          ).toBe(false);
        }
      },
      STEP,
    );
  }
});
