// Dovecot: every rendered file as a snapshot, the settings that must hold
// whatever the wording, validation, and the component's resources under
// mocks. test/mail-contract.ts proves them with real clients in the sandbox.
import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_SPEC } from "../components/database-spec";
import {
  DOVECOT_FRAGMENTS,
  dovecotFiles,
  renderDovecotConf,
  renderDovecotFragment,
  validateDovecot,
} from "../components/dovecot";
import { flush, parents, recordParents, resources, setup } from "./mocks";

const HEADER = /^# Managed by mailstack \(Pulumi\)\. Do not edit.*\n# Source: files\/dovecot\/\S+\n/;
const ARGS = {
  certPath: "/etc/mailstack/tls/fullchain.pem",
  keyPath: "/etc/mailstack/tls/privkey.pem",
  postmaster: "postmaster@example.test",
};

/** Dovecot settings with their section path, e.g. "service lmtp/unix_listener /x/mode" -> "0600". */
function settings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line.endsWith("{")) stack.push(line.slice(0, -1).trim());
    else if (line === "}") stack.pop();
    else {
      const m = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) out.set([...stack, m[1]].join("/"), m[2]);
    }
  }
  return out;
}
const all = () => settings(DOVECOT_FRAGMENTS.map((f) => renderDovecotFragment(f, ARGS)).join("\n"));

describe("dovecot rendered files", () => {
  it("dovecot.conf", () => expect(renderDovecotConf()).toMatchSnapshot());
  for (const f of DOVECOT_FRAGMENTS) {
    it(`conf.d/${f}`, () => expect(renderDovecotFragment(f, ARGS)).toMatchSnapshot());
  }

  it("dovecot.conf includes exactly the managed fragments", () => {
    const includes = renderDovecotConf()
      .split("\n")
      .filter((l) => l.startsWith("!include"))
      .map((l) => l.replace("!include conf.d/", ""));
    expect(includes).toEqual([...DOVECOT_FRAGMENTS]);
    for (const f of dovecotFiles(ARGS, DATABASE_SPEC)) expect(f.content, f.path).toMatch(HEADER);
  });

  it("IMAPS and POP3S only: the plaintext listeners are off", () => {
    const s = all();
    expect(s.get("service imap-login/inet_listener imap/port")).toBe("0");
    expect(s.get("service pop3-login/inet_listener pop3/port")).toBe("0");
    expect(s.get("service imap-login/inet_listener imaps/port")).toBe("993");
    expect(s.get("service imap-login/inet_listener imaps/ssl")).toBe("yes");
    expect(s.get("service pop3-login/inet_listener pop3s/port")).toBe("995");
  });

  it("sockets for Postfix in its spool, the auth worker not as root", () => {
    const s = all();
    const lmtp = "service lmtp/unix_listener /var/spool/postfix/private/dovecot-lmtp";
    expect([s.get(`${lmtp}/user`), s.get(`${lmtp}/mode`)]).toEqual(["postfix", "0600"]);
    const auth = "service auth/unix_listener /var/spool/postfix/private/auth";
    expect([s.get(`${auth}/user`), s.get(`${auth}/mode`)]).toEqual(["postfix", "0660"]);
    expect(s.get("service auth-worker/user")).toBe("$default_internal_user");
  });

  it("TLS required, 1.2 or newer; no plaintext logins; SQL accounts; Maildir owned by vmail only", () => {
    const s = all();
    expect(s.get("ssl")).toBe("required");
    expect(s.get("ssl_min_protocol")).toBe("TLSv1.2");
    expect(s.get("ssl_cert")).toBe(`<${ARGS.certPath}`);
    expect(s.get("ssl_key")).toBe(`<${ARGS.keyPath}`);
    expect(s.get("disable_plaintext_auth")).toBe("yes");
    expect(s.get("auth_mechanisms")).toBe("plain login");
    expect(s.get("passdb/driver")).toBe("sql");
    expect(s.get("userdb/args")).toBe("/etc/dovecot/dovecot-sql.conf.ext");
    expect(s.get("mail_location")).toBe("maildir:~/Maildir");
    expect([s.get("first_valid_uid"), s.get("last_valid_uid")]).toEqual(["5000", "5000"]);
  });

  it("refuses a system uid, a relative path or a bad postmaster", () => {
    expect(() => validateDovecot({ ...ARGS, vmailUid: 8 })).toThrow("not a system account");
    expect(() => validateDovecot({ ...ARGS, mailRoot: "vmail" })).toThrow("not an absolute path");
    expect(() => validateDovecot({ ...ARGS, postmaster: "postmaster" })).toThrow("mailstack:adminEmail");
  });
});

describe("Dovecot component", () => {
  setup((name) => (name.endsWith("-packages") ? "dovecot-core=1:2.3.19.1\n" : ""));
  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { Dovecot } = await import("../components/dovecot");
    const root = new pulumi.ComponentResource(
      "test:index:Root",
      "root",
      {},
      { transformations: [recordParents] },
    );
    new Dovecot(
      "mail-dovecot",
      {
        ...ARGS,
        connection: { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") },
      },
      { parent: root },
    );
    await flush();
  });

  it("makes vmail, installs the packages, then pushes every file in one checked push", () => {
    expect(parents.get("mail-dovecot-vmail")).toBe("mail-dovecot");
    expect(resources.get("mail-dovecot-vmail")?.inputs.create).toMatch(/vmail\.sh '5000' '\/var\/vmail'$/);
    expect(resources.get("mail-dovecot-packages")?.inputs.create).toContain("dovecot-lmtpd");
    expect(parents.get("mail-dovecot-config")).toBe("mail-dovecot");
    const stdin = resources.get("mail-dovecot-config-apply")?.inputs.stdin as string;
    expect(typeof stdin).toBe("string");
    expect(stdin).toContain("\ncheck doveconf -n >/dev/null\n");
    expect(stdin).toContain("\nreload svc reload dovecot\n");
    const files = stdin.split("\n").filter((l) => l.startsWith("file "));
    expect(files.map((l) => l.split(" ").slice(1, 5).join(" "))).toEqual([
      "/etc/dovecot/dovecot.conf root root 0644",
      ...DOVECOT_FRAGMENTS.map((f) => `/etc/dovecot/conf.d/${f} root root 0644`),
      "/etc/dovecot/dovecot-sql.conf.ext root dovecot 0640",
    ]);
    expect(stdin).not.toContain("KEY");
  });
});
