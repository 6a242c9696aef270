// The host's identity, the deploy login and SSH hardening: who the stack
// reaches, as whom, and what the host calls itself.
import * as pulumi from "@pulumi/pulumi";
import { MAIL_PORTS } from "../../core/host-layout";
import { type KeySpecs, localPathProblem, parseJsonObject, type Reader } from "../../core/settings";
import { addressProblem, domainProblem, hostProblem, keyProblem } from "../../core/validators";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
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
  os: {
    type: "string",
    default: "debian12",
    description:
      "The mail host's OS: debian12 or ubuntu2204. It picks PostgreSQL 15 or 14. Default debian12.",
    example: "ubuntu2204",
  },
} as const satisfies KeySpecs;

export type HostOs = "debian12" | "ubuntu2204";

export interface SshConfig {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Either the key itself (a secret) or where to read it on the deploying machine. */
  readonly privateKey: { readonly secret: pulumi.Output<string> } | { readonly path: string };
}

export interface HostConfig {
  readonly ssh: SshConfig;
  readonly hostname: string;
  readonly timezone: string;
  readonly adminEmail: string;
  /** Extra sshd settings, keyword -> value, in the order given. */
  readonly sshdOptions: Readonly<Record<string, string>>;
  readonly unattendedUpgrades: boolean;
  readonly os: HostOs;
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
  "AllowTcpForwarding",
  "PermitOpen",
  "GatewayPorts",
  "PermitTunnel",
] as const;

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The host settings; problems go to the reader. */
export function parse(r: Reader<keyof typeof KEYS>): HostConfig {
  const host = r.str("host", "", hostProblem);
  const sshPort = r.port("sshPort", 22);
  const sshUser = r.str("sshUser", "root", (v) =>
    USER.test(v) ? undefined : "is not a valid login name (lower-case letters, digits, _ and -)",
  );
  const keyText = r.str("sshPrivateKey", "", keyProblem);
  const keyPath = r.str("sshPrivateKeyPath", "", localPathProblem);
  if (!r.given("sshPrivateKey") && !r.given("sshPrivateKeyPath")) {
    r.bad("sshPrivateKey", "is required (or mailstack:sshPrivateKeyPath) but neither is set");
  } else if (r.given("sshPrivateKey") && r.given("sshPrivateKeyPath")) {
    r.bad(
      "sshPrivateKeyPath",
      "is set together with mailstack:sshPrivateKey; keep one",
      "pulumi config rm mailstack:sshPrivateKeyPath",
    );
  }
  const hostname = r.str("hostname", "", domainProblem);
  const zones = new Set(Intl.supportedValuesOf("timeZone"));
  const timezone = r.str("timezone", "UTC", (v) =>
    v === "UTC" || v === "Etc/UTC" || zones.has(v)
      ? undefined
      : "is not an IANA time zone such as Asia/Seoul",
  );
  const adminEmail = r.str("adminEmail", "", addressProblem);
  const unattendedUpgrades = r.bool("unattendedUpgrades", true);
  const sshdOptions = parseSshdOptions(r.get("sshdOptions"), (why) => r.bad("sshdOptions", why));
  const os = r.str("os", "debian12", (v) =>
    v === "debian12" || v === "ubuntu2204" ? undefined : "is not debian12 or ubuntu2204",
  );
  if (MAIL_PORTS.some((p) => p.port === sshPort)) {
    r.bad(
      "sshPort",
      `value ${sshPort} collides with a mail port (${MAIL_PORTS.map((p) => p.port).join(", ")})`,
    );
  }
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
    sshdOptions,
    unattendedUpgrades,
    os: os as HostOs,
  };
}

function parseSshdOptions(value: string | undefined, bad: (why: string) => void): Record<string, string> {
  if (value === undefined) return {};
  const parsed = parseJsonObject(value);
  if (parsed === undefined) {
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
