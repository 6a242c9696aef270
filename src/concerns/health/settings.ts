// mailstack-health's thresholds, schedule and log noise (mailstack:health).
import { canonical, isObject, type KeySpecs, parseSettings, type Reader } from "../../core/settings";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  health: {
    type: "object",
    default: {},
    description:
      'mailstack-health on the host, each optional: {"everyMinutes": 15, "maxQueue": 50, "maxQueueAgeMinutes": 60, "maxLogWarnings": 20, "certMinDays": 14, "checkDns": true, "dnsServer": "", "ldapBlipErrors": 10, "ldapBlipMinutes": 5, "noise": []} (the defaults). everyMinutes 0 runs no scheduled check; dnsServer is the server the published records are checked against (address[:port]; empty: the host\'s resolvers); ldapBlipErrors and ldapBlipMinutes bound the LDAP errors one check takes for a short outage (noise); noise adds mail log noise classes, each {"name", "pattern", "why"} (README, Health check).',
    example: "--path 'health.maxQueue' 100",
  },
} as const satisfies KeySpecs;

export interface HealthSettings {
  /** Minutes between scheduled checks, 1 to 60; 0 for none. */
  readonly everyMinutes: number;
  /** Most messages the queue may hold. */
  readonly maxQueue: number;
  /** Oldest a queued message may be, in minutes. */
  readonly maxQueueAgeMinutes: number;
  /** Warnings one check tolerates in the mail log (any error is a problem). */
  readonly maxLogWarnings: number;
  /** Fewest days the certificate may have left. */
  readonly certMinDays: number;
  /** Whether the published DNS records are compared with what DNS serves. */
  readonly checkDns: boolean;
  /** The DNS server to ask, address[:port]; empty: the host's resolvers. */
  readonly dnsServer: string;
  /** Most LDAP connection errors one check takes for a short outage (noise); more are errors. */
  readonly ldapBlipErrors: number;
  /** Most minutes from the first such LDAP error to the last for a short outage. */
  readonly ldapBlipMinutes: number;
  /** Mail log noise classes added to the stack's own (files/health/health-noise.txt). */
  readonly noise: readonly NoiseClass[];
}

/** A class of mail log lines that are counted, not reported as problems. */
export interface NoiseClass {
  /** Its name in the report, a-z, 0-9 and -; a built-in name adds to that class. */
  readonly name: string;
  /** A POSIX extended regular expression, matched from the program name on. */
  readonly pattern: string;
  /** Why such lines are not a problem, written above it in the file. */
  readonly why: string;
}

/** The noise class names are a-z, 0-9 and -, as the script reads them. */
export const NOISE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export const DEFAULT_HEALTH: HealthSettings = {
  everyMinutes: 15,
  maxQueue: 50,
  maxQueueAgeMinutes: 60,
  maxLogWarnings: 20,
  certMinDays: 14,
  checkDns: true,
  dnsServer: "",
  ldapBlipErrors: 10,
  ldapBlipMinutes: 5,
  noise: [],
};

/** What is wrong with mailstack:health noise, each naming the entry. Pure. */
export function noiseProblems(noise: unknown): string[] {
  if (!Array.isArray(noise))
    return [`noise ${JSON.stringify(noise)} must be a list of {"name", "pattern", "why"}`];
  const problems: string[] = [];
  noise.forEach((entry: unknown, i) => {
    const at = `noise[${i}]`;
    if (!isObject(entry)) {
      problems.push(`${at} must be an object {"name", "pattern", "why"}`);
      return;
    }
    const unknown = Object.keys(entry).filter((k) => !["name", "pattern", "why"].includes(k));
    if (unknown.length > 0)
      problems.push(`${at} has ${unknown.join(", ")}; the fields are name, pattern and why`);
    const { name, pattern, why } = entry;
    if (typeof name !== "string" || !NOISE_NAME.test(name)) {
      problems.push(
        `${at}.name ${JSON.stringify(name)} must be 1 to 32 of a-z, 0-9 and -, starting with a letter`,
      );
    }
    if (typeof why !== "string" || why.trim() === "" || /[\r\n]/.test(why)) {
      problems.push(`${at}.why must say, on one line, why such lines are not a problem`);
    }
    if (typeof pattern !== "string" || pattern.trim() === "" || /[\r\n]/.test(pattern)) {
      problems.push(`${at}.pattern must be a regular expression on one line`);
      return;
    }
    if (/[{}]/.test(pattern)) {
      problems.push(
        `${at}.pattern ${JSON.stringify(pattern)} has a brace, which Debian 12's awk reads literally: write [0-9][0-9], not [0-9]{2}`,
      );
      return;
    }
    if (/\\[dDwWsSbB]|\(\?/.test(pattern)) {
      problems.push(
        `${at}.pattern ${JSON.stringify(pattern)} uses \\d, \\w, \\s, \\b or (?, which awk does not know: write [0-9], [A-Za-z0-9_], [ ] or plain groups`,
      );
      return;
    }
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch (e) {
      problems.push(
        `${at}.pattern ${JSON.stringify(pattern)} is no regular expression: ${(e as Error).message}`,
      );
      return;
    }
    if (re.test("")) {
      problems.push(`${at}.pattern ${JSON.stringify(pattern)} matches an empty line, and so every line`);
    }
  });
  return problems;
}

/** What is wrong with merged health settings, each naming the setting. Pure. */
export function healthProblems(s: HealthSettings): string[] {
  const problems: string[] = [];
  const whole = (k: keyof HealthSettings, min: number, max: number) => {
    const v = s[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${k} ${JSON.stringify(v)} must be a whole number from ${min} to ${max}`);
    }
  };
  whole("everyMinutes", 0, 60);
  whole("maxQueue", 0, 1_000_000);
  whole("maxQueueAgeMinutes", 1, 100_000);
  whole("maxLogWarnings", 0, 1_000_000);
  whole("certMinDays", 1, 365);
  whole("ldapBlipErrors", 0, 1_000_000);
  whole("ldapBlipMinutes", 0, 1440);
  if (typeof s.checkDns !== "boolean")
    problems.push(`checkDns ${JSON.stringify(s.checkDns)} must be true or false`);
  if (
    typeof s.dnsServer !== "string" ||
    (s.dnsServer !== "" &&
      !/^(\d{1,3}(\.\d{1,3}){3}|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:\d{1,5})?$/.test(s.dnsServer))
  ) {
    problems.push(
      `dnsServer ${JSON.stringify(s.dnsServer)} must be an IPv4 address or host name, optionally with :port, such as "1.1.1.1" or "ns1.example.net:53"`,
    );
  }
  problems.push(...noiseProblems(s.noise));
  return problems;
}

/** mailstack:health over the defaults; problems go to the reader. The noise classes come sorted. */
export function parse(r: Reader<keyof typeof KEYS>): HealthSettings {
  const s = parseSettings(
    r.get("health"),
    DEFAULT_HEALTH,
    healthProblems,
    (why) => r.bad("health", why),
    [],
    '{"maxQueue": 100, "dnsServer": "1.1.1.1"}',
  );
  return { ...s, noise: canonical(s.noise, (c) => `${c.name}\n${c.pattern}`) };
}
