// The policy pack's rules as pure functions of one resource's properties, the
// way the analyzer sees them (inputs, secrets unwrapped). policy/pack.ts
// wraps them for CrossGuard; tests and audits call evaluate() directly. Nothing
// here imports Pulumi, and nothing here trusts the stack's own code: the mail
// port list, the TLS settings and the key sizes are the mission's, restated.
//
// Most of what matters reaches the host through the push primitive
// (src/core/push.ts), so the rules read its payload: a `push NAME` line, the
// check/reload/verify lines, then per file `file PATH OWNER GROUP MODE N`
// followed by its N lines, and `end`.
import * as crypto from "node:crypto";
import * as path from "node:path";

export interface PolicyResource {
  urn: string;
  type: string;
  name: string;
  props: Record<string, unknown>;
}
export type Enforcement = "mandatory" | "advisory";
export interface PolicyRule {
  name: string;
  description: string;
  enforcementLevel: Enforcement;
  /** Violation messages, each naming what is wrong and the fix; empty when the resource complies. */
  check(r: PolicyResource, stack: string): string[];
}
export interface PolicyFinding {
  rule: string;
  enforcementLevel: Enforcement;
  urn: string;
  message: string;
}

/** The mission's open ports besides SSH (MISSION.md, Firewall). */
const MISSION_PORTS: Readonly<Record<number, string>> = {
  25: "smtp",
  80: "http",
  443: "https",
  465: "smtps",
  587: "submission",
  993: "imaps",
  995: "pop3s",
};
/** The ports whose clients speak TLS from the first byte. */
const IMPLICIT_TLS_PORTS = [465, 993, 995];
/** The stack whose DMARC must enforce. */
const PROD_STACK = "prod";

const FIREWALL_RULES_PATH = "/etc/mailstack/firewall.rules";
const DKIM_KEY_DIR = "/var/lib/rspamd/dkim";
const COMMAND_TYPES = ["command:remote:Command", "command:local:Command"];
const DNS_RECORD_TYPES = ["cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/record:Record"];
const DNS_COMPONENT_TYPE = "mailstack:dns:MailDns";
const TLS_KEY_TYPE = "tls:index/privateKey:PrivateKey";
const DKIM_COMPONENT_TYPE = "mailstack:dkim:DkimKeys";

// --- reading resources ------------------------------------------------------

function isCommand(r: PolicyResource): boolean {
  return COMMAND_TYPES.includes(r.type);
}

function text(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** One push's payload (src/core/push.ts renderPayload), parsed; undefined when stdin is not one. */
export interface PushPayload {
  readonly name: string;
  readonly commands: readonly string[];
  /** Path -> file text (each line followed by a newline). */
  readonly files: ReadonlyMap<string, string>;
}

/** Parses a push payload. Pure; undefined for any other text. */
export function parsePush(stdin: string): PushPayload | undefined {
  const lines = stdin.split("\n");
  const head = /^push (\S+)$/.exec(lines[0] ?? "");
  if (!head?.[1]) return undefined;
  const commands: string[] = [];
  const files = new Map<string, string>();
  let i = 1;
  while (i < lines.length) {
    const line = lines[i] ?? "";
    const file = /^file (\S+) \S+ \S+ \S+ (\d+)$/.exec(line);
    if (file?.[1] && file[2]) {
      const n = Number(file[2]);
      files.set(file[1], lines.slice(i + 1, i + 1 + n).join("\n") + (n > 0 ? "\n" : ""));
      i += 1 + n;
      continue;
    }
    if (line === "end") break;
    commands.push(line.replace(/^(check|reload|verify) /, ""));
    i += 1;
  }
  return { name: head[1], commands, files };
}

/** The push a command applies, if its stdin is a push payload. */
function pushOf(r: PolicyResource): PushPayload | undefined {
  if (!isCommand(r)) return undefined;
  const stdin = text(r.props.stdin);
  return stdin === undefined ? undefined : parsePush(stdin);
}

/** Every command string of a Command: create, update, delete and the environment (as NAME=value). */
function commandStrings(r: PolicyResource): { readonly where: string; readonly value: string }[] {
  const out: { where: string; value: string }[] = [];
  for (const k of ["create", "update", "delete"]) {
    const v = text(r.props[k]);
    if (v !== undefined) out.push({ where: k, value: v });
  }
  const env = r.props.environment;
  if (typeof env === "object" && env !== null) {
    for (const [k, v] of Object.entries(env)) {
      // As the shell sees it: the variable's name says what its value is.
      if (typeof v === "string") out.push({ where: `environment.${k}`, value: `${k}=${v}` });
    }
  }
  return out;
}

/** The types of a resource's parents and itself, from its URN (`...::a$b$type::name`). */
function typeChain(urn: string): string[] {
  const parts = urn.split("::");
  return (parts[2] ?? "").split("$");
}

// --- the firewall -----------------------------------------------------------

const UFW_OPENS = /\bufw\s+(?:--?\S+\s+)*(?:allow|limit)\b/;

function checkFirewall(r: PolicyResource): string[] {
  if (!isCommand(r)) return [];
  const push = pushOf(r);
  const rules = push?.files.get(FIREWALL_RULES_PATH);
  if (push === undefined || (rules === undefined && !push.name.endsWith("-firewall"))) {
    // Anything else that opens a port bypasses the one list this rule checks.
    const stdin = push === undefined ? [] : [...push.files.values(), ...push.commands];
    const opens = [...commandStrings(r).map((c) => c.value), ...stdin].some((s) => UFW_OPENS.test(s));
    return opens
      ? [
          `${r.name} opens a port with ufw outside the firewall push; every open port must be in ${FIREWALL_RULES_PATH} (src/concerns/host/component.ts). Fix: remove that ufw command; SSH's port is mailstack:sshPort`,
        ]
      : [];
  }
  if (rules === undefined) {
    return [
      `the firewall push ${push.name} carries no ${FIREWALL_RULES_PATH}, so its open ports cannot be checked. Fix: src/concerns/host/component.ts must push the rules file`,
    ];
  }
  const problems: string[] = [];
  const extra: { port: number; label: string }[] = [];
  for (const raw of rules.split("\n")) {
    const [body = "", ...comment] = raw.split("#");
    const entry = body.trim();
    if (entry === "") continue;
    const label = comment.join("#").trim();
    const m = /^allow (\d{1,5})\/tcp$/.exec(entry);
    if (!m) {
      problems.push(
        `firewall rule "${entry}" in ${FIREWALL_RULES_PATH} is not "allow PORT/tcp", so what it opens cannot be checked. Fix: open only the mail ports and mailstack:sshPort`,
      );
      continue;
    }
    const port = Number(m[1]);
    if (MISSION_PORTS[port] === undefined) extra.push({ port, label });
  }
  const ssh = extra.filter((e) => e.label === "ssh");
  if (ssh.length > 1) {
    problems.push(
      `the firewall opens ${ssh.map((e) => `${e.port}/tcp`).join(" and ")} for SSH; there is one SSH port. Fix: pulumi config set mailstack:sshPort <port>`,
    );
  }
  for (const e of extra.filter((x) => x.label !== "ssh")) {
    problems.push(
      `the firewall opens ${e.port}/tcp${e.label ? ` (${e.label})` : ""}, which is neither a mail port (${Object.keys(MISSION_PORTS).join(", ")}) nor SSH. Fix: only mailstack:sshPort adds a port to the mail set; remove ${e.port} from the stack's port list (openPorts, src/mailstack.ts)`,
    );
  }
  return problems;
}

// --- TLS for mail clients ---------------------------------------------------

interface DovecotSetting {
  readonly file: string;
  /** Enclosing sections, outermost first, e.g. ["service imap-login", "inet_listener imaps"]. */
  readonly sections: readonly string[];
  readonly key: string;
  readonly value: string;
}

/** The settings of a Dovecot config file with their sections. Pure. */
function dovecotSettings(file: string, content: string): DovecotSetting[] {
  const out: DovecotSetting[] = [];
  const sections: string[] = [];
  for (const raw of content.split("\n")) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (line === "" || line.startsWith("!include")) continue;
    const open = /^([\w-]+)(?:\s+([^{=]*?))?\s*\{$/.exec(line);
    if (open?.[1]) {
      sections.push(open[2] ? `${open[1]} ${open[2]}` : open[1]);
      continue;
    }
    if (line === "}") {
      sections.pop();
      continue;
    }
    const set = /^([\w-]+)\s*=\s*(.*)$/.exec(line);
    if (set?.[1]) out.push({ file, sections: [...sections], key: set[1], value: (set[2] ?? "").trim() });
  }
  return out;
}

/** Dovecot's default port of each listener name. */
const DOVECOT_DEFAULT_PORTS: Readonly<Record<string, number>> = {
  imap: 143,
  imaps: 993,
  pop3: 110,
  pop3s: 995,
  submission: 587,
  submissions: 465,
};
const DOVECOT_TLS_FIX =
  "the Dovecot templates under files/dovecot/ (no config key turns TLS off); keep ssl = required and ssl = yes on 465, 993 and 995";

function checkDovecotTls(push: PushPayload): string[] {
  const settings = [...push.files]
    .filter(([p]) => p.startsWith("/etc/dovecot/") && !p.includes("/sieve/"))
    .flatMap(([p, content]) => dovecotSettings(p, content));
  const problems: string[] = [];
  const global = settings.filter(
    (s) => s.key === "ssl" && !s.sections.some((x) => x.startsWith("inet_listener")),
  );
  for (const s of global.filter((x) => x.value !== "required")) {
    problems.push(
      `Dovecot sets ssl = ${s.value} in ${s.file}${s.sections.length ? ` (${s.sections.join(" > ")})` : ""}: clients may log in without TLS. Fix: ${DOVECOT_TLS_FIX}`,
    );
  }
  const required = global.length > 0 && global.every((s) => s.value === "required");
  if (push.files.has("/etc/dovecot/dovecot.conf") && global.length === 0) {
    problems.push(
      `the Dovecot push ${push.name} sets no ssl = required, so IMAP, POP3 and submission may run without TLS. Fix: ${DOVECOT_TLS_FIX}`,
    );
  }
  for (const s of settings) {
    if (
      (s.key === "disable_plaintext_auth" && s.value === "no") ||
      (s.key === "auth_allow_cleartext" && s.value === "yes")
    ) {
      problems.push(
        `Dovecot sets ${s.key} = ${s.value} in ${s.file}: passwords in clear. Fix: ${DOVECOT_TLS_FIX}`,
      );
    }
  }
  // Group each listener's settings: port and ssl.
  const listeners = new Map<string, { file: string; name: string; port?: number; ssl?: string }>();
  for (const s of settings) {
    const at = s.sections.findIndex((x) => x.startsWith("inet_listener"));
    if (at < 0) continue;
    const id = `${s.file} ${s.sections.slice(0, at + 1).join(" > ")}`;
    const l = listeners.get(id) ?? { file: s.file, name: s.sections.slice(0, at + 1).join(" > ") };
    if (s.key === "port") l.port = Number(s.value);
    if (s.key === "ssl") l.ssl = s.value;
    listeners.set(id, l);
  }
  for (const l of listeners.values()) {
    const bare = l.name.split(" ").pop() ?? "";
    const port = l.port ?? DOVECOT_DEFAULT_PORTS[bare];
    if (port === 0 || l.ssl === "yes") continue;
    if (port !== undefined && IMPLICIT_TLS_PORTS.includes(port)) {
      problems.push(
        `Dovecot's ${l.name} listens on ${port} without ssl = yes (${l.file}): port ${port} is TLS from the first byte. Fix: ${DOVECOT_TLS_FIX}`,
      );
    } else if (!required) {
      problems.push(
        `Dovecot's ${l.name} listens on ${port ?? "its default port"} without TLS and ssl is not required (${l.file}). Fix: ${DOVECOT_TLS_FIX}`,
      );
    }
  }
  return problems;
}

const POSTFIX_PORTS: Readonly<Record<string, number>> = {
  smtp: 25,
  submission: 587,
  submissions: 465,
  smtps: 465,
};
const POSTFIX_TLS_FIX =
  "files/postfix/master.cf (no config key changes it); a listener other than port 25 that is reachable from outside needs -o smtpd_tls_security_level=encrypt or -o smtpd_tls_wrappermode=yes";

function checkPostfixTls(push: PushPayload): string[] {
  const problems: string[] = [];
  const master = push.files.get("/etc/postfix/master.cf");
  if (master !== undefined) {
    // Entries start in column one; their -o options follow on indented lines.
    const entries: { line: string; options: string[] }[] = [];
    for (const raw of master.split("\n")) {
      if (raw.startsWith("#") || raw.trim() === "") continue;
      const last = entries[entries.length - 1];
      if (/^\s/.test(raw) && last) last.options.push(...raw.trim().split(/\s+/));
      else entries.push({ line: raw.trim(), options: [] });
    }
    for (const e of entries) {
      const [service = "", type, , , , , , ...command] = e.line.split(/\s+/);
      if (type !== "inet") continue;
      const at = service.lastIndexOf(":");
      const host = at < 0 ? "" : service.slice(0, at);
      const portName = at < 0 ? service : service.slice(at + 1);
      const port = POSTFIX_PORTS[portName] ?? Number(portName);
      if (/^(127\.|\[::1\]$|localhost$)/.test(host) || port === 25) continue;
      const opts = [...command, ...e.options].join(" ");
      const tls = /smtpd_tls_security_level=encrypt|smtpd_tls_wrappermode=yes/.test(opts);
      if (!tls) {
        problems.push(
          `Postfix listens on ${service} (${push.name}) without requiring TLS: logins and mail would cross the network in clear. Fix: ${POSTFIX_TLS_FIX}`,
        );
      }
    }
  }
  const main = push.files.get("/etc/postfix/main.cf");
  if (main !== undefined) {
    const value = (k: string) =>
      new RegExp(`^${k}\\s*=\\s*(\\S+)`, "m").exec(main.replace(/^#.*$/gm, ""))?.[1];
    if (value("smtpd_sasl_auth_enable") === "yes" && value("smtpd_tls_auth_only") !== "yes") {
      problems.push(
        `Postfix offers AUTH on port 25 without smtpd_tls_auth_only = yes (main.cf): passwords in clear. Fix: files/postfix/main.cf`,
      );
    }
  }
  return problems;
}

function checkTls(r: PolicyResource): string[] {
  const push = pushOf(r);
  return push ? [...checkDovecotTls(push), ...checkPostfixTls(push)] : [];
}

// --- DNS --------------------------------------------------------------------

function checkProxied(r: PolicyResource): string[] {
  if (!DNS_RECORD_TYPES.includes(r.type)) return [];
  const type = text(r.props.type) ?? "?";
  const name = text(r.props.name) ?? r.name;
  const proxied = r.props.proxied;
  // Cloudflare proxies only HTTP: a proxied A/AAAA/CNAME hides the mail host behind it.
  if (proxied === true || (["A", "AAAA", "CNAME"].includes(type) && proxied !== false)) {
    return [
      `Cloudflare record ${type} ${name} is ${proxied === true ? "proxied" : "not explicitly unproxied"}: SMTP, IMAP and POP3 cannot pass Cloudflare's proxy and the host must be reached directly. Fix: proxied: false (src/concerns/dns/component.ts cloudflareRecordArgs); the records follow mailstack:hostname and mailstack:mailIpv4`,
    ];
  }
  return [];
}

/** The text of a TXT value, quoted character-strings joined as DNS does. Pure. */
export function txtText(value: string): string {
  const quoted = [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? "").replace(/\\(.)/g, "$1"));
  return quoted.length > 0 ? quoted.join("") : value;
}

function dmarcPolicy(value: string): string | undefined {
  return /(?:^|;)\s*p\s*=\s*([a-z]+)/i.exec(txtText(value))?.[1]?.toLowerCase();
}

function checkDmarc(r: PolicyResource, stack: string): string[] {
  if (stack !== PROD_STACK) return [];
  const records: { name: string; value: string }[] = [];
  if (DNS_RECORD_TYPES.includes(r.type)) {
    const name = text(r.props.name) ?? "";
    const value = text(r.props.content) ?? text(r.props.value);
    if (text(r.props.type) === "TXT" && /^_dmarc(\.|$)/.test(name) && value !== undefined) {
      records.push({ name, value });
    }
  } else if (r.type === DNS_COMPONENT_TYPE) {
    const dmarc = r.props.dmarc;
    if (typeof dmarc !== "object" || dmarc === null) {
      return [
        `the DNS component ${r.name} carries no DMARC records (input dmarc), so the DMARC policy cannot be checked. Fix: src/concerns/dns/component.ts passes them to its component`,
      ];
    }
    for (const [name, value] of Object.entries(dmarc)) {
      if (typeof value === "string") records.push({ name, value });
    }
  }
  return records
    .filter((x) => dmarcPolicy(x.value) === "none")
    .map(
      (x) =>
        `${x.name} publishes DMARC p=none in ${stack}: receivers take no action on mail that fails SPF and DKIM alignment. Fix: pulumi config set --path 'mailstack:dmarc.policy' quarantine (or reject) once the reports show legitimate mail aligned`,
    );
}

// --- DKIM keys --------------------------------------------------------------

/** Why a DKIM private key is too weak, or undefined when it is RSA >= 2048 bits or Ed25519. Pure. */
function weakDkimKey(pem: string): string | undefined {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch {
    return "is not a PEM private key";
  }
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return undefined;
  if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    return bits >= 2048 ? undefined : `is RSA of ${bits} bits (at least 2048 are needed)`;
  }
  return `is a ${type ?? "unknown"} key (DKIM signs with RSA of at least 2048 bits or Ed25519)`;
}

function checkDkim(r: PolicyResource): string[] {
  if (r.type === TLS_KEY_TYPE && typeChain(r.urn).includes(DKIM_COMPONENT_TYPE)) {
    const algorithm = text(r.props.algorithm) ?? "";
    const bits = typeof r.props.rsaBits === "number" ? r.props.rsaBits : 2048; // the provider's default
    const ok = algorithm === "ED25519" || (algorithm === "RSA" && bits >= 2048);
    return ok
      ? []
      : [
          `DKIM key ${r.name} is ${algorithm === "RSA" ? `RSA of ${bits} bits` : algorithm || "of no algorithm"}: DKIM needs RSA of at least 2048 bits or Ed25519. Fix: set its selector's "algorithm" in mailstack:dkim to rsa2048, rsa4096 or ed25519`,
        ];
  }
  const push = pushOf(r);
  if (push === undefined) return [];
  const keys = [...push.files].filter(([p]) => path.dirname(p) === DKIM_KEY_DIR && p.endsWith(".key"));
  if (keys.length === 0 && push.name.endsWith("-dkim-keys")) {
    return [
      `the DKIM key push ${push.name} carries no key under ${DKIM_KEY_DIR}, so the keys' strength cannot be checked. Fix: src/concerns/filter/rspamd.ts pushes every selector's key there`,
    ];
  }
  return keys.flatMap(([p, pem]) => {
    const why = weakDkimKey(pem);
    if (why === undefined) return [];
    const base = path.basename(p, ".key");
    const dot = base.lastIndexOf(".");
    const id = `${base.slice(0, dot)}/${base.slice(dot + 1)}`;
    return [
      `the DKIM key of ${id} ${why}. Fix: pulumi config set --secret --path 'mailstack:dkimPrivateKeys["${id}"]' < key.pem with a key from openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 (or ed25519), or make the selector "source": "generate" in mailstack:dkim`,
    ];
  });
}

// --- secrets in command strings ---------------------------------------------

interface SecretPattern {
  readonly what: string;
  readonly re: RegExp;
  /** The config keys such material comes from. */
  readonly keys: string;
}

// A value that is a reference ($VAR, "$(...)") or a file is not the secret itself.
const LITERAL = String.raw`(?!["']?\$)(?!["']?/)["']?[^\s"';&|)]{4,}`;

const SECRET_PATTERNS: readonly SecretPattern[] = [
  {
    what: "a PEM private key",
    re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/,
    keys: "mailstack:sshPrivateKey, mailstack:dkimPrivateKeys",
  },
  {
    what: "a password hash",
    re: /\{(?:ARGON2ID|ARGON2I|BLF-CRYPT|SHA512-CRYPT|SHA256-CRYPT|SSHA512|SSHA256|SSHA|MD5-CRYPT|CRYPT|PLAIN|CLEAR)\}\S|\$(?:argon2id?\$v=|2[aby]\$\d\d\$|[56]\$[^\s$]{1,16}\$[./A-Za-z0-9]{40})/,
    keys: "mailstack:passwordHashes",
  },
  {
    what: "a password, secret or token assignment",
    re: new RegExp(
      String.raw`(?:^|[^A-Za-z0-9_])[A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY)[A-Za-z0-9_]*\s*[=:]\s*${LITERAL}`,
      "i",
    ),
    keys: "mailstack:dbAdminPassword, mailstack:dbOwnerPassword, mailstack:ldapBindPassword, mailstack:backupPassword, mailstack:s3SecretAccessKey, mailstack:minioRootPassword, mailstack:cloudflareApiToken",
  },
  {
    what: "a password or token option",
    re: new RegExp(
      String.raw`--(?:password|passwd|pass|secret|token|api-token|secret-key|access-key)(?:=|\s+)${LITERAL}`,
      "i",
    ),
    keys: "mailstack:dbAdminPassword, mailstack:ldapBindPassword, mailstack:backupPassword, mailstack:cloudflareApiToken",
  },
  {
    what: "credentials in a URL",
    re: /[a-z][a-z0-9+.-]*:\/\/[^\s:@/'"$]+:[^\s@/'"$]+@/i,
    keys: "mailstack:dbAdminPassword, mailstack:minioRootPassword, mailstack:s3SecretAccessKey",
  },
  {
    what: "a bearer token",
    re: /\bBearer\s+(?!\$)[A-Za-z0-9_\-.=]{20,}/,
    keys: "mailstack:cloudflareApiToken",
  },
  {
    what: "an AWS-style access key id",
    re: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/,
    keys: "mailstack:s3AccessKeyId",
  },
];

/** The secret material a command string holds, by kind. Pure. */
function secretMaterial(s: string): SecretPattern[] {
  return SECRET_PATTERNS.filter((p) => p.re.test(s));
}

function checkSecrets(r: PolicyResource): string[] {
  if (!isCommand(r)) return [];
  return commandStrings(r).flatMap(({ where, value }) =>
    secretMaterial(value).map(
      (p) =>
        `${r.name}: its ${where} command holds ${p.what}, which lands in argv on the host and in plain state. Fix: pass it on stdin in a secret push (src/core/push.ts, secret: true); it comes from ${p.keys}`,
    ),
  );
}

// --- the pack ---------------------------------------------------------------

export const RULES: readonly PolicyRule[] = [
  {
    name: "firewall-mail-ports-only",
    description:
      "The firewall opens the mail ports (25, 80, 443, 465, 587, 993, 995) and SSH, nothing else, and only through its rules file.",
    enforcementLevel: "mandatory",
    check: checkFirewall,
  },
  {
    name: "tls-on-client-ports",
    description:
      "Submission, IMAP and POP3 require TLS: Dovecot's ssl = required, implicit TLS on 465, 993 and 995, no plaintext Postfix listener reachable from outside but port 25.",
    enforcementLevel: "mandatory",
    check: checkTls,
  },
  {
    name: "mail-dns-not-proxied",
    description:
      "No Cloudflare record of the mail host is proxied: mail cannot pass Cloudflare's HTTP proxy.",
    enforcementLevel: "mandatory",
    check: checkProxied,
  },
  {
    name: "dkim-key-strength",
    description: "Every DKIM key is RSA of at least 2048 bits or Ed25519, generated or imported.",
    enforcementLevel: "mandatory",
    check: checkDkim,
  },
  {
    name: "no-secret-in-command",
    description:
      "No command string (create, update, delete, environment) holds secret material: private keys, password hashes, passwords, tokens, S3 keys.",
    enforcementLevel: "mandatory",
    check: checkSecrets,
  },
  {
    name: "dmarc-enforced-in-prod",
    description: "In prod, DMARC asks receivers to act (p=quarantine or reject), not p=none.",
    enforcementLevel: "advisory",
    check: checkDmarc,
  },
];

/** Every finding of every rule over `resources` of stack `stack`. Pure. */
export function evaluate(resources: readonly PolicyResource[], stack: string): PolicyFinding[] {
  return resources.flatMap((r) =>
    RULES.flatMap((rule) =>
      rule.check(r, stack).map((message) => ({
        rule: rule.name,
        enforcementLevel: rule.enforcementLevel,
        urn: r.urn,
        message,
      })),
    ),
  );
}
