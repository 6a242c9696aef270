// mailstack:fail2ban: the thresholds and allowlist of the jails, over the
// defaults. Read here, rendered into jail.local by render.ts.

import { canonical, type KeySpecs, parseOverrides, type Reader } from "../../core/settings";
import { networkProblem } from "../../core/validators";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  fail2ban: {
    type: "object",
    default: {},
    description:
      'Fail2ban, each optional: {"maxRetry": 5, "findTime": "10m", "banTime": "1h", "allowlist": []} (the defaults). maxRetry failures within findTime ban an address in the firewall for banTime; allowlist addresses or networks (operators, monitoring, the machine that deploys) are never banned.',
    example: "--path 'fail2ban.allowlist[0]' 198.51.100.7",
  },
} as const satisfies KeySpecs;

/** Thresholds and the allowlist (mailstack:fail2ban). */
export interface Fail2banSettings {
  /** Failures within findTime that ban an address. */
  readonly maxRetry: number;
  /** Fail2ban time, e.g. "10m". */
  readonly findTime: string;
  /** How long a ban lasts, e.g. "1h". */
  readonly banTime: string;
  /** Addresses or networks never banned (operators, monitoring); sorted. */
  readonly allowlist: readonly string[];
}

export const DEFAULT_FAIL2BAN: Fail2banSettings = {
  maxRetry: 5,
  findTime: "10m",
  banTime: "1h",
  allowlist: [],
};

const TIME = /^[1-9][0-9]*[smhdw]?$/;

/** The problems of `s`, each naming the setting; empty when usable. Pure. */
export function fail2banProblems(s: Fail2banSettings): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(s.maxRetry) || s.maxRetry < 1 || s.maxRetry > 1000) {
    problems.push(`maxRetry ${JSON.stringify(s.maxRetry)} must be a whole number from 1 to 1000`);
  }
  for (const k of ["findTime", "banTime"] as const) {
    if (typeof s[k] !== "string" || !TIME.test(s[k])) {
      problems.push(`${k} ${JSON.stringify(s[k])} must be a time such as 600, 30s, 10m, 1h, 1d or 1w`);
    }
  }
  for (const a of s.allowlist) {
    const why = typeof a === "string" ? networkProblem(a) : "is not an IP address or network";
    if (why !== undefined) {
      problems.push(`allowlist entry ${JSON.stringify(a)} ${why}`);
    }
  }
  return problems;
}

/** mailstack:fail2ban over the defaults; problems go to the reader. */
export function parse(r: Reader<keyof typeof KEYS>): Fail2banSettings {
  const value = r.get("fail2ban");
  if (value === undefined) return DEFAULT_FAIL2BAN;
  const bad = (why: string) => r.bad("fail2ban", why);
  const settings = parseOverrides(
    value,
    DEFAULT_FAIL2BAN,
    '{"maxRetry": 5, "findTime": "10m", "banTime": "1h", "allowlist": []}',
    "the settings are maxRetry, findTime, banTime, allowlist",
    bad,
  );
  if (settings === undefined) return DEFAULT_FAIL2BAN;
  if (!Array.isArray(settings.allowlist)) {
    bad("allowlist is not a list of addresses");
    return DEFAULT_FAIL2BAN;
  }
  const problems = fail2banProblems(settings);
  for (const p of problems) bad(`has ${p}`);
  if (problems.length > 0) return DEFAULT_FAIL2BAN;
  // A set of addresses: its order means nothing (README, "Order in the config").
  return { ...settings, allowlist: canonical(settings.allowlist, (a) => a) };
}
