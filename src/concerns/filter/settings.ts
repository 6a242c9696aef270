// Rspamd's and ClamAV's settings: the spam score thresholds, greylisting,
// the modules that ask servers outside the host, and signature updates.
import { type KeySpecs, parseOverrides, type Reader } from "../../core/settings";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  spamActions: {
    type: "object",
    default: {},
    description:
      'Rspamd score thresholds, each optional: {"reject": 15, "addHeader": 6, "greylist": 4} (the defaults). addHeader files a message into Junk; reject null never rejects on score (viruses and GTUBE still are).',
    example: "--path 'spamActions.reject' 20",
  },
  greylisting: {
    type: "boolean",
    default: true,
    description:
      "Defer a message scoring at least spamActions.greylist once, until its sender retries. Default true.",
    example: "false",
  },
  spamNetworkChecks: {
    type: "boolean",
    default: true,
    description:
      "Rspamd's checks that ask outside servers: DNS blocklists, fuzzy hashes, ASN, URL redirectors, Phishtank, and the maps Rspamd fetches from maps.rspamd.com (false: the package's copies, or empty freemail/disposable lists). Default true; the offline sandbox turns them off.",
    example: "false",
  },
  spamTestPatterns: {
    type: "boolean",
    default: false,
    description:
      "Also act on Rspamd's GTUBE variants for add header (YJS*...), so that filing into Junk can be tested end to end. They let a sender pick the outcome: never in production. Default false.",
    example: "true",
  },
  clamavUpdates: {
    type: "boolean",
    default: true,
    description:
      "freshclam keeps ClamAV's signatures current (the first up waits for the download). Default true; false loads only the project's EICAR test signature (the offline sandbox).",
    example: "false",
  },
} as const satisfies KeySpecs;

/** Score thresholds (mailstack:spamActions); reject null means never reject on score. */
export interface SpamActions {
  readonly reject: number | null;
  readonly addHeader: number;
  readonly greylist: number;
}

export const DEFAULT_SPAM_ACTIONS: SpamActions = { reject: 15, addHeader: 6, greylist: 4 };

/** Rspamd and ClamAV. */
export interface FilterConfig {
  readonly actions: SpamActions;
  readonly greylisting: boolean;
  readonly networkChecks: boolean;
  readonly testPatterns: boolean;
  readonly clamavUpdates: boolean;
}

/** Why the thresholds make no sense (each must be positive, greylist <= addHeader < reject); empty when usable. Pure. */
export function spamActionsProblems(a: SpamActions): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(a)) {
    if (v !== null && (typeof v !== "number" || !Number.isFinite(v) || v <= 0)) {
      problems.push(`${k} must be a positive score, not ${JSON.stringify(v)}`);
    }
  }
  if (problems.length === 0) {
    if (a.greylist > a.addHeader) problems.push("greylist must not be above addHeader");
    if (a.reject !== null && a.addHeader >= a.reject) problems.push("addHeader must be below reject");
  }
  return problems;
}

/** The filter settings; problems go to the reader. */
export function parse(r: Reader<keyof typeof KEYS>): FilterConfig {
  return {
    actions: parseSpamActions(r.get("spamActions"), (why) => r.bad("spamActions", why)),
    greylisting: r.bool("greylisting", true),
    networkChecks: r.bool("spamNetworkChecks", true),
    testPatterns: r.bool("spamTestPatterns", false),
    clamavUpdates: r.bool("clamavUpdates", true),
  };
}

/** mailstack:spamActions: the three thresholds, each a positive score (reject may be null). */
function parseSpamActions(value: string | undefined, bad: (why: string) => void): SpamActions {
  if (value === undefined) return DEFAULT_SPAM_ACTIONS;
  const actions = parseOverrides(
    value,
    DEFAULT_SPAM_ACTIONS,
    '{"reject": 15, "addHeader": 6, "greylist": 4}',
    "the thresholds are reject, addHeader and greylist",
    bad,
  );
  if (actions === undefined) return DEFAULT_SPAM_ACTIONS;
  const problems = spamActionsProblems(actions);
  if (problems.length === 0) return actions;
  bad(`is not usable: ${problems.join("; ")}`);
  return DEFAULT_SPAM_ACTIONS;
}
