// mailstack-health's thresholds and schedule (mailstack:health).
import { type KeySpecs, parseSettings, type Reader } from "../../core/settings";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  health: {
    type: "object",
    default: {},
    description:
      'mailstack-health on the host, each optional: {"everyMinutes": 15, "maxQueue": 50, "maxQueueAgeMinutes": 60, "maxLogWarnings": 20, "certMinDays": 14, "checkDns": true, "dnsServer": ""} (the defaults). everyMinutes 0 runs no scheduled check; dnsServer is the server the published records are checked against (address[:port]; empty: the host\'s resolvers).',
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
}

export const DEFAULT_HEALTH: HealthSettings = {
  everyMinutes: 15,
  maxQueue: 50,
  maxQueueAgeMinutes: 60,
  maxLogWarnings: 20,
  certMinDays: 14,
  checkDns: true,
  dnsServer: "",
};

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
  return problems;
}

/** mailstack:health over the defaults; problems go to the reader. */
export function parse(r: Reader<keyof typeof KEYS>): HealthSettings {
  return parseSettings(
    r.get("health"),
    DEFAULT_HEALTH,
    healthProblems,
    (why) => r.bad("health", why),
    [],
    '{"maxQueue": 100, "dnsServer": "1.1.1.1"}',
  );
}
