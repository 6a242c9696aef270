// DKIM's DNS data, rendered from a key: the TXT record's name and the value
// that publishes the key's public half, and the splitting of a long TXT value
// into the strings one record holds. Pure: no config, no Pulumi.
import * as crypto from "node:crypto";
import { dkimKeyProblem } from "./settings";

/** The k= tag of a DKIM key: RSA (RFC 6376) or Ed25519 (RFC 8463). */
export type DkimKeyType = "rsa" | "ed25519";

/** The name of the DNS TXT record that publishes `selector` of `domain`. Pure. */
export function dkimRecordName(domain: string, selector: string): string {
  return `${selector}._domainkey.${domain}`;
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
