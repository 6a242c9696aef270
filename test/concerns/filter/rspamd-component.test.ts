// The Rspamd component under mocks: the DKIM keys travel in a secret push of
// their own, readable by root and Rspamd only, and the config push waits for it.
import * as crypto from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { flush, parents, recordParents, resources, setup } from "../../helpers/mocks";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const PEM = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({
  type: "pkcs8",
  format: "pem",
}) as string;

describe("Rspamd component", () => {
  setup((name) => (name.endsWith("-packages") ? "rspamd=3.4-1\n" : ""));
  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { Rspamd } = await import("../../../src/concerns/filter/rspamd");
    const root = new pulumi.ComponentResource(
      "test:index:Root",
      "root",
      {},
      { transformations: [recordParents] },
    );
    const key = (selector: string, signing: boolean) => ({
      domain: "example.test",
      selector,
      signing,
      source: "import" as const,
      algorithm: pulumi.output("rsa" as const),
      privateKeyPem: pulumi.secret(PEM),
      record: { name: `${selector}._domainkey.example.test`, value: pulumi.output("v=DKIM1; k=rsa; p=x") },
    });
    new Rspamd(
      "mail-rspamd",
      {
        connection: { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") },
        dkimKeys: [key("s2026a", false), key("s2026b", true)],
      },
      { parent: root },
    );
    await flush();
  });

  it("pushes every selector's key as a secret, root:_rspamd 0640, and prunes keys no longer listed", () => {
    expect(parents.get("mail-rspamd-dkim-keys")).toBe("mail-rspamd");
    // A secret input reaches the mock engine wrapped, with its value inside.
    const wrapped = resources.get("mail-rspamd-dkim-keys-apply")?.inputs.stdin as { value: string };
    expect(Object.keys(wrapped)).toContain(SECRET_SIG);
    const stdin = wrapped.value;
    expect(stdin).toContain("file /var/lib/rspamd/dkim/example.test.s2026a.key root _rspamd 0640 ");
    expect(stdin).toContain("file /var/lib/rspamd/dkim/example.test.s2026b.key root _rspamd 0640 ");
    expect(stdin).toMatch(
      /\nreload find \/var\/lib\/rspamd\/dkim .* ! -name 'example\.test\.s2026a\.key' ! -name 'example\.test\.s2026b\.key' -delete && svc reload rspamd\n/,
    );
  });

  it("signs with the signing selector only", () => {
    const stdin = resources.get("mail-rspamd-config-apply")?.inputs.stdin as string;
    expect(stdin).toContain('    selector = "s2026b";');
    expect(stdin).not.toContain('selector = "s2026a"');
    expect(stdin).not.toContain("PRIVATE KEY");
  });
});
