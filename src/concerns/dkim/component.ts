// DKIM keys: one per domain and selector, generated with @pulumi/tls or
// imported from mailstack:dkimPrivateKeys, each with the TXT record that
// publishes it. Rotation is declarative (README, "DKIM keys"): every listed
// selector is published, and only a domain's `sign` selector signs. The
// private keys stay secret Outputs; the records are public DNS data and never
// secret, so `pulumi preview --diff` shows a rotation's new record in full.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import {
  type DkimAlgorithm,
  type DkimDomainConfig,
  type DkimSelectorConfig,
  dkimKeyId,
  dkimKeyProblem,
} from "./settings";

/** The k= tag of a DKIM key: RSA (RFC 6376) or Ed25519 (RFC 8463). */
export type DkimKeyType = "rsa" | "ed25519";

export interface DkimRecord {
  /** "<selector>._domainkey.<domain>", without a trailing dot. */
  readonly name: string;
  /** "v=DKIM1; k=rsa; p=..." or "v=DKIM1; k=ed25519; p=...". Public: never secret. */
  readonly value: pulumi.Output<string>;
}

export interface DkimKey {
  readonly domain: string;
  readonly selector: string;
  /** True for the domain's `sign` selector only; every key is published either way. */
  readonly signing: boolean;
  /** Where the key comes from: made by the stack, or mailstack:dkimPrivateKeys. */
  readonly source: DkimSelectorConfig["source"];
  /** The key's type; for an imported key it is read from the key itself, hence an Output. Not secret. */
  readonly algorithm: pulumi.Output<DkimKeyType>;
  /** The private key, PEM (PKCS#1 or PKCS#8). Always secret. */
  readonly privateKeyPem: pulumi.Output<string>;
  readonly record: DkimRecord;
}

/** A TXT record of one selector, for the DNS component. */
export interface DkimTxtRecord {
  /** The mail domain the selector belongs to. */
  readonly domain: string;
  readonly selector: string;
  /** "<selector>._domainkey.<domain>", without a trailing dot. */
  readonly name: string;
  readonly value: pulumi.Output<string>;
}

export interface DkimKeysArgs {
  /** Every signed domain with its selectors (StackConfig.dkim); each needs at least one selector. */
  readonly domains: readonly DkimDomainConfig[];
  /**
   * "domain/selector" -> PEM of each selector with source import, a secret
   * (StackConfig.dkimPrivateKeys). Default none, which suits only domains
   * whose selectors are all generated.
   */
  readonly importedKeys?: pulumi.Input<Readonly<Record<string, string>>>;
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The name of the DNS TXT record that publishes `selector` of `domain`. Pure. */
export function dkimRecordName(domain: string, selector: string): string {
  return `${selector}._domainkey.${domain}`;
}

/** The name of the child resource of `selector` in `domain`: stable as long as both are. Pure. */
export function dkimChildName(name: string, domain: string, selector: string): string {
  return `${name}-${domain}-${selector}`;
}

/** Throws unless every domain has unique, well-formed selectors and signs with one of them. Pure. */
export function validateDkimKeys(name: string, domains: readonly DkimDomainConfig[]): void {
  const problems: string[] = [];
  const seenDomains = new Set<string>();
  const children = new Set<string>();
  for (const d of domains) {
    if (seenDomains.has(d.domain)) problems.push(`${d.domain} is listed twice`);
    seenDomains.add(d.domain);
    if (d.selectors.length === 0) problems.push(`${d.domain} has no selector`);
    const names = new Set<string>();
    for (const s of d.selectors) {
      if (!LABEL.test(s.name)) problems.push(`${d.domain}: selector "${s.name}" is not a DNS label`);
      if (names.has(s.name)) problems.push(`${d.domain}: selector "${s.name}" is listed twice`);
      names.add(s.name);
      // "a.test" + "x-y" and "a.test-x" + "y" would share a child name.
      const child = dkimChildName(name, d.domain, s.name);
      if (children.has(child)) problems.push(`two selectors share the resource name ${child}`);
      children.add(child);
    }
    if (!names.has(d.sign))
      problems.push(`${d.domain} signs with "${d.sign}", which is not one of its selectors`);
  }
  if (problems.length > 0) throw new Error(`dkim: ${problems.join("; ")} (mailstack:dkim)`);
}

/** The key type and the p= value of a DKIM private key; throws when DKIM cannot use it. Pure. */
function publicPart(privatePem: string): { readonly k: DkimKeyType; readonly p: string } {
  const why = dkimKeyProblem(privatePem);
  if (why !== undefined) throw new Error(`dkim: the private key ${why}`);
  const pub = crypto.createPublicKey(privatePem);
  switch (pub.asymmetricKeyType) {
    case "rsa":
      // RFC 6376 3.6.1: p= is the base64 of the DER SubjectPublicKeyInfo.
      return { k: "rsa", p: pub.export({ type: "spki", format: "der" }).toString("base64") };
    case "ed25519": {
      // RFC 8463 4.2: p= is the base64 of the raw 32-byte public key, not an SPKI.
      const raw = Buffer.from(pub.export({ format: "jwk" }).x ?? "", "base64url");
      if (raw.length !== 32) throw new Error("dkim: the Ed25519 public key is not 32 bytes");
      return { k: "ed25519", p: raw.toString("base64") };
    }
    default:
      throw new Error(`dkim: a ${pub.asymmetricKeyType ?? "unknown"} key cannot sign DKIM mail`);
  }
}

/** The type of a DKIM private key; throws when DKIM cannot use it. Pure. */
export function dkimKeyType(privatePem: string): DkimKeyType {
  return publicPart(privatePem).k;
}

/**
 * The TXT value that publishes the public half of `privatePem`:
 * "v=DKIM1; k=rsa; p=<base64 SPKI DER>" or "v=DKIM1; k=ed25519; p=<base64 raw key>".
 * Throws, without quoting the key, unless it is RSA of 2048 bits or more or Ed25519. Pure.
 */
export function dkimRecordValue(privatePem: string): string {
  const { k, p } = publicPart(privatePem);
  return `v=DKIM1; k=${k}; p=${p}`;
}

/** Every selector's TXT record, sorted by name: the retiring ones too, for mail still in flight. Pure. */
export function dkimRecords(keys: readonly DkimKey[]): DkimTxtRecord[] {
  return keys
    .map((k) => ({ domain: k.domain, selector: k.selector, name: k.record.name, value: k.record.value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Splits a TXT value into the character-strings of at most `max` (255) bytes
 * that one TXT record may hold (RFC 1035 3.3.14, RFC 7208 3.3): a 2048-bit
 * RSA key's record is about 400 bytes. Never splits inside a UTF-8 character. Pure.
 */
export function splitTxt(value: string, max = 255): string[] {
  if (!Number.isInteger(max) || max < 4) throw new Error(`splitTxt: ${max} bytes is too short a string`);
  const out: string[] = [];
  let chunk = "";
  let size = 0;
  for (const ch of value) {
    const n = Buffer.byteLength(ch, "utf8");
    if (size + n > max) {
      out.push(chunk);
      chunk = "";
      size = 0;
    }
    chunk += ch;
    size += n;
  }
  if (chunk !== "" || out.length === 0) out.push(chunk);
  return out;
}

/** The @pulumi/tls arguments that make a key of `algorithm`. Pure. */
export function tlsKeyArgs(algorithm: DkimAlgorithm): tls.PrivateKeyArgs {
  switch (algorithm) {
    case "rsa2048":
      return { algorithm: "RSA", rsaBits: 2048 };
    case "rsa4096":
      return { algorithm: "RSA", rsaBits: 4096 };
    case "ed25519":
      return { algorithm: "ED25519" };
    default: {
      const never: never = algorithm;
      throw new Error(`unknown DKIM algorithm ${never}`);
    }
  }
}

/** The key type a generated key of `algorithm` has. Pure. */
function keyTypeOf(algorithm: DkimAlgorithm): DkimKeyType {
  return algorithm === "ed25519" ? "ed25519" : "rsa";
}

export class DkimKeys extends pulumi.ComponentResource {
  /** Every selector of every domain, in config order. */
  readonly keys: readonly DkimKey[];

  constructor(name: string, args: DkimKeysArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:dkim:DkimKeys", name, {}, opts);
    validateDkimKeys(name, args.domains);
    const imported = pulumi.output(args.importedKeys ?? {});

    const keyOf = (domain: string, s: DkimSelectorConfig) => {
      switch (s.source) {
        case "generate": {
          const key = new tls.PrivateKey(dkimChildName(name, domain, s.name), tlsKeyArgs(s.algorithm), {
            parent: this,
          });
          return { pem: key.privateKeyPem, algorithm: pulumi.output(keyTypeOf(s.algorithm)) };
        }
        case "import": {
          const id = dkimKeyId(domain, s.name);
          const pem = imported.apply((all) => {
            const text = all[id];
            if (text === undefined) {
              throw new pulumi.ResourceError(
                `dkim: mailstack:dkimPrivateKeys has no key for "${id}", which mailstack:dkim imports`,
                this,
              );
            }
            return text;
          });
          return { pem, algorithm: pulumi.unsecret(pem.apply(dkimKeyType)) };
        }
        default: {
          const never: never = s;
          throw new Error(`unknown DKIM key source ${JSON.stringify(never)}`);
        }
      }
    };

    this.keys = args.domains.flatMap((d) =>
      d.selectors.map((s): DkimKey => {
        const { pem, algorithm } = keyOf(d.domain, s);
        return {
          domain: d.domain,
          selector: s.name,
          signing: s.name === d.sign,
          source: s.source,
          algorithm,
          privateKeyPem: pulumi.secret(pem),
          // Derived from the secret key, but only its public half: DNS data.
          record: {
            name: dkimRecordName(d.domain, s.name),
            value: pulumi.unsecret(pem.apply(dkimRecordValue)),
          },
        };
      }),
    );
    this.registerOutputs({
      records: dkimRecords(this.keys).map((r) => ({ name: r.name, value: r.value })),
      signing: this.keys.filter((k) => k.signing).map((k) => dkimRecordName(k.domain, k.selector)),
    });
  }
}
