// mailstack:messageSizeLimit: the largest message the server takes. Postfix
// owns it, as message_size_limit; Dovecot's submission service and the filter
// apply the same value (README, "Message size").
import { DEFAULT_MESSAGE_SIZE_LIMIT } from "../../core/host-layout";
import type { KeySpecs, Reader } from "../../core/settings";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  messageSizeLimit: {
    type: "string",
    default: "35MiB",
    description:
      "Largest message, in bytes or with K, M or G, which count in powers of 1024 (35M = 35MiB = 36700160 bytes); from 1M to 1G. Larger mail gets 552 on ports 25, 587 and 465 (there from Postfix's loopback relay, as Dovecot 2.3.19's own limit crashes it; Dovecot announces the limit less 1024: README, Message size); Rspamd and ClamAV take 1 MiB more for the headers added on the way. Default 35MiB, a 25 MiB attachment in base64.",
    example: "50MiB",
  },
} as const satisfies KeySpecs;

/** Postfix's settings (mailstack:messageSizeLimit). */
export interface PostfixSettings {
  /** Largest message in bytes: Postfix's message_size_limit, Dovecot's submission_max_mail_size. */
  readonly messageSizeLimit: number;
}

export const DEFAULT_POSTFIX: PostfixSettings = { messageSizeLimit: DEFAULT_MESSAGE_SIZE_LIMIT };

/** The smallest and largest mailstack:messageSizeLimit, in bytes. */
export const MESSAGE_SIZE_BOUNDS = { min: 2 ** 20, max: 2 ** 30 } as const;

const UNITS: Readonly<Record<string, number>> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30 };

/**
 * "36700160", "35M" or "35MiB" (K, M, G: powers of 1024, as Dovecot and
 * ClamAV count them) -> bytes; undefined when it is no such size. Pure.
 */
export function parseMessageSize(v: string): number | undefined {
  const m = /^(\d+)\s*(?:([KMG])(?:iB)?)?$/i.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (UNITS[(m[2] ?? "").toUpperCase()] ?? 1);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Why `bytes` cannot be the limit, or undefined. Pure. */
export function messageSizeLimitProblem(bytes: number): string | undefined {
  if (!Number.isInteger(bytes)) return `is ${bytes}, not a whole number of bytes`;
  if (bytes < MESSAGE_SIZE_BOUNDS.min) {
    return `is ${bytes} bytes, less than 1 MiB (1048576): ordinary mail with a photo would bounce`;
  }
  if (bytes > MESSAGE_SIZE_BOUNDS.max) {
    return `is ${bytes} bytes, more than 1 GiB (1073741824): Rspamd holds each message whole in memory while it scans it`;
  }
  return undefined;
}

/** Why `v` is not a size, in words that show the fix. Pure. */
function sizeProblem(v: string): string {
  const decimal = /^(\d+)\s*([KMG])B$/i.exec(v.trim());
  if (decimal) {
    const n = Number(decimal[1]);
    const unit = (decimal[2] ?? "").toUpperCase();
    return `is ambiguous: ${unit}B can mean 10^${{ K: 3, M: 6, G: 9 }[unit]} or 2^${{ K: 10, M: 20, G: 30 }[unit]} bytes; write ${n}${unit}iB for ${n * (UNITS[unit] ?? 1)} bytes, or the number of bytes`;
  }
  return "is not a size: a number of bytes (36700160), or a whole number with K, M or G, which count in powers of 1024 (35M or 35MiB)";
}

/** mailstack:messageSizeLimit; problems go to the reader. */
export function parse(r: Reader<keyof typeof KEYS>): PostfixSettings {
  const v = r.get("messageSizeLimit");
  if (v === undefined) return DEFAULT_POSTFIX;
  const bytes = parseMessageSize(v);
  const why = bytes === undefined ? sizeProblem(v) : messageSizeLimitProblem(bytes);
  if (bytes === undefined || why !== undefined) {
    r.bad("messageSizeLimit", `value "${v}" ${why}`);
    return DEFAULT_POSTFIX;
  }
  return { messageSizeLimit: bytes };
}
