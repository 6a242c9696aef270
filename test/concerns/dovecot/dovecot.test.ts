// Dovecot: every rendered file as a snapshot, the settings that must hold
// whatever the wording, validation, and the component's resources under
// mocks. test/sandbox/mail-contract.ts proves them with real clients in the sandbox.
import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_SPEC } from "../../../src/concerns/database/spec";
import {
  DOVECOT_FRAGMENTS,
  type DovecotLdapArgs,
  dovecotFiles,
  dovecotProblems,
  renderDovecotConf,
  renderDovecotFragment,
  renderDovecotLdapSecret,
  SIEVE_SCRIPTS,
  validateDovecot,
} from "../../../src/concerns/dovecot/render-dovecot";
import { DEFAULT_MESSAGE_SIZE_LIMIT, SUBMISSION_RELAY } from "../../../src/core/host-layout";
import { CLIENT_TLS_CIPHER_STRING } from "../../../src/core/tls-policy";
import { flush, parents, recordParents, resources, setup } from "../../helpers/mocks";

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
const LDAP: DovecotLdapArgs = {
  uris: ["ldap://10.213.0.3"],
  bindDn: "cn=mailserver,dc=corp,dc=example,dc=test",
  fallback: "local-if-exists",
  domains: [
    { name: "corp.example.test", baseDn: "ou=people,dc=corp,dc=example,dc=test" },
    { name: "lab.example.test", baseDn: "ou=lab,dc=corp,dc=example,dc=test" },
  ],
};
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** The passdb blocks of every auth fragment, in the order Dovecot tries them. */
function passdbs(ldap: DovecotLdapArgs): Record<string, string>[] {
  const text = dovecotFiles({ ...ARGS, ldap }, DATABASE_SPEC)
    .filter((f) => /conf\.d\/1\d-auth/.test(f.path))
    .map((f) => f.content)
    .join("\n");
  return [...text.matchAll(/^passdb \{\n([\s\S]*?)^\}/gm)].map((m) =>
    Object.fromEntries([...settings(m[1] ?? "")]),
  );
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
    for (const f of dovecotFiles(ARGS, DATABASE_SPEC)) {
      // The pipe program starts with its interpreter line, then the header.
      expect(f.content.replace(/^#!\/bin\/sh\n/, ""), f.path).toMatch(HEADER);
    }
  });

  it("submission on 587 (STARTTLS) and 465 (TLS), relayed to Postfix's loopback listener with XCLIENT", () => {
    const s = all();
    expect(renderDovecotConf()).toMatch(/^protocols = imap pop3 submission lmtp$/m);
    expect(s.get("service submission-login/inet_listener submission/port")).toBe("587");
    expect(s.get("service submission-login/inet_listener submissions/port")).toBe("465");
    expect(s.get("service submission-login/inet_listener submissions/ssl")).toBe("yes");
    expect(s.get("ssl")).toBe("required");
    expect(s.get("submission_relay_host")).toBe(SUBMISSION_RELAY.host);
    expect(s.get("submission_relay_port")).toBe(String(SUBMISSION_RELAY.port));
    expect(s.get("submission_relay_trusted")).toBe("yes");
    // Postfix's limit, whichever is set, less what Dovecot keeps for its trace
    // header: announced before the login as after it.
    expect(s.get("submission_max_mail_size")).toBe(String(DEFAULT_MESSAGE_SIZE_LIMIT - 1024));
    const small = settings(
      renderDovecotFragment("20-submission.conf", { ...ARGS, messageSizeLimit: 2 ** 21 }),
    );
    expect(small.get("submission_max_mail_size")).toBe("2096128");
  });

  it("a logged-in submission session holds no size itself: Dovecot 2.3.19 crashes on much larger mail", () => {
    // The only userdb sets it to 0 for every login; Postfix's relay holds the limit
    // (test/concerns/dovecot/submission-size.test.ts runs it).
    const auth = renderDovecotFragment("10-auth.conf", ARGS);
    expect(auth.match(/^userdb \{/gm)).toHaveLength(1);
    expect(settings(auth).get("userdb/override_fields")).toBe("submission_max_mail_size=0");
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

  it("587, 465, 993 and 995 share the client ports' TLS profile: TLS 1.2 or newer, AEAD suites only", () => {
    // Dovecot's ssl settings are global: every listener above (and any later
    // STARTTLS one) gets them, and no section overrides them.
    const s = all();
    expect(s.get("ssl_min_protocol")).toBe("TLSv1.2");
    expect(s.get("ssl_cipher_list")).toBe(CLIENT_TLS_CIPHER_STRING);
    expect(s.get("ssl_prefer_server_ciphers")).toBe("no");
    expect(s.get("ssl_dh")).toBe("</usr/share/dovecot/dh.pem");
    const overridden = [...s.keys()].filter((k) => k.includes("/") && /\/ssl_(cipher|min|protocols)/.test(k));
    expect(overridden).toEqual([]);
  });

  it("with LDAP domains: dovecot.conf includes the LDAP passdbs after the local one", () => {
    const includes = (ldap?: DovecotLdapArgs) =>
      renderDovecotConf(ldap)
        .split("\n")
        .filter((l) => l.startsWith("!include"))
        .map((l) => l.replace("!include conf.d/", ""));
    expect(includes(LDAP).slice(0, 3)).toEqual([
      "10-auth.conf",
      "11-auth-ldap.conf",
      "12-auth-ldap-fallback.conf",
    ]);
    expect(includes({ ...LDAP, fallback: "never" })).not.toContain("12-auth-ldap-fallback.conf");
    expect(includes()).not.toContain("11-auth-ldap.conf");
  });

  for (const fallback of ["local-if-exists", "never"] as const) {
    it(`LDAP files (ldapFallback ${fallback})`, () => {
      const files = dovecotFiles({ ...ARGS, ldap: { ...LDAP, fallback } }, DATABASE_SPEC);
      for (const f of files.filter((x) => /ldap/.test(x.path))) {
        expect(f.content, f.path).toMatch(HEADER);
        // The auth process (user dovecot) reads the .ext files.
        if (f.path.endsWith(".ext")) expect([f.path, f.group, f.mode]).toEqual([f.path, "dovecot", "0640"]);
        expect(f.content).toMatchSnapshot(f.path);
      }
    });
  }

  it("the passdb chain encodes the fallback rules", () => {
    const [local, route, corp, lab, fallback, ...rest] = passdbs(LDAP);
    expect(rest).toEqual([]);
    // Local users: success ends the chain; anything else goes on to step 1.
    expect(local).toEqual({ driver: "sql", args: "/etc/dovecot/dovecot-sql.conf.ext" });
    // Step 1 only continues (noauthenticate); every result of its own fails.
    expect(route).toMatchObject({
      args: "/etc/dovecot/dovecot-sql-ldap.conf.ext",
      username_filter: "*@corp.example.test *@lab.example.test",
      result_success: "return-fail",
      result_failure: "return-fail",
      result_internalfail: "return-fail",
    });
    // A wrong LDAP password never reaches the fallback; LDAP down does.
    for (const [d, p] of [
      ["corp.example.test", corp],
      ["lab.example.test", lab],
    ] as const) {
      expect(p).toEqual({
        driver: "ldap",
        args: `/etc/dovecot/dovecot-ldap.${d}.conf.ext`,
        username_filter: `*@${d}`,
        result_success: "return-ok",
        result_failure: "return-fail",
        result_internalfail: "continue",
      });
    }
    expect(fallback).toMatchObject({
      driver: "sql",
      args: "/etc/dovecot/dovecot-sql-ldap-fallback.conf.ext",
      result_success: "return-ok",
      result_failure: "return-fail",
    });
    // never: LDAP down ends the chain (a temporary failure), no fallback passdb.
    const never = passdbs({ ...LDAP, fallback: "never" });
    expect(never).toHaveLength(4);
    expect(never.filter((p) => p.driver === "ldap").map((p) => p.result_internalfail)).toEqual([
      "return-fail",
      "return-fail",
    ]);
  });

  it("the LDAP passdbs bind with the user's password under the domain's base DN; no password in them", () => {
    const files = dovecotFiles({ ...ARGS, ldap: LDAP }, DATABASE_SPEC);
    const corp = settings(
      files.find((f) => f.path.endsWith("dovecot-ldap.corp.example.test.conf.ext"))?.content ?? "",
    );
    expect(corp.get("auth_bind")).toBe("yes");
    expect(corp.get("base")).toBe("ou=people,dc=corp,dc=example,dc=test");
    expect(corp.get("dn")).toBe(LDAP.bindDn);
    expect(corp.get("dnpass")).toBeUndefined();
    for (const f of files) expect(f.content, f.path).not.toMatch(/^\s*dnpass/m);
  });

  it("the secret file quotes the password and refuses a line break", () => {
    expect(renderDovecotLdapSecret('pa"ss\\word')).toContain('dnpass = "pa\\"ss\\\\word"\n');
    expect(() => renderDovecotLdapSecret("a\nb")).toThrow("one non-empty line");
    expect(() => renderDovecotLdapSecret("")).toThrow("one non-empty line");
  });

  it("refuses bad LDAP inputs", () => {
    expect(() => validateDovecot({ ...ARGS, ldap: { ...LDAP, uris: ["http://x"] } })).toThrow(
      "mailstack:ldapUri",
    );
    expect(() => validateDovecot({ ...ARGS, ldap: { ...LDAP, bindDn: "mailserver" } })).toThrow(
      "mailstack:ldapBindDn",
    );
    expect(() => validateDovecot({ ...ARGS, ldap: { ...LDAP, domains: [] } })).toThrow("at least one");
  });

  it("refuses a system uid, a relative path or a bad postmaster", () => {
    expect(() => validateDovecot({ ...ARGS, vmailUid: 8 })).toThrow("not a system account");
    expect(() => validateDovecot({ ...ARGS, mailRoot: "vmail" })).toThrow("not an absolute path");
    expect(() => validateDovecot({ ...ARGS, postmaster: "postmaster" })).toThrow("mailstack:adminEmail");
  });

  it("lists every problem at once", () => {
    expect(dovecotProblems(ARGS)).toEqual([]);
    const found = dovecotProblems({
      ...ARGS,
      vmailUid: 8,
      postmaster: "postmaster",
      ldap: { ...LDAP, bindDn: "x" },
    });
    expect(found).toHaveLength(3);
    expect(found.join("\n")).toMatch(/system account[\s\S]*mailstack:adminEmail[\s\S]*mailstack:ldapBindDn/);
  });
});

describe("Dovecot component", () => {
  setup((name) => (name.endsWith("-packages") ? "dovecot-core=1:2.3.19.1\n" : ""));
  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { Dovecot } = await import("../../../src/concerns/dovecot/component");
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
    new Dovecot(
      "ldap-dovecot",
      {
        ...ARGS,
        ldap: LDAP,
        ldapBindPassword: pulumi.secret("BIND-PASSWORD"),
        connection: { host: "203.0.113.26", port: 22, user: "root", privateKey: pulumi.secret("KEY") },
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
    // The global Sieve scripts are compiled against the new files, then Dovecot reloads.
    expect(stdin).toMatch(
      /\nreload sievec -c \/etc\/dovecot\/dovecot\.conf .*spam-to-junk\.sieve && .* && svc reload dovecot\n/,
    );
    const files = stdin.split("\n").filter((l) => l.startsWith("file "));
    expect(files.map((l) => l.split(" ").slice(1, 5).join(" "))).toEqual([
      "/etc/dovecot/dovecot.conf root root 0644",
      ...DOVECOT_FRAGMENTS.map((f) => `/etc/dovecot/conf.d/${f} root root 0644`),
      ...SIEVE_SCRIPTS.map((f) => `/etc/dovecot/sieve/${f} root root 0644`),
      "/etc/dovecot/sieve/bin/rspamd-learn root root 0755",
      "/etc/dovecot/dovecot-sql.conf.ext root dovecot 0640",
    ]);
    expect(stdin).not.toContain("KEY");
  });

  it("without LDAP: no LDAP package and no secret push", () => {
    expect(resources.get("mail-dovecot-packages")?.inputs.create).not.toContain("dovecot-ldap");
    expect(resources.has("mail-dovecot-ldap-secret")).toBe(false);
  });

  it("with LDAP: the bind password goes in a secret push of its own, before the config", () => {
    expect(resources.get("ldap-dovecot-packages")?.inputs.create).toContain("dovecot-ldap");
    expect(parents.get("ldap-dovecot-ldap-secret")).toBe("ldap-dovecot");
    const secret = resources.get("ldap-dovecot-ldap-secret-apply")?.inputs.stdin as Record<string, unknown>;
    expect(secret[SECRET_SIG]).toBeDefined();
    expect(String(secret.value)).toContain(
      "file /etc/dovecot/dovecot-ldap-secret.conf.ext root dovecot 0640 ",
    );
    expect(String(secret.value)).toContain('dnpass = "BIND-PASSWORD"');
    const config = resources.get("ldap-dovecot-config-apply")?.inputs.stdin;
    expect(typeof config).toBe("string");
    expect(config as string).not.toContain("BIND-PASSWORD");
    expect(config as string).toContain(
      "file /etc/dovecot/dovecot-ldap.corp.example.test.conf.ext root dovecot 0640",
    );
  });
});
