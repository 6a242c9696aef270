// The report's "DKIM selectors" section: each published selector from the
// dkimRecords output, its key type and size, and its age from the state's
// created times.
import * as crypto from "node:crypto";
import { date, table } from "./markdown";
import { daysBetween, type Outputs, str } from "./outputs";
import { byType, type ExportedResource, type StackState } from "./state";

export interface DkimAudit {
  readonly domain: string;
  readonly selector: string;
  readonly record: string;
  readonly signing: boolean;
  readonly algorithm: string;
  readonly bits: number | null;
  readonly source: "generated" | "imported";
  readonly since: string | null;
  readonly ageDays: number | null;
  readonly ageFrom: string;
}

/** The k= type and, for RSA, the modulus size of a DKIM record's key. Pure. */
function dkimKey(value: string): { algorithm: string; bits: number | null } {
  const tag = (t: string) => new RegExp(`(?:^|;)\\s*${t}=([^;\\s]*)`).exec(value)?.[1];
  const algorithm = tag("k") ?? "rsa";
  if (algorithm !== "rsa") return { algorithm, bits: algorithm === "ed25519" ? 256 : null };
  try {
    const key = crypto.createPublicKey({
      key: Buffer.from(tag("p") ?? "", "base64"),
      format: "der",
      type: "spki",
    });
    return { algorithm, bits: key.asymmetricKeyDetails?.modulusLength ?? null };
  } catch {
    return { algorithm, bits: null };
  }
}

/** The section as data: what the JSON report holds under its key. Pure. */
export function dkimOf(
  state: StackState,
  out: Outputs,
  cloudflare: readonly ExportedResource[],
  now: Date,
): DkimAudit[] {
  const dkim = byType(state, "mailstack:dkim:DkimKeys");
  return (out.dkimRecords ?? []).map((r) => {
    const at = r.name.indexOf("._domainkey.");
    const selector = r.name.slice(0, at);
    const domain = r.name.slice(at + "._domainkey.".length);
    // A generated key is a @pulumi/tls resource named by src/concerns/dkim/component.ts' dkimChildName.
    const generated = state.resources.find(
      (k) =>
        k.type === "tls:index/privateKey:PrivateKey" &&
        k.parent === dkim?.urn &&
        k.name === `${dkim?.name}-${domain}-${selector}`,
    );
    const record = cloudflare.find((c) => str(c.inputs.name) === r.name && str(c.inputs.type) === "TXT");
    const since = generated?.created ?? record?.created;
    return {
      domain,
      selector,
      record: r.name,
      signing: r.signing,
      ...dkimKey(r.value),
      source: generated ? "generated" : "imported",
      since: since ?? null,
      ageDays: daysBetween(since, now),
      ageFrom: generated?.created
        ? `created time of ${generated.name} (the key)`
        : record?.created
          ? `created time of ${record.name} (its Cloudflare record)`
          : "unknown: an imported key, and the state records no time for it",
    };
  });
}

/** The section's Markdown, below its heading. Pure. */
export function dkimMarkdown(dkim: readonly DkimAudit[]): string[] {
  return [
    "From the dkimRecords output; the age comes from the state's created times (see each row).",
    "",
    ...table(
      ["Domain", "Selector", "Signs", "Key", "Source", "Since", "Age (days)", "Age from"],
      dkim.map((k) => [
        k.domain,
        k.selector,
        k.signing,
        `${k.algorithm}${k.bits === null ? "" : ` ${k.bits}`}`,
        k.source,
        date(k.since),
        k.ageDays,
        k.ageFrom,
      ]),
    ),
  ];
}
