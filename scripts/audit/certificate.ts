// The report's "Certificate" section: the tls output as the host had it at
// the last pulumi up, its days left counted to the report's time.
import { table } from "./markdown";
import { DAY, type Outputs } from "./outputs";

/** A certificate closer to expiry than this many days is a warning. */
export const CERT_WARN_DAYS = 21;

/** The section as data: what the JSON report holds under its key. Pure. */
export function certificateOf(out: Outputs, now: Date) {
  const summary = out.tls?.certificate ?? "";
  const line = (re: RegExp) => re.exec(summary)?.[1]?.trim();
  const notAfter = line(/^notAfter=(.*)$/m);
  const expiry = notAfter === undefined ? Number.NaN : Date.parse(notAfter);
  const daysLeft = Number.isNaN(expiry) ? null : Math.floor((expiry - now.getTime()) / DAY);
  return {
    source: "the tls output: the certificate as the host had it at the last pulumi up",
    acmeServer: out.tls?.acmeServer ?? null,
    issuer: line(/^issuer=(.*)$/m) ?? null,
    notAfter: Number.isNaN(expiry) ? null : new Date(expiry).toISOString(),
    daysLeft,
    warning: daysLeft !== null && daysLeft < CERT_WARN_DAYS,
    names: out.tls?.names ?? [],
    spkiSha256: line(/^spki-sha256 ([0-9a-f]{64})$/m) ?? null,
    renewal: out.tls?.renewal ?? null,
  };
}

/** The section's Markdown, below its heading. Pure. */
export function certificateMarkdown(certificate: ReturnType<typeof certificateOf>): string[] {
  return [
    `From ${certificate.source}.`,
    "",
    ...table(
      ["", ""],
      [
        ["ACME server", certificate.acmeServer],
        ["Issuer", certificate.issuer],
        ["Expires", certificate.notAfter],
        [
          "Days left",
          certificate.daysLeft === null
            ? null
            : `${certificate.daysLeft}${certificate.warning ? ` — WARNING: under ${CERT_WARN_DAYS} days` : ""}`,
        ],
        ["Names", certificate.names.join(", ")],
        ["Key (SPKI SHA-256)", certificate.spkiSha256],
        ["Renewal", certificate.renewal],
      ],
    ),
  ];
}
