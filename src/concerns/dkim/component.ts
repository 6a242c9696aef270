// DKIM keys: one per domain and selector, generated with @pulumi/tls or
// imported from mailstack:dkimPrivateKeys, each with the TXT record that
// publishes it. Rotation is declarative (README, "DKIM keys"): every listed
// selector is published, and only a domain's `sign` selector signs. The
// private keys stay secret Outputs; the records are public DNS data and never
// secret, so `pulumi preview --diff` shows a rotation's new record in full.
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { type DkimKeyType, dkimKeyType, dkimRecordName, dkimRecordValue } from "./render";
import { type DkimAlgorithm, type DkimDomainConfig, type DkimSelectorConfig, dkimKeyId } from "./settings";

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

/** The name of the child resource of `selector` in `domain`: stable as long as both are. Pure. */
export function dkimChildName(name: string, domain: string, selector: string): string {
  return `${name}-${domain}-${selector}`;
}

/** Why the domains' selectors cannot be made (duplicates, bad labels, a sign selector not listed); empty when they can. Pure. */
export function dkimKeysProblems(name: string, domains: readonly DkimDomainConfig[]): string[] {
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
  return problems;
}

/** Throws with every problem of dkimKeysProblems. Pure. */
export function validateDkimKeys(name: string, domains: readonly DkimDomainConfig[]): void {
  const problems = dkimKeysProblems(name, domains);
  if (problems.length > 0) throw new Error(`dkim: ${problems.join("; ")} (mailstack:dkim)`);
}

/** Every selector's TXT record, sorted by name: the retiring ones too, for mail still in flight. Pure. */
export function dkimRecords(keys: readonly DkimKey[]): DkimTxtRecord[] {
  return keys
    .map((k) => ({ domain: k.domain, selector: k.selector, name: k.record.name, value: k.record.value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
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
