// DKIM selectors per domain (mailstack:dkim) and the imported private keys
// (mailstack:dkimPrivateKeys), checked against the domains and each other.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { canonical, configKey, isObject, jsonObject, type KeySpecs, type Reader } from "../../core/settings";
import { LABEL } from "../../core/validators";
import type { DomainConfig } from "../database/settings";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  dkim: {
    type: "object",
    default: {},
    description:
      'DKIM keys of each active domain, such as {"tlabs.team": {"selectors": [{"name": "s2026a", "source": "generate", "algorithm": "rsa2048"}], "sign": "s2026a"}}. source: generate (default) or import (the key is in dkimPrivateKeys); algorithm, for generate only: rsa2048 (default), rsa4096 or ed25519. Every listed selector is published in DNS; only sign signs. Rotate in 4 steps: (1) add a new selector (published, not used), (2) switch sign to it, (3) keep the old one listed while it retires (still published), (4) remove it. An active domain not listed gets one generated rsa2048 selector, mail, that signs.',
    example: "--path 'dkim[\"tlabs.team\"].selectors[0].name' s2026a",
  },
  dkimPrivateKeys: {
    type: "object",
    secret: true,
    default: {},
    description:
      'PEM private keys of the DKIM selectors with source import, "domain/selector" -> key (RSA of 2048 bits or more, or Ed25519). Secret.',
    example: "--secret --path 'dkimPrivateKeys[\"tlabs.team/s2026a\"]' < s2026a.pem",
  },
} as const satisfies KeySpecs;

/** How a generated DKIM key is made. */
export type DkimAlgorithm = "rsa2048" | "rsa4096" | "ed25519";

/** One DKIM selector: a key the stack generates, or one imported from mailstack:dkimPrivateKeys. */
export type DkimSelectorConfig =
  | { readonly name: string; readonly source: "generate"; readonly algorithm: DkimAlgorithm }
  | { readonly name: string; readonly source: "import" };

export interface DkimDomainConfig {
  /** An active domain of mailstack:domains. */
  readonly domain: string;
  /** Every selector published in DNS, sorted by name (`sign` names the signer; order means nothing); at least one. */
  readonly selectors: readonly DkimSelectorConfig[];
  /** The one selector that signs; one of `selectors`. */
  readonly sign: string;
}

export interface DkimConfig {
  /** DKIM selectors of every active domain, in the order of `domains` (by name). */
  readonly domains: readonly DkimDomainConfig[];
  /**
   * "domain/selector" -> PEM of each imported selector, a secret. The keys are
   * checked (dkimPrivateKeyProblems) with the rest of the config.
   */
  readonly privateKeys: pulumi.Output<Readonly<Record<string, string>>>;
}

/** How mailstack:dkimPrivateKeys names the key of `selector` in `domain`. */
export function dkimKeyId(domain: string, selector: string): string {
  return `${domain}/${selector}`;
}

/** The DKIM config of an active domain that mailstack:dkim does not list. */
export function defaultDkim(domain: string): DkimDomainConfig {
  return { domain, selectors: [{ name: "mail", source: "generate", algorithm: "rsa2048" }], sign: "mail" };
}

const DKIM_ALGORITHMS: readonly string[] = ["rsa2048", "rsa4096", "ed25519"] satisfies DkimAlgorithm[];
const DKIM_FIELDS = ["selectors", "sign"];
const DKIM_SELECTOR_FIELDS = ["name", "source", "algorithm"];

/** One domain's entry of mailstack:dkim; undefined when it has problems (each told to `bad`). */
function parseDkimDomain(
  domain: string,
  entry: unknown,
  bad: (why: string, fixText?: string) => void,
): DkimDomainConfig | undefined {
  // A --path into this domain's entry, quoted for the shell.
  const at = (rest: string) => `'dkim["${domain}"]${rest}'`;
  const setName = `pulumi config set --path ${at(".selectors[0].name")} s2026a`;
  if (!isObject(entry)) {
    bad('is not an object {"selectors": [...], "sign": "..."}', setName);
    return undefined;
  }
  let problems = 0;
  const report = (why: string, fixText?: string) => {
    problems++;
    bad(why, fixText);
  };
  for (const f of Object.keys(entry)) {
    if (!DKIM_FIELDS.includes(f)) {
      report(
        `has unknown field "${f}" (known: ${DKIM_FIELDS.join(", ")})`,
        `pulumi config rm --path ${at(`.${f}`)}`,
      );
    }
  }
  const list = entry.selectors;
  if (!Array.isArray(list) || list.length === 0) {
    report('needs "selectors", a non-empty list such as [{"name": "s2026a"}]', setName);
    return undefined;
  }
  const selectors: DkimSelectorConfig[] = [];
  const names = new Set<string>();
  list.forEach((sel: unknown, i) => {
    const here = `selectors[${i}]`;
    if (!isObject(sel)) {
      report(`${here} is not an object such as {"name": "s2026a"}`, setName);
      return;
    }
    for (const f of Object.keys(sel)) {
      if (!DKIM_SELECTOR_FIELDS.includes(f)) {
        report(
          `${here} has unknown field "${f}" (known: ${DKIM_SELECTOR_FIELDS.join(", ")})`,
          `pulumi config rm --path ${at(`.${here}.${f}`)}`,
        );
      }
    }
    const name = sel.name;
    const setThisName = `pulumi config set --path ${at(`.${here}.name`)} s2026a`;
    if (typeof name !== "string") {
      report(`${here} has no "name"`, setThisName);
      return;
    }
    if (!LABEL.test(name)) {
      report(
        `${here} name "${name}" is not a DNS label (lower-case letters, digits and inner hyphens, at most 63)`,
        setThisName,
      );
      return;
    }
    if (names.has(name)) {
      report(
        `selector "${name}" is listed twice; each name must be unique`,
        `pulumi config rm --path ${at(`.${here}`)}`,
      );
      return;
    }
    names.add(name);
    const source = sel.source ?? "generate";
    const algorithm = sel.algorithm;
    if (source !== "generate" && source !== "import") {
      report(
        `selector "${name}" has source "${String(source)}", not generate or import`,
        `pulumi config set --path ${at(`.${here}.source`)} import`,
      );
    } else if (source === "import") {
      if (algorithm !== undefined) {
        report(
          `selector "${name}" has source import and an algorithm; an imported key has its own, so remove it`,
          `pulumi config rm --path ${at(`.${here}.algorithm`)}`,
        );
      } else selectors.push({ name, source });
    } else if (
      algorithm !== undefined &&
      (typeof algorithm !== "string" || !DKIM_ALGORITHMS.includes(algorithm))
    ) {
      report(
        `selector "${name}" has algorithm "${String(algorithm)}", not ${DKIM_ALGORITHMS.join(", ")}`,
        `pulumi config set --path ${at(`.${here}.algorithm`)} rsa2048`,
      );
    } else {
      selectors.push({ name, source, algorithm: (algorithm as DkimAlgorithm | undefined) ?? "rsa2048" });
    }
  });
  const sign = entry.sign;
  const first = [...names][0] ?? "s2026a";
  const setSign = (to: string) => `pulumi config set --path ${at(".sign")} ${to}`;
  if (typeof sign !== "string") {
    report('has no "sign": name the selector that signs', setSign(first));
  } else if (!names.has(sign)) {
    report(`sign "${sign}" is not one of its selectors (${[...names].join(", ")})`, setSign(first));
  }
  return problems === 0 && typeof sign === "string"
    ? { domain, selectors: canonical(selectors, (s) => s.name), sign }
    : undefined;
}

/**
 * The DKIM selectors of every active domain (mailstack:dkim, else the
 * default) and the imported keys' PEMs, checked against each other. The PEMs'
 * contents are checked by dkimPrivateKeyProblems, with the rest of the config.
 */
export function parse(r: Reader<keyof typeof KEYS>, domains: readonly DomainConfig[]): DkimConfig {
  const get = r.get;
  const bad = r.bad;
  const listed = new Map<string, DkimDomainConfig>();
  // Domains whose entry has problems: their imported keys cannot be judged stale.
  const unsure = new Set<string>();
  const entries = jsonObject(get("dkim"), () =>
    bad("dkim", "is not an object of domain -> {selectors, sign}; set entries with --path"),
  );
  for (const [name, entry] of Object.entries(entries)) {
    const domain = domains.find((d) => d.name === name);
    const rm = `pulumi config rm --path 'dkim["${name}"]'`;
    unsure.add(name);
    if (domain === undefined) {
      bad(
        "dkim",
        `has an entry for "${name}", which is not in mailstack:domains`,
        `${rm}, or add the domain`,
      );
    } else if (!domain.active) {
      bad("dkim", `has an entry for "${name}", which is inactive (active: false) and gets no DKIM keys`, rm);
    } else {
      const parsed = parseDkimDomain(name, entry, (why, fixText) => bad("dkim", `${name}: ${why}`, fixText));
      if (parsed !== undefined) {
        listed.set(name, parsed);
        unsure.delete(name);
      }
    }
  }
  const dkim = domains.filter((d) => d.active).map((d) => listed.get(d.name) ?? defaultDkim(d.name));

  const imported = dkim.flatMap((d) =>
    d.selectors.filter((s) => s.source === "import").map((s) => dkimKeyId(d.domain, s.name)),
  );
  const pems: Record<string, string> = {};
  const supplied = jsonObject(get("dkimPrivateKeys"), () =>
    bad("dkimPrivateKeys", 'is not an object of "domain/selector" -> PEM private key'),
  );
  for (const [id, pem] of Object.entries(supplied)) {
    // Never echo a key: it is secret.
    if (!imported.includes(id)) {
      if (unsure.has(id.slice(0, id.lastIndexOf("/")))) continue;
      bad(
        "dkimPrivateKeys",
        `has a key for "${id}", which no selector of mailstack:dkim imports (a stale secret)`,
        `pulumi config rm --path 'dkimPrivateKeys["${id}"]', or list the selector in mailstack:dkim with "source": "import"`,
      );
    } else if (typeof pem !== "string") {
      bad("dkimPrivateKeys", `the key for "${id}" is not a string holding a PEM private key`);
    } else pems[id] = pem;
  }
  if (!r.plainSecret("dkimPrivateKeys")) {
    for (const id of imported) {
      if (supplied[id] !== undefined) continue;
      bad(
        "dkimPrivateKeys",
        `has no key for "${id}", which mailstack:dkim imports`,
        `pulumi config set --secret --path 'dkimPrivateKeys["${id}"]' < ${id.replace("/", ".")}.pem, or make it "source": "generate"`,
      );
    }
  }
  // The keys' text is in the raw config already: checked with everything
  // else, so a bad key stops the preview before anything is registered.
  r.add(dkimPrivateKeyProblems(pems));
  return { domains: dkim, privateKeys: pulumi.secret(pems) };
}

/**
 * Returns why `pem` cannot sign DKIM mail, or undefined when it can: it must
 * be an unencrypted PEM private key, RSA of at least 2048 bits (RFC 8301) or
 * Ed25519 (RFC 8463). Never quotes the key.
 */
export function dkimKeyProblem(pem: string): string | undefined {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch {
    return /ENCRYPTED/.test(pem)
      ? "is encrypted; import it without a passphrase (openssl pkey -in old.pem -out new.pem)"
      : "is not a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)";
  }
  switch (key.asymmetricKeyType) {
    case "rsa": {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
      return bits >= 2048 ? undefined : `is an RSA key of ${bits} bits; DKIM needs 2048 or more (RFC 8301)`;
    }
    case "ed25519":
      return undefined;
    default:
      return `is a key of type ${key.asymmetricKeyType ?? "unknown"}; DKIM keys are RSA or Ed25519`;
  }
}

/**
 * What is wrong with each imported DKIM key, naming its
 * mailstack:dkimPrivateKeys["domain/selector"], never its text. Pure.
 */
export function dkimPrivateKeyProblems(pems: Readonly<Record<string, string>>): string[] {
  return Object.entries(pems).flatMap(([id, pem]) => {
    const why = dkimKeyProblem(pem);
    return why === undefined
      ? []
      : [
          `${configKey("dkimPrivateKeys")}["${id}"] ${why}. Fix: pulumi config set --secret --path 'dkimPrivateKeys["${id}"]' < ${id.replace("/", ".")}.pem, with a key such as openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 makes`,
        ];
  });
}
