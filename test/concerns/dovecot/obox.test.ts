// obox: the rendered fragment as a snapshot, the fs URL and the escaping of
// the key in it, validation that names each setting and never the key, and
// the component's push under mocks. test/concerns/dovecot/obox-doveconf.test.ts runs the same
// fragment and checks through Debian's own doveconf.
import { beforeAll, describe, expect, it } from "vitest";
import { OBOX_CHECKS, OBOX_CONF_PATH, OBOX_MISSING, oboxMissing } from "../../../src/concerns/dovecot/obox";
import {
  type OboxSettings,
  oboxProblems,
  oboxUrlEscape,
  renderOboxConf,
} from "../../../src/concerns/dovecot/render-obox";
import { flush, parents, recordParents, resources, setup } from "../../helpers/mocks";
import { dovecotSettings, OBOX_KEY, OBOX_SETTINGS } from "../../helpers/obox-fixtures";

const SETTINGS = OBOX_SETTINGS;
const KEY = OBOX_KEY;
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const plugin = (text: string) => {
  const s = dovecotSettings(text);
  return { get: (k: string) => s.get(`plugin/${k}`) };
};

/** What Dovecot's %-expansion leaves of a plugin value: %% becomes %. */
const expand = (v: string) => v.replace(/%%/g, "%");

describe("obox fragment", () => {
  it("conf.d/90-obox.conf", () => expect(renderOboxConf(SETTINGS, KEY)).toMatchSnapshot());

  it("points obox_fs through the cache and obox_index_fs straight at the bucket, path-style", () => {
    const p = plugin(renderOboxConf(SETTINGS, { accessKeyId: "AK", secretAccessKey: "SK" }));
    const url =
      "s3:https://AK:SK@s3.example.test:9000/?bucket=mail-example-test&region=eu-central-1" +
      "&loghdr=x-amz-request-id&loghdr=x-amz-id-2";
    expect(p.get("obox_fs")).toBe(`fscache:1G:/var/cache/mails:compress:gz:6:${url}`);
    expect(p.get("obox_index_fs")).toBe(`compress:gz:6:${url}`);
    expect(p.get("quota")).toBe("count:User quota");
    expect(p.get("quota_vsizes")).toBe("yes");
  });

  it("names the bucket in the host with virtual-hosted addressing", () => {
    const p = plugin(
      renderOboxConf(
        {
          ...SETTINGS,
          endpoint: "https://s3.eu-central-1.amazonaws.com",
          addressing: "virtual-hosted",
          cacheSize: "512M",
          cachePath: "/srv/cache/obox",
        },
        { accessKeyId: "AK", secretAccessKey: "SK" },
      ),
    );
    expect(p.get("obox_fs")).toBe(
      "fscache:512M:/srv/cache/obox:compress:gz:6:s3:https://AK:SK@mail-example-test.s3.eu-central-1.amazonaws.com/" +
        "?region=eu-central-1&loghdr=x-amz-request-id&loghdr=x-amz-id-2",
    );
  });

  it("escapes the key for the URL and then for Dovecot's %-expansion", () => {
    expect(oboxUrlEscape("a/b+c=d@e:f")).toBe("a%%2Fb%%2Bc%%3Dd%%40e%%3Af");
    expect(oboxUrlEscape("100%")).toBe("100%%25");
    expect(oboxUrlEscape("Az09-._~")).toBe("Az09-._~");
    expect(oboxUrlEscape("é")).toBe("%%C3%%A9");
    for (const k of ["/", "+", "=", "@", ":", "%2F", "#", "?&", "'\"", "wJalr/K7MDENG+bPxRfiCY=EXAMPLE"]) {
      expect(decodeURIComponent(expand(oboxUrlEscape(k))), k).toBe(k);
    }
    // The URL Dovecot ends up with gives back both halves of the key.
    const fs = plugin(renderOboxConf(SETTINGS, KEY)).get("obox_index_fs") ?? "";
    const url = new URL(expand(fs).replace(/^compress:gz:6:s3:/, ""));
    expect(decodeURIComponent(url.username)).toBe(KEY.accessKeyId);
    expect(decodeURIComponent(url.password)).toBe(KEY.secretAccessKey);
    expect(url.host).toBe("s3.example.test:9000");
    expect(url.searchParams.get("bucket")).toBe("mail-example-test");
    // Nothing in the line that Dovecot's parser would take for a comment or a quote.
    expect(fs).not.toMatch(/[#'"\s]/);
  });

  it("accepts the defaults and an http endpoint only when allowed", () => {
    expect(oboxProblems(SETTINGS)).toEqual([]);
    const http = { ...SETTINGS, endpoint: "http://10.0.0.5:9000" };
    expect(oboxProblems(http)).toEqual([expect.stringMatching(/is http:\/\/.*obox\.allowHttp.*s3Endpoint/)]);
    expect(oboxProblems({ ...http, allowHttp: true })).toEqual([]);
  });

  it("refuses each bad setting, naming it", () => {
    const one = (s: Partial<OboxSettings>) => {
      const problems = oboxProblems({ ...SETTINGS, ...s });
      expect(problems, JSON.stringify(s)).toHaveLength(1);
      return problems[0];
    };
    expect(one({ endpoint: "s3.example.test" })).toMatch(/^the bucket endpoint is not a URL .*s3Endpoint/);
    expect(one({ endpoint: "ftp://s3.example.test" })).toMatch(/must start with https:\/\//);
    expect(one({ endpoint: "https://s3.example.test/mail" })).toMatch(/only scheme, host and optional port/);
    expect(one({ endpoint: "https://s3.example.test/?x=1" })).toMatch(/only scheme, host and optional port/);
    for (const bucket of [
      "ab",
      "Mail",
      "mail_box",
      "-mail",
      "mail..box",
      "192.168.1.1",
      "xn--mail",
      "a".repeat(64),
    ]) {
      expect(one({ bucket }), bucket).toMatch(new RegExp(`^bucket "${bucket}" .*mailstack:s3Bucket`));
    }
    expect(one({ bucket: "mail.example.test", addressing: "virtual-hosted" })).toMatch(
      /has dots.*obox\.addressing/,
    );
    expect(oboxProblems({ ...SETTINGS, bucket: "mail.example.test" })).toEqual([]);
    expect(one({ region: "EU Central" })).toMatch(/^region "EU Central" .*mailstack:s3Region/);
    expect(one({ region: "" })).toMatch(/^region "" /);
    for (const cacheSize of ["2GB", "0G", "1.5G", "2g", "", "1024"]) {
      expect(one({ cacheSize }), cacheSize).toMatch(new RegExp(`^cacheSize "${cacheSize}" .*mailstack:obox`));
    }
    for (const cachePath of [
      "var/cache",
      "/",
      "/var/cache/",
      "/var/../etc",
      "/var/./c",
      "/a:b",
      "/c/%u",
      "/a b",
    ]) {
      expect(one({ cachePath }), cachePath).toMatch(/^cachePath .* must be an absolute directory path/);
    }
    expect(one({ addressing: "dns" as OboxSettings["addressing"] })).toMatch(/^addressing "dns" /);
    expect(() => renderOboxConf({ ...SETTINGS, cacheSize: "lots" }, KEY)).toThrow(/^obox: cacheSize "lots"/);
  });

  it("never puts the key in a message", () => {
    const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const messages = [
      ...oboxProblems({ ...SETTINGS, endpoint: `https://AKIDEXAMPLE:${secret}@s3.example.test` }),
      ...oboxProblems({ ...SETTINGS, endpoint: `http://AKIDEXAMPLE:${secret}@s3.example.test/x` }),
    ];
    const thrown = (s: OboxSettings, key: { accessKeyId: string; secretAccessKey: string }) => {
      try {
        renderOboxConf(s, key);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error("renderOboxConf accepted a bad input");
    };
    messages.push(
      thrown(
        { ...SETTINGS, bucket: "BAD", region: "" },
        { accessKeyId: "AKIDEXAMPLE", secretAccessKey: secret },
      ),
      thrown(SETTINGS, { accessKeyId: "AKIDEXAMPLE", secretAccessKey: `${secret}\n` }),
      thrown(SETTINGS, { accessKeyId: "AKID EXAMPLE", secretAccessKey: secret }),
      thrown(SETTINGS, { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "" }),
    );
    expect(messages).toHaveLength(6);
    for (const m of messages) {
      expect(m).not.toContain(secret);
      expect(m).not.toContain(oboxUrlEscape(secret));
      expect(m).not.toContain("AKIDEXAMPLE");
      expect(m).not.toContain("AKID EXAMPLE");
    }
    expect(messages[3]).toMatch(/secret access key must be one word.*mailstack:s3SecretAccessKey/);
    expect(messages[4]).toMatch(/access key id must be one word.*mailstack:s3AccessKeyId/);
  });
});

describe("DovecotObox component", () => {
  setup();
  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { DovecotObox } = await import("../../../src/concerns/dovecot/obox");
    const root = new pulumi.ComponentResource(
      "test:index:Root",
      "root",
      {},
      { transformations: [recordParents] },
    );
    const connection = { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") };
    // Plain strings on purpose: the push must be secret whatever it is given.
    new DovecotObox(
      "mail-obox",
      {
        connection,
        settings: SETTINGS,
        accessKeyId: KEY.accessKeyId,
        secretAccessKey: KEY.secretAccessKey,
      },
      { parent: root },
    );
    expect(
      () =>
        new DovecotObox(
          "bad-obox",
          { connection, settings: { ...SETTINGS, cacheSize: "big" }, ...KEY },
          { parent: root },
        ),
    ).toThrow(/obox: cacheSize "big"/);
    await flush();
  });

  it("pushes 90-obox.conf as a secret, root:dovecot 0640", () => {
    expect(parents.get("mail-obox-config")).toBe("mail-obox");
    expect(parents.get("mail-obox-config-apply")).toBe("mail-obox-config");
    const wrapped = resources.get("mail-obox-config-apply")?.inputs.stdin as { value: string };
    expect(Object.keys(wrapped)).toContain(SECRET_SIG);
    const stdin = wrapped.value;
    expect(stdin).toContain(`\nfile ${OBOX_CONF_PATH} root dovecot 0640 `);
    expect(stdin).toContain(`${oboxUrlEscape(KEY.accessKeyId)}:${oboxUrlEscape(KEY.secretAccessKey)}@`);
    expect(resources.has("bad-obox-config")).toBe(false);
  });

  it("checks for the plugin first, then the whole config, then that it is included, then reloads", () => {
    const wrapped = resources.get("mail-obox-config-apply")?.inputs.stdin as { value: string } | undefined;
    const lines = (wrapped?.value ?? "").split("\n");
    const checks = lines.filter((l) => l.startsWith("check ")).map((l) => l.slice("check ".length));
    expect(checks).toEqual([...OBOX_CHECKS]);
    expect(checks[0]).toContain("lib*_obox_plugin.so");
    expect(checks[0]).toContain("obox needs Dovecot Pro");
    expect(OBOX_MISSING).toMatch(/Debian's and Ubuntu's dovecot packages do not include the obox plugin/);
    // The check echoes it in double quotes, for the dir.
    expect(oboxMissing("/x")).not.toMatch(/["$`\\]/);
    expect(checks[1]).toBe("doveconf -n >/dev/null");
    expect(checks[2]).toContain("doveconf -h mail_location");
    expect(lines).toContain(
      "reload install -d -o vmail -g vmail -m 0750 '/var/cache/mails' && svc reload dovecot",
    );
    // The commands, which the runner prints on failure, carry no key.
    for (const l of lines.filter((l) => /^(check|reload) /.test(l))) {
      expect(l).not.toContain(KEY.secretAccessKey);
      expect(l).not.toContain(oboxUrlEscape(KEY.secretAccessKey));
    }
  });
});
