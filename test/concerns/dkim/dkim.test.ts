// DKIM keys: the TXT values checked against openssl's own public keys, the
// TXT splitting a zone file needs, validation, and the component's resources
// and secrecy under mocks.
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import type * as pulumiType from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type DkimKey,
  dkimChildName,
  dkimKeysProblems,
  dkimRecords,
  tlsKeyArgs,
  validateDkimKeys,
} from "../../../src/concerns/dkim/component";
import { dkimRecordName, dkimRecordValue, splitTxt } from "../../../src/concerns/dkim/render";
import type { DkimDomainConfig } from "../../../src/concerns/dkim/settings";
import { flush, parents, recordParents, resources, settle, setup } from "../../helpers/mocks";

setup();

function rsa(bits = 2048, type: "pkcs1" | "pkcs8" = "pkcs8"): string {
  return crypto
    .generateKeyPairSync("rsa", { modulusLength: bits })
    .privateKey.export({ type, format: "pem" })
    .toString();
}
function ed25519(): string {
  return crypto.generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** The DER SubjectPublicKeyInfo openssl derives from a private key. */
function opensslSpki(privatePem: string): Buffer {
  const r = spawnSync("openssl", ["pkey", "-pubout", "-outform", "DER"], { input: privatePem });
  if (r.status !== 0) throw new Error(`openssl pkey failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** The tags of a DKIM record, "v=DKIM1; k=rsa; p=..." -> {v, k, p}. */
function tags(value: string): Record<string, string> {
  return Object.fromEntries(
    value.split(";").map((t) => {
      const [k, ...v] = t.trim().split("=");
      return [k, v.join("=")];
    }),
  );
}

const RSA = rsa();
const RSA_PKCS1 = rsa(2048, "pkcs1");
const ED25519 = ed25519();

describe("dkimRecordValue", () => {
  it("RSA: p= is the base64 DER public key openssl pkey -pubout gives, whatever the PEM flavour", () => {
    for (const key of [RSA, RSA_PKCS1]) {
      const value = dkimRecordValue(key);
      expect(value).toMatch(/^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*$/);
      expect(tags(value).p).toBe(opensslSpki(key).toString("base64"));
    }
  });

  it("RSA 4096 is accepted", () => {
    const key = rsa(4096);
    expect(tags(dkimRecordValue(key)).p).toBe(opensslSpki(key).toString("base64"));
  });

  it("Ed25519: p= is the raw 32-byte public key (RFC 8463), not the SPKI", () => {
    const value = dkimRecordValue(ED25519);
    expect(value).toMatch(/^v=DKIM1; k=ed25519; p=/);
    const raw = Buffer.from(tags(value).p ?? "", "base64");
    expect(raw).toHaveLength(32);
    // The SPKI openssl prints is a fixed 12-byte header and then these 32 bytes.
    const spki = opensslSpki(ED25519);
    expect(spki).toHaveLength(44);
    expect(raw.equals(spki.subarray(12))).toBe(true);
  });

  it("refuses a bad PEM, a weak RSA key and other key types, without quoting the key", () => {
    const garbage = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRleHQ=\n-----END PRIVATE KEY-----\n";
    expect(() => dkimRecordValue(garbage)).toThrow(/^dkim: the private key is not a PEM private key/);
    expect(() => dkimRecordValue(garbage)).not.toThrow(/c2VjcmV0/);
    const weak = rsa(1024);
    expect(() => dkimRecordValue(weak)).toThrow("is an RSA key of 1024 bits; DKIM needs 2048 or more");
    expect(() => dkimRecordValue(weak)).not.toThrow((weak.split("\n")[1] ?? "").slice(0, 20));
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    expect(() => dkimRecordValue(ec.export({ type: "pkcs8", format: "pem" }).toString())).toThrow(
      "is a key of type ec; DKIM keys are RSA or Ed25519",
    );
    expect(() => dkimRecordValue("")).toThrow(/not a PEM private key/);
  });
});

describe("splitTxt", () => {
  it("splits a 2048-bit RSA record into strings of at most 255 bytes that join back to it", () => {
    const value = dkimRecordValue(RSA);
    expect(value.length).toBeGreaterThan(255);
    const parts = splitTxt(value);
    expect(parts.map((p) => p.length)).toEqual([255, value.length - 255]);
    expect(parts.join("")).toBe(value);
  });

  it("keeps a short value whole, and an empty one as one empty string", () => {
    expect(splitTxt("v=spf1 -all")).toEqual(["v=spf1 -all"]);
    expect(splitTxt("x".repeat(255))).toEqual(["x".repeat(255)]);
    expect(splitTxt("x".repeat(256))).toEqual(["x".repeat(255), "x"]);
    expect(splitTxt("")).toEqual([""]);
  });

  it("counts bytes, not characters, and never splits a UTF-8 character", () => {
    const parts = splitTxt(`${"a".repeat(254)}한b`);
    expect(parts).toEqual(["a".repeat(254), "한b"]);
    for (const p of splitTxt("한".repeat(200))) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(255);
    expect(() => splitTxt("abc", 2)).toThrow(/too short/);
  });
});

describe("validateDkimKeys and tlsKeyArgs", () => {
  const ok: DkimDomainConfig = {
    domain: "tlabs.team",
    selectors: [{ name: "s2026a", source: "generate", algorithm: "rsa2048" }],
    sign: "s2026a",
  };
  it("accepts a well-formed domain", () => {
    expect(() => validateDkimKeys("dkim", [ok])).not.toThrow();
  });
  it.each([
    ["sign not listed", [{ ...ok, sign: "nope" }], 'signs with "nope"'],
    ["no selector", [{ ...ok, selectors: [] }], "has no selector"],
    ["duplicate selector", [{ ...ok, selectors: [...ok.selectors, ...ok.selectors] }], "listed twice"],
    [
      "bad selector",
      [{ ...ok, selectors: [{ name: "S_1", source: "import" as const }], sign: "S_1" }],
      "DNS label",
    ],
    ["duplicate domain", [ok, ok], "tlabs.team is listed twice"],
    [
      "child names that collide",
      [
        { domain: "a.test", selectors: [{ name: "x-y", source: "import" as const }], sign: "x-y" },
        { domain: "a.test-x", selectors: [{ name: "y", source: "import" as const }], sign: "y" },
      ],
      "share the resource name dkim-a.test-x-y",
    ],
  ])("refuses %s", (_, domains, message) => {
    expect(() => validateDkimKeys("dkim", domains)).toThrow(message);
    expect(dkimKeysProblems("dkim", domains).join("; ")).toContain(message);
  });
  it("lists every problem of every domain at once", () => {
    expect(dkimKeysProblems("dkim", [ok])).toEqual([]);
    expect(
      dkimKeysProblems("dkim", [
        { ...ok, sign: "nope" },
        { ...ok, domain: "b.team", selectors: [] },
      ]),
    ).toHaveLength(3);
  });

  it("maps each algorithm to @pulumi/tls arguments", () => {
    expect(tlsKeyArgs("rsa2048")).toEqual({ algorithm: "RSA", rsaBits: 2048 });
    expect(tlsKeyArgs("rsa4096")).toEqual({ algorithm: "RSA", rsaBits: 4096 });
    expect(tlsKeyArgs("ed25519")).toEqual({ algorithm: "ED25519" });
  });

  it("names records and children by domain and selector", () => {
    expect(dkimRecordName("tlabs.team", "s2026a")).toBe("s2026a._domainkey.tlabs.team");
    expect(dkimChildName("mail-dkim", "tlabs.team", "s2026a")).toBe("mail-dkim-tlabs.team-s2026a");
  });
});

describe("DkimKeys under mocks", () => {
  let pulumi: typeof pulumiType;
  let keys: readonly DkimKey[];
  const key = (domain: string, selector: string): DkimKey => {
    const k = keys.find((x) => x.domain === domain && x.selector === selector);
    if (k === undefined) throw new Error(`no key ${domain}/${selector}`);
    return k;
  };

  beforeAll(async () => {
    // Imported after the mocks are set, as Pulumi requires.
    pulumi = await import("@pulumi/pulumi");
    const { DkimKeys } = await import("../../../src/concerns/dkim/component");
    const dkim = new DkimKeys(
      "dkim",
      {
        domains: [
          {
            domain: "tlabs.team",
            // Mid-rotation: the imported old key retires, s2026a signs, s2026b is
            // published ahead of the next switch.
            selectors: [
              { name: "old", source: "import" },
              { name: "s2026a", source: "generate", algorithm: "rsa2048" },
              { name: "s2026b", source: "generate", algorithm: "ed25519" },
            ],
            sign: "s2026a",
          },
          {
            domain: "tlabs.dev",
            selectors: [{ name: "mail", source: "generate", algorithm: "rsa4096" }],
            sign: "mail",
          },
          { domain: "corp.team", selectors: [{ name: "s2026a", source: "import" }], sign: "s2026a" },
        ],
        importedKeys: pulumi.secret({ "tlabs.team/old": RSA_PKCS1, "corp.team/s2026a": ED25519 }),
      },
      { transformations: [recordParents] },
    );
    keys = dkim.keys;
    // Rotation step 4 of another stack: only s2026b is left.
    new DkimKeys(
      "after",
      {
        domains: [
          {
            domain: "tlabs.team",
            selectors: [{ name: "s2026b", source: "generate", algorithm: "ed25519" }],
            sign: "s2026b",
          },
        ],
      },
      { transformations: [recordParents] },
    );
    await Promise.all(keys.map((k) => settle(k.record.value)));
    await flush();
  });

  it("registers the component and one tls.PrivateKey per generated selector, named by domain and selector", () => {
    expect(resources.get("dkim")?.type).toBe("mailstack:dkim:DkimKeys");
    const made = [...resources.values()].filter((r) => r.type === "tls:index/privateKey:PrivateKey");
    expect(made.map((r) => r.name).sort()).toEqual([
      "after-tlabs.team-s2026b",
      "dkim-tlabs.dev-mail",
      "dkim-tlabs.team-s2026a",
      "dkim-tlabs.team-s2026b",
    ]);
    expect(resources.get("dkim-tlabs.team-s2026a")?.inputs).toEqual({ algorithm: "RSA", rsaBits: 2048 });
    expect(resources.get("dkim-tlabs.team-s2026b")?.inputs).toEqual({ algorithm: "ED25519" });
    expect(resources.get("dkim-tlabs.dev-mail")?.inputs).toEqual({ algorithm: "RSA", rsaBits: 4096 });
    // The same selector keeps its name when the list around it changes.
    expect(resources.get("after-tlabs.team-s2026b")?.inputs).toEqual({ algorithm: "ED25519" });
    for (const name of ["dkim-tlabs.team-s2026a", "dkim-tlabs.team-s2026b", "dkim-tlabs.dev-mail"]) {
      expect(parents.get(name), name).toBe("dkim");
    }
    // Imported keys make no resource.
    expect(resources.has("dkim-tlabs.team-old")).toBe(false);
    expect(resources.has("dkim-corp.team-s2026a")).toBe(false);
  });

  it("lists every selector in config order; only each domain's sign selector signs", () => {
    expect(keys.map((k) => [k.domain, k.selector, k.source, k.signing])).toEqual([
      ["tlabs.team", "old", "import", false],
      ["tlabs.team", "s2026a", "generate", true],
      ["tlabs.team", "s2026b", "generate", false],
      ["tlabs.dev", "mail", "generate", true],
      ["corp.team", "s2026a", "import", true],
    ]);
  });

  it("keeps every private key secret", async () => {
    for (const k of keys) {
      const pem = await settle(k.privateKeyPem);
      expect(pem.secret, `${k.domain}/${k.selector}`).toBe(true);
      expect(pem.value).toMatch(/^-----BEGIN (RSA )?PRIVATE KEY-----\n/);
    }
    expect((await settle(key("tlabs.team", "old").privateKeyPem)).value).toBe(RSA_PKCS1);
  });

  it("publishes every selector with a record that is not secret and matches its key", async () => {
    for (const k of keys) {
      expect(k.record.name).toBe(`${k.selector}._domainkey.${k.domain}`);
      const record = await settle(k.record.value);
      expect(record.secret, k.record.name).toBe(false);
      const pem = await settle(k.privateKeyPem);
      expect(record.value).toBe(dkimRecordValue(pem.value));
    }
    const imported = await settle(key("tlabs.team", "old").record.value);
    expect(tags(imported.value).p).toBe(opensslSpki(RSA_PKCS1).toString("base64"));
  });

  it("gives each key's algorithm, read from the key itself when imported, and not secret", async () => {
    const algorithms = await Promise.all(keys.map((k) => settle(k.algorithm)));
    expect(algorithms).toEqual([
      { value: "rsa", secret: false },
      { value: "rsa", secret: false },
      { value: "ed25519", secret: false },
      { value: "rsa", secret: false },
      { value: "ed25519", secret: false },
    ]);
    const dev = await settle(key("tlabs.dev", "mail").record.value);
    expect(tags(dev.value).k).toBe("rsa");
    // A 4096-bit key's SPKI is about 550 bytes, so p= is longer than one TXT string.
    expect(splitTxt(dev.value).length).toBe(3);
  });

  it("dkimRecords lists every record, retiring ones included, sorted by name", async () => {
    const records = dkimRecords(keys);
    expect(records.map((r) => [r.domain, r.selector, r.name])).toEqual([
      ["tlabs.dev", "mail", "mail._domainkey.tlabs.dev"],
      ["tlabs.team", "old", "old._domainkey.tlabs.team"],
      ["corp.team", "s2026a", "s2026a._domainkey.corp.team"],
      ["tlabs.team", "s2026a", "s2026a._domainkey.tlabs.team"],
      ["tlabs.team", "s2026b", "s2026b._domainkey.tlabs.team"],
    ]);
    expect((await settle(records[0]?.value ?? pulumi.output(""))).secret).toBe(false);
  });
});
