// The machinery every concern's settings.ts uses to declare and read its
// config keys. A concern declares its keys once (`KeySpecs`), and its
// `parse()` reads them through a `Reader`, which collects every problem, each
// naming the key and the fix, so the operator sees them all at once.
// src/config/ composes the concerns; nothing here knows any concern.

export const NAMESPACE = "mailstack";

export type KeyType = "string" | "integer" | "boolean" | "array" | "object";

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
  readonly default?: string | number | boolean | Record<string, never> | readonly never[];
}

/** A concern's keys, by their name without the namespace. */
export type KeySpecs<K extends string = string> = Readonly<Record<K, KeySpec>>;

/** Raw config as Pulumi holds it: values keyed without the namespace. */
export interface RawConfig {
  readonly values: Readonly<Record<string, string>>;
  readonly secretKeys: ReadonlySet<string>;
}

/** `k` with the namespace, as the operator types it: mailstack:host. */
export function configKey(k: string): string {
  return `${NAMESPACE}:${k}`;
}

/** A working `pulumi config set` command for `k`, from its example. */
export function fixOf(k: string, spec: KeySpec): string {
  const example = spec.example.startsWith("--") ? spec.example : `${configKey(k)} ${spec.example}`;
  return `pulumi config set ${example}`;
}

/** One problem as the operator reads it: the key, what is wrong, and the fix. */
export function problem(k: string, why: string, fix: string): string {
  return `${configKey(k)} ${why}. Fix: ${fix}`;
}

/** How a concern's parse() reads its keys; every problem lands in one list. */
export interface Reader<K extends string> {
  /** The value when set (not to Pulumi.yaml's default); a required key that is unset is a problem. */
  get(k: K): string | undefined;
  /** Set, and not to Pulumi.yaml's default. */
  isSet(k: K): boolean;
  /** Present with any value, even a secret stored in plain text. */
  given(k: K): boolean;
  /** A secret key whose value was stored without --secret (reported once, read as unset). */
  plainSecret(k: K): boolean;
  str(k: K, fallback: string, check?: (v: string) => string | undefined): string;
  bool(k: K, fallback: boolean): boolean;
  /** A whole number from min to max; `what` names it in the message ("a TCP port"). */
  int(k: K, fallback: number, min: number, max: number, what: string): number;
  port(k: K, fallback: number): number;
  /** Records a problem with `k`; the fix defaults to the key's example. */
  bad(k: K, why: string, fixText?: string): void;
  /** The key's own fix: a working `pulumi config set`. */
  fix(k: K): string;
  /** Records problems that already name their key and fix (dkimPrivateKeyProblems). */
  add(problems: readonly string[]): void;
}

/**
 * A reader over `raw` for the keys in `specs`; problems go into `problems`.
 * A secret's value is never put into a message: messages end up in logs.
 */
export function makeReader<K extends string>(
  specs: KeySpecs<K>,
  raw: RawConfig,
  problems: string[],
): Reader<K> {
  const plain = new Set<K>();
  const spec = (k: K): KeySpec => specs[k];
  const fix = (k: K) => fixOf(k, spec(k));
  const bad = (k: K, why: string, fixText = fix(k)) => {
    problems.push(problem(k, why, fixText));
  };
  const isSet = (k: K): boolean => {
    const s = spec(k);
    const v = raw.values[k];
    // Pulumi fills in Pulumi.yaml's defaults; a default counts as "not set".
    const isDefault =
      s.default !== undefined &&
      v === (typeof s.default === "string" ? s.default : JSON.stringify(s.default));
    return v !== undefined && v !== "" && !isDefault;
  };
  const get = (k: K): string | undefined => {
    const s = spec(k);
    const v = raw.values[k];
    if (v === undefined || !isSet(k)) {
      if (s.required) bad(k, "is required but not set");
      return undefined;
    }
    if (s.secret && !raw.secretKeys.has(k)) {
      plain.add(k);
      bad(
        k,
        "is stored in plain text but must be a secret",
        `pulumi config rm ${configKey(k)}, then ${fix(k)}`,
      );
      return undefined;
    }
    return v;
  };
  const str = (k: K, fallback: string, check?: (v: string) => string | undefined): string => {
    const v = get(k);
    if (v === undefined) return fallback;
    const why = check?.(v);
    if (why === undefined) return v;
    bad(k, `value ${spec(k).secret ? "(secret, not shown)" : `"${v}"`} ${why}`);
    return fallback;
  };
  const int = (k: K, fallback: number, min: number, max: number, what: string): number => {
    const v = get(k);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < min || n > max) {
      bad(k, `value "${v}" is not ${what} (a whole number from ${min} to ${max})`);
      return fallback;
    }
    return n;
  };
  return {
    get,
    isSet,
    given: (k) => (raw.values[k] ?? "") !== "",
    plainSecret: (k) => plain.has(k),
    str,
    bool: (k, fallback) => {
      const v = get(k);
      if (v === undefined) return fallback;
      if (v === "true" || v === "false") return v === "true";
      bad(k, `value "${v}" is not true or false`);
      return fallback;
    },
    int,
    port: (k, fallback) => int(k, fallback, 1, 65535, "a TCP port"),
    bad,
    fix,
    add: (found) => {
      problems.push(...found);
    },
  };
}

/** `value` parsed as a JSON object; undefined when it is not JSON or not an object (a list, a scalar). */
export function parseJsonObject(value: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  return isObject(parsed) ? parsed : undefined;
}

/** A JSON object; empty when `value` is unset, and also (after telling `bad`) when it is no object. */
export function jsonObject(value: string | undefined, bad: () => void): Record<string, unknown> {
  if (value === undefined) return {};
  const parsed = parseJsonObject(value);
  if (parsed === undefined) bad();
  return parsed ?? {};
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * `items` sorted by `key`, in code-unit order: the same on every machine,
 * unlike `localeCompare`. A config list whose order carries no meaning is
 * kept in this order from parse on, so reordering it in config changes no
 * file and no resource (README, "Order in the config"). Pure.
 */
export function canonical<T>(items: readonly T[], key: (item: T) => string): T[] {
  return [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/**
 * An object setting given as JSON over its defaults: every key optional,
 * unknown keys refused. Returns the merged object, or undefined after
 * reporting the problem. `example` shows the shape; `noun` names the keys;
 * `optional` names keys the defaults leave out.
 */
export function parseOverrides<T extends object>(
  value: string,
  defaults: T,
  example: string,
  noun: string,
  bad: (why: string) => void,
  optional: readonly string[] = [],
): T | undefined {
  const parsed = parseJsonObject(value);
  if (parsed === undefined) {
    bad(`is not an object such as ${example}`);
    return undefined;
  }
  const known = [...Object.keys(defaults), ...optional];
  const unknown = Object.keys(parsed).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    bad(`has ${unknown.map((k) => `"${k}"`).join(", ")}; ${noun}`);
    return undefined;
  }
  return { ...defaults, ...(parsed as Partial<T>) };
}

/**
 * An object setting over its defaults (mailstack:spf, dmarc, mtaSts, backup), the
 * merged result checked by `problems`. `optional` names keys the defaults leave out;
 * `example` is shown when the value is no object (default: the defaults).
 */
export function parseSettings<T extends object>(
  value: string | undefined,
  defaults: T,
  problems: (t: T) => string[],
  bad: (why: string) => void,
  optional: readonly string[] = [],
  example = JSON.stringify(defaults),
): T {
  if (value === undefined) return defaults;
  const known = [...Object.keys(defaults), ...optional];
  const merged = parseOverrides(
    value,
    defaults,
    example,
    `the settings are ${known.join(", ")}`,
    bad,
    optional,
  );
  if (merged === undefined) return defaults;
  const found = problems(merged);
  for (const p of found) bad(`has ${p}`);
  return found.length > 0 ? defaults : merged;
}

export type FieldType = "string" | "boolean" | "string[]" | "quota";
export type Fields = Readonly<Record<string, { readonly type: FieldType; readonly required?: boolean }>>;

/** Parses a JSON list of objects with known fields; reports unknown or mistyped fields. */
export function parseList(
  value: string | undefined,
  bad: (why: string) => void,
  fields: Fields,
): Record<string, unknown>[] {
  if (value === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed)) {
    bad("is not a list; set entries with --path");
    return [];
  }
  return checkEntries(parsed, bad, fields);
}

/** Keeps the entries of a parsed list that are objects with known, well-typed fields; reports the rest. */
function checkEntries(
  parsed: readonly unknown[],
  bad: (why: string) => void,
  fields: Fields,
): Record<string, unknown>[] {
  const known = Object.keys(fields);
  const out: Record<string, unknown>[] = [];
  parsed.forEach((entry: unknown, i) => {
    if (!isObject(entry)) {
      bad(`entry ${i} is not an object`);
      return;
    }
    let ok = true;
    for (const f of Object.keys(entry)) {
      if (!known.includes(f)) {
        bad(`entry ${i} has unknown field "${f}" (known: ${known.join(", ")})`);
        ok = false;
      }
    }
    for (const [f, spec] of Object.entries(fields)) {
      const v = entry[f];
      if (v === undefined) {
        if (spec.required) {
          bad(`entry ${i} has no "${f}"`);
          ok = false;
        }
        continue;
      }
      const fits =
        spec.type === "string[]"
          ? Array.isArray(v) && v.every((x) => typeof x === "string")
          : spec.type === "quota"
            ? typeof v === "string" || typeof v === "number"
            : typeof v === spec.type;
      if (!fits) {
        bad(
          `entry ${i} field "${f}" must be ${spec.type === "string[]" ? "a list of strings" : `a ${spec.type}`}`,
        );
        ok = false;
      }
    }
    if (ok) out.push(entry);
  });
  return out;
}

/** Why `v` is not an absolute path (or one starting with ~/), or undefined. */
export function localPathProblem(v: string): string | undefined {
  return v.startsWith("/") || v.startsWith("~/")
    ? undefined
    : "is not an absolute path (or one starting with ~/)";
}
