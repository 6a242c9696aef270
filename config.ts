// The stack's configuration, read once and validated before anything is created.
//
// `CONFIG_KEYS` is the single list of keys: Pulumi.yaml declares the same keys
// (a unit test keeps the two in step), `parseConfig` is a pure function that
// turns raw strings into one typed object or throws a `ConfigError` naming
// every bad key and its fix, and `loadConfig` is the only place that talks to
// Pulumi's config system.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

export const NAMESPACE = "mailstack";

type KeyType = "string" | "integer" | "boolean" | "array" | "object";

export interface KeySpec {
  readonly type: KeyType;
  /** For arrays: the type of each item. */
  readonly items?: "string" | "object";
  readonly description: string;
  /** The key has no default and the stack cannot run without it. */
  readonly required?: boolean;
  /** The value must be stored with `pulumi config set --secret`. */
  readonly secret?: boolean;
  /** Shown in error messages as a working `pulumi config set` example. */
  readonly example: string;
  /**
   * Pulumi.yaml's default for an optional key (Pulumi requires every declared
   * key without one). An empty string means "not set".
   */
  readonly default?: string | number | boolean | Record<string, never>;
}

export const CONFIG_KEYS = {
  host: {
    type: "string",
    required: true,
    description: "Address the deployment reaches the mail host at over SSH (IPv4, IPv6 or DNS name).",
    example: "203.0.113.25",
  },
  sshPort: {
    type: "integer",
    default: 22,
    description: "Port sshd listens on; the firewall opens it. Default 22.",
    example: "22",
  },
  sshUser: {
    type: "string",
    default: "root",
    description: "Login used for deployment; it must be root or have passwordless sudo. Default root.",
    example: "root",
  },
  sshPrivateKey: {
    type: "string",
    default: "",
    secret: true,
    description: "Private key (OpenSSH format) of the deploy login. Secret. Set this or sshPrivateKeyPath.",
    example: "--secret mailstack:sshPrivateKey < ~/.ssh/id_ed25519",
  },
  sshPrivateKeyPath: {
    type: "string",
    default: "",
    description:
      "Path, on the machine running Pulumi, of the deploy login's private key. Set this or sshPrivateKey.",
    example: "~/.ssh/id_ed25519",
  },
  hostname: {
    type: "string",
    required: true,
    description: "Fully qualified name of the mail host; also used as /etc/mailname.",
    example: "mail.tlabs.team",
  },
  timezone: {
    type: "string",
    default: "UTC",
    description: "IANA time zone of the host, such as Asia/Seoul. Default UTC.",
    example: "Asia/Seoul",
  },
  adminEmail: {
    type: "string",
    required: true,
    description: "Operator's address for certificates, reports and root's mail.",
    example: "postmaster@tlabs.team",
  },
  domains: {
    type: "array",
    items: "object",
    required: true,
    description: 'Mail domains served by the host, each an object such as {"name": "tlabs.team"}.',
    example: "--path 'domains[0].name' tlabs.team",
  },
  sshdOptions: {
    type: "object",
    default: {},
    description:
      'Extra sshd_config settings, such as {"AllowUsers": "root ops"}; checked with sshd -t. Default none.',
    example: "--path 'sshdOptions.AllowUsers' 'root ops'",
  },
  unattendedUpgrades: {
    type: "boolean",
    default: true,
    description: "Install Debian/Ubuntu security updates automatically every day. Default true.",
    example: "true",
  },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Ports the mission opens on every mail host, besides SSH. */
export const MAIL_PORTS = [
  { port: 25, service: "smtp" },
  { port: 80, service: "http (ACME challenges)" },
  { port: 443, service: "https" },
  { port: 465, service: "smtps" },
  { port: 587, service: "submission" },
  { port: 993, service: "imaps" },
  { port: 995, service: "pop3s" },
] as const;

export interface DomainConfig {
  /** Lower-case domain name, e.g. tlabs.team. */
  readonly name: string;
}

export interface SshConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Either the key itself (a secret) or where to read it on the deploying machine. */
  readonly privateKey: { readonly secret: pulumi.Output<string> } | { readonly path: string };
}

export interface StackConfig {
  readonly ssh: SshConfig;
  readonly hostname: string;
  readonly timezone: string;
  readonly adminEmail: string;
  readonly domains: readonly DomainConfig[];
  /** Extra sshd settings, keyword -> value, in the order given. */
  readonly sshdOptions: Readonly<Record<string, string>>;
  readonly unattendedUpgrades: boolean;
}

/** sshd keywords the stack sets itself; sshdOptions may not override them. */
export const MANAGED_SSHD_KEYWORDS = [
  "Port",
  "PermitRootLogin",
  "PubkeyAuthentication",
  "PasswordAuthentication",
  "KbdInteractiveAuthentication",
  "ChallengeResponseAuthentication",
  "PermitEmptyPasswords",
  "AuthenticationMethods",
  "UsePAM",
] as const;

/** Raw config as Pulumi holds it: values keyed without the namespace. */
export interface RawConfig {
  readonly values: Readonly<Record<string, string>>;
  readonly secretKeys: ReadonlySet<string>;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Returns why `name` is not a fully qualified domain name, or undefined when it is one. */
export function domainProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.endsWith(".")) return "ends with a dot; write it without the trailing dot";
  if (name.length > 253) return "is longer than 253 characters";
  if (name !== name.toLowerCase()) return "has upper-case letters; write it in lower case";
  const labels = name.split(".");
  if (labels.length < 2) return "is not fully qualified (it needs at least one dot, as in example.com)";
  for (const label of labels) {
    if (label.length > 63) return `has a label longer than 63 characters ("${label.slice(0, 20)}...")`;
    if (!LABEL.test(label)) {
      return `has an invalid label "${label}" (use letters, digits and inner hyphens only)`;
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return "ends in a numeric label, which no TLD is";
  return undefined;
}

/** Returns why `address` is not a usable mail address, or undefined when it is one. */
export function addressProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at <= 0) return "is not an address of the form local@domain";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64) return "has a local part longer than 64 characters";
  if (!LOCAL_PART.test(local)) return `has an invalid local part "${local}"`;
  const bad = domainProblem(domain);
  return bad === undefined ? undefined : `has a domain "${domain}" that ${bad}`;
}

function hostProblem(host: string): string | undefined {
  if (IPV4.test(host)) return undefined;
  if (host.includes(":")) {
    // Let the URL parser judge IPv6 literals rather than a hand-written pattern.
    try {
      new URL(`ssh://[${host}]/`);
      return undefined;
    } catch {
      return "is not a valid IPv6 address";
    }
  }
  if (/^[\d.]+$/.test(host)) return "is not a valid IPv4 address";
  const bad = domainProblem(host);
  return bad === undefined ? undefined : `is neither an IP address nor a host name: it ${bad}`;
}

/** Returns why `text` is not a private key, or undefined when it looks like one. */
export function keyProblem(text: string): string | undefined {
  return /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text.trim())
    ? undefined
    : "is not a PEM/OpenSSH private key (it must start with -----BEGIN ... PRIVATE KEY-----)";
}

/** Levenshtein distance, for "did you mean" hints on misspelt keys. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1;
      row.push(Math.min((row[j - 1] ?? 0) + 1, (prev[j] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function key(k: string): string {
  return `${NAMESPACE}:${k}`;
}

function fix(k: ConfigKey): string {
  const spec: KeySpec = CONFIG_KEYS[k];
  const example = spec.example.startsWith("--") ? spec.example : `${key(k)} ${spec.example}`;
  return `pulumi config set ${example}`;
}

/**
 * Validates raw config and returns the typed stack config. Throws a
 * `ConfigError` listing every problem, each naming its key and the fix.
 */
export function parseConfig(raw: RawConfig): StackConfig {
  const problems: string[] = [];
  const bad = (k: ConfigKey, why: string, fixText = fix(k)) =>
    problems.push(`${key(k)} ${why}. Fix: ${fixText}`);

  const known = Object.keys(CONFIG_KEYS);
  for (const k of Object.keys(raw.values)) {
    if (known.includes(k)) continue;
    const near = known.filter((c) => distance(c, k) <= 2);
    const hint = near.length > 0 ? `did you mean ${near.map(key).join(" or ")}? ` : "";
    problems.push(
      `${key(k)} is not a setting of this stack. Fix: ${hint}remove it with: pulumi config rm ${key(k)}`,
    );
  }

  const get = (k: ConfigKey): string | undefined => {
    const spec: KeySpec = CONFIG_KEYS[k];
    const v = raw.values[k];
    if (v === undefined || v === "") {
      if (spec.required) bad(k, "is required but not set");
      return undefined;
    }
    if (spec.secret && !raw.secretKeys.has(k)) {
      bad(k, "is stored in plain text but must be a secret", `pulumi config rm ${key(k)}, then ${fix(k)}`);
      return undefined;
    }
    return v;
  };

  const str = (k: ConfigKey, fallback: string, check?: (v: string) => string | undefined): string => {
    const v = get(k);
    if (v === undefined) return fallback;
    const why = check?.(v);
    if (why !== undefined) {
      // A secret's value never goes into a message: messages end up in logs.
      const shown = (CONFIG_KEYS[k] as KeySpec).secret ? "(secret, not shown)" : `"${v}"`;
      bad(k, `value ${shown} ${why}`);
      return fallback;
    }
    return v;
  };

  const bool = (k: ConfigKey, fallback: boolean): boolean => {
    const v = get(k);
    if (v === undefined) return fallback;
    if (v === "true" || v === "false") return v === "true";
    bad(k, `value "${v}" is not true or false`);
    return fallback;
  };

  const port = (k: ConfigKey, fallback: number): number => {
    const v = get(k);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1 || n > 65535) {
      bad(k, `value "${v}" is not a TCP port (a whole number from 1 to 65535)`);
      return fallback;
    }
    return n;
  };

  const host = str("host", "", hostProblem);
  const sshPort = port("sshPort", 22);
  const sshUser = str("sshUser", "root", (v) =>
    USER.test(v) ? undefined : "is not a valid login name (lower-case letters, digits, _ and -)",
  );
  const keyText = str("sshPrivateKey", "", keyProblem);
  const keyPath = str("sshPrivateKeyPath", "", (v) =>
    v.startsWith("/") || v.startsWith("~/") ? undefined : "is not an absolute path (or one starting with ~/)",
  );
  const given = (k: ConfigKey) => (raw.values[k] ?? "") !== "";
  if (!given("sshPrivateKey") && !given("sshPrivateKeyPath")) {
    bad("sshPrivateKey", "is required (or mailstack:sshPrivateKeyPath) but neither is set");
  } else if (given("sshPrivateKey") && given("sshPrivateKeyPath")) {
    bad(
      "sshPrivateKeyPath",
      "is set together with mailstack:sshPrivateKey; keep one",
      `pulumi config rm ${key("sshPrivateKeyPath")}`,
    );
  }
  const hostname = str("hostname", "", domainProblem);
  const zones = new Set(Intl.supportedValuesOf("timeZone"));
  const timezone = str("timezone", "UTC", (v) =>
    v === "UTC" || v === "Etc/UTC" || zones.has(v)
      ? undefined
      : "is not an IANA time zone such as Asia/Seoul",
  );
  const adminEmail = str("adminEmail", "", addressProblem);
  const unattendedUpgrades = bool("unattendedUpgrades", true);
  const domains = parseDomains(get("domains"), (why) => bad("domains", why));
  const sshdOptions = parseSshdOptions(get("sshdOptions"), (why) => bad("sshdOptions", why));

  if (MAIL_PORTS.some((p) => p.port === sshPort)) {
    bad(
      "sshPort",
      `value ${sshPort} collides with a mail port (${MAIL_PORTS.map((p) => p.port).join(", ")})`,
    );
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ssh: {
      host,
      port: sshPort,
      user: sshUser,
      privateKey: keyPath !== "" ? { path: keyPath } : { secret: pulumi.secret(keyText) },
    },
    hostname,
    timezone,
    adminEmail,
    domains,
    sshdOptions,
    unattendedUpgrades,
  };
}

function parseSshdOptions(value: string | undefined, bad: (why: string) => void): Record<string, string> {
  if (value === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    bad("is not an object of sshd keyword -> value; set entries with --path");
    return {};
  }
  const managed: readonly string[] = MANAGED_SSHD_KEYWORDS;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(k)) {
      bad(`has "${k}", which is not an sshd keyword`);
    } else if (managed.some((m) => m.toLowerCase() === k.toLowerCase())) {
      bad(`sets ${k}, which the stack manages for hardening; remove it`);
    } else if (
      !["string", "number", "boolean"].includes(typeof v) ||
      /[\n\r]/.test(String(v)) ||
      String(v) === ""
    ) {
      bad(`value of ${k} must be a non-empty single-line string`);
    } else {
      out[k] = String(v);
    }
  }
  return out;
}

function parseDomains(value: string | undefined, bad: (why: string) => void): DomainConfig[] {
  if (value === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    bad("is not a list; set entries with --path");
    return [];
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    bad("must be a non-empty list of domains");
    return [];
  }
  const seen = new Set<string>();
  const domains: DomainConfig[] = [];
  parsed.forEach((entry: unknown, i) => {
    const at = `entry ${i}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      bad(`${at} is not an object with a "name"`);
      return;
    }
    const fields = entry as Record<string, unknown>;
    for (const f of Object.keys(fields)) {
      if (f !== "name") bad(`${at} has unknown field "${f}" (known: name)`);
    }
    const name = fields.name;
    if (typeof name !== "string") {
      bad(`${at} has no "name" string`);
      return;
    }
    const why = domainProblem(name);
    if (why !== undefined) {
      bad(`${at} "${name}" ${why}`);
      return;
    }
    if (seen.has(name)) {
      bad(`${at} "${name}" is listed twice; remove the duplicate`);
      return;
    }
    seen.add(name);
    domains.push({ name });
  });
  return domains;
}

/** Reads this stack's config from Pulumi. The only caller of Pulumi's config API. */
export function loadConfig(): StackConfig {
  // isConfigSecret is exported at run time but missing from the typings.
  const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as {
    isConfigSecret(k: string): boolean;
  };
  const prefix = `${NAMESPACE}:`;
  const values: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(pulumi.runtime.allConfig())) {
    if (!k.startsWith(prefix)) continue;
    const short = k.slice(prefix.length);
    values[short] = v;
    if (isConfigSecret(k)) secretKeys.add(short);
  }
  return parseConfig({ values, secretKeys });
}

/**
 * The deploy key as a secret Output. A key given by path is read here, on the
 * deploying machine, and never leaves it except inside the encrypted state.
 */
export function readPrivateKey(ssh: SshConfig, home = os.homedir()): pulumi.Output<string> {
  const source = ssh.privateKey;
  if ("secret" in source) return source.secret;
  const file = source.path.startsWith("~/") ? path.join(home, source.path.slice(2)) : source.path;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      `${key("sshPrivateKeyPath")} points at ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code}). Fix: ${fix("sshPrivateKeyPath")}`,
    ]);
  }
  const why = keyProblem(text);
  if (why !== undefined) throw new ConfigError([`${key("sshPrivateKeyPath")}: the file ${file} ${why}`]);
  return pulumi.secret(text);
}
