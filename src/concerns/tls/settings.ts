// The mail host's certificate: which ACME server issues it, by which
// challenge, and whether DANE's TLSA records are published.
import * as pulumi from "@pulumi/pulumi";
import { type KeySpecs, localPathProblem, type Reader } from "../../core/settings";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  acmeServer: {
    type: "string",
    default: "letsencrypt",
    description:
      "Where the mail host's certificate comes from: letsencrypt (default), letsencrypt-staging, the https:// URL of another ACME directory, or none (keep the self-signed bootstrap certificate).",
    example: "letsencrypt-staging",
  },
  acmeChallenge: {
    type: "string",
    default: "http-01",
    description:
      "How the ACME server checks the names: http-01 (default; port 80 through nginx) or dns-01 (TXT records through Cloudflare; set cloudflareApiToken).",
    example: "dns-01",
  },
  acmeCaBundlePath: {
    type: "string",
    default: "",
    description:
      "Path, on the machine running Pulumi, of the PEM certificate of a private ACME server's HTTPS CA, which the host then trusts. Default none (public CAs).",
    example: "~/ca/acme-root.pem",
  },
  tlsa: {
    type: "boolean",
    default: false,
    description:
      "Publish a DANE TLSA record (3 1 1) for port 25 of the mail host; renewals then keep the certificate's key. Default false.",
    example: "true",
  },
} as const satisfies KeySpecs;

export const LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
export const LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export type AcmeChallenge = "http-01" | "dns-01";

/** The mail host's certificate. */
export interface TlsConfig {
  /** The ACME directory URL; unset: keep the self-signed bootstrap certificate. */
  readonly acmeServer?: string;
  readonly challenge: AcmeChallenge;
  /** A private ACME server's HTTPS CA, on the deploying machine (read by readAcmeCaBundle). */
  readonly caBundlePath?: string;
  /** For DNS-01. */
  readonly cloudflareApiToken?: pulumi.Output<string>;
  readonly tlsa: boolean;
}

/** The ACME servers known by name (mailstack:acmeServer). */
const ACME_SERVERS: Readonly<Record<string, string>> = {
  letsencrypt: LETSENCRYPT,
  "letsencrypt-staging": LETSENCRYPT_STAGING,
};

/** Why `v` is not a usable mailstack:acmeServer, or undefined. */
function acmeServerProblem(v: string): string | undefined {
  if (v === "none" || ACME_SERVERS[v] !== undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "is not letsencrypt, letsencrypt-staging, none or an https:// URL of an ACME directory";
  }
  return url.protocol === "https:" ? undefined : "must be an https:// URL (ACME runs over HTTPS only)";
}

/**
 * The TLS settings; `cloudflareApiToken` is the DNS concern's
 * mailstack:cloudflareApiToken ("" when unset), which DNS-01 needs.
 * `tokenProblem` records its absence against that key.
 */
export function parse(
  r: Reader<keyof typeof KEYS>,
  cloudflareApiToken: string,
  tokenProblem: (why: string) => void,
): TlsConfig {
  const acmeServer = r.str("acmeServer", "letsencrypt", acmeServerProblem);
  const challenge = r.str("acmeChallenge", "http-01", (v) =>
    v === "http-01" || v === "dns-01" ? undefined : "is not http-01 or dns-01",
  );
  if (challenge === "dns-01" && cloudflareApiToken === "") {
    tokenProblem("is required with acmeChallenge dns-01 but not set");
  }
  const caBundlePath = r.str("acmeCaBundlePath", "", localPathProblem);
  const tlsa = r.bool("tlsa", false);
  return {
    ...(acmeServer !== "none" ? { acmeServer: ACME_SERVERS[acmeServer] ?? acmeServer } : {}),
    challenge: challenge as AcmeChallenge,
    ...(caBundlePath !== "" ? { caBundlePath } : {}),
    ...(challenge === "dns-01" ? { cloudflareApiToken: pulumi.secret(cloudflareApiToken) } : {}),
    tlsa,
  };
}
