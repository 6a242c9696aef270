// The TLS profile of the client ports, as OpenSSL itself reads it: the cipher
// string expands to exactly the suites it names, each forward secret, AEAD
// and TLS 1.2 or newer (no CBC suite with its HMAC, nothing from TLS 1.0 or
// 1.1), and no template under files/ spells a suite itself, so the list is
// written once. test/sandbox/security-contract.ts proves it on the deployed ports.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../../src/core/template";
import {
  CLIENT_TLS_CIPHER_STRING,
  CLIENT_TLS_PROTOCOLS,
  CLIENT_TLS12_CIPHERS,
} from "../../src/core/tls-policy";

/** One line of `openssl ciphers -v`: the suite and its protocol, key exchange, cipher and MAC. */
interface Suite {
  readonly name: string;
  readonly protocol: string;
  readonly kx: string;
  readonly enc: string;
  readonly mac: string;
}

/** What this machine's OpenSSL makes of a cipher string (TLS 1.3's default suites included). */
function expand(cipherString: string): Suite[] {
  const r = spawnSync("openssl", ["ciphers", "-v", cipherString], { encoding: "utf8" });
  if (r.error) throw new Error(`openssl is missing on the test machine: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl refuses "${cipherString}": ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [name = "", protocol = "", ...fields] = l.trim().split(/\s+/);
      const field = (k: string) => fields.find((f) => f.startsWith(`${k}=`))?.slice(k.length + 1) ?? "";
      return { name, protocol, kx: field("Kx"), enc: field("Enc"), mac: field("Mac") };
    });
}

/** Why a suite does not belong on a client port; empty when it does. */
function suiteProblems(s: Suite): string[] {
  const problems: string[] = [];
  if (s.protocol !== "TLSv1.2" && s.protocol !== "TLSv1.3") problems.push(`${s.name}: from ${s.protocol}`);
  // AEAD: GCM or ChaCha20-Poly1305. A CBC suite shows its HMAC here (SHA1, SHA256, SHA384).
  if (s.mac !== "AEAD") problems.push(`${s.name}: Mac=${s.mac}, not AEAD (CBC)`);
  if (!["ECDH", "DH", "any"].includes(s.kx)) problems.push(`${s.name}: Kx=${s.kx}, not forward secret`);
  return problems;
}

describe("the client ports' TLS profile", () => {
  it("expands, in OpenSSL, to exactly its suites: each AEAD, forward secret, TLS 1.2 or newer", () => {
    const suites = expand(CLIENT_TLS_CIPHER_STRING);
    // OpenSSL skips a name it does not know without a word: every one must be there.
    expect(suites.filter((s) => s.protocol === "TLSv1.2").map((s) => s.name)).toEqual([
      ...CLIENT_TLS12_CIPHERS,
    ]);
    // TLS 1.3's suites are OpenSSL's defaults; they must pass the same rules.
    expect(suites.filter((s) => s.protocol === "TLSv1.3").length).toBeGreaterThan(0);
    expect(suites.flatMap(suiteProblems)).toEqual([]);
    expect(CLIENT_TLS_PROTOCOLS).toEqual(["TLSv1.2", "TLSv1.3"]);
  });

  it("the check refuses CBC suites, TLS 1.0 suites and static RSA key exchange", () => {
    // What testssl reports as obsolete CBC, and what a profile must never let in.
    const cbc = expand("ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-GCM-SHA256")
      .filter((s) => s.protocol !== "TLSv1.3")
      .flatMap(suiteProblems);
    expect(cbc).toEqual([
      "ECDHE-RSA-AES128-SHA: from TLSv1",
      "ECDHE-RSA-AES128-SHA: Mac=SHA1, not AEAD (CBC)",
      "ECDHE-RSA-AES256-SHA384: Mac=SHA384, not AEAD (CBC)",
      "AES128-GCM-SHA256: Kx=RSA, not forward secret",
    ]);
  });

  it("no template spells a cipher suite itself: the list lives in src/core/tls-policy.ts only", () => {
    const walk = (dir: string): string[] =>
      fs
        .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    const spelled = walk("files").filter((f) =>
      /\b(ECDHE|DHE)-[A-Z0-9-]+|TLS_AES_|CHACHA20/.test(fs.readFileSync(path.join(ROOT, f), "utf8")),
    );
    expect(spelled).toEqual([]);
  });
});
