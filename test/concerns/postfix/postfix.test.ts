// Postfix: every rendered file as a snapshot, the settings that must hold
// whatever the wording, validation, and the component's resources under
// mocks. test/sandbox/mail-contract.ts proves them with real mail in the sandbox.
import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_SPEC } from "../../../src/concerns/database/spec";
import {
  POSTSCREEN_GREET_WAIT,
  postfixFiles,
  postfixMainProblems,
  renderPostfixMain,
  renderPostfixMaster,
  renderSubmissionHeaderChecks,
  validatePostfixMain,
} from "../../../src/concerns/postfix/render";
import {
  DEFAULT_MESSAGE_SIZE_LIMIT,
  MESSAGE_SIZE_MARGIN,
  SUBMISSION_RELAY,
} from "../../../src/core/host-layout";
import { CLIENT_TLS_CIPHER_STRING } from "../../../src/core/tls-policy";
import { MAIL_LOG_ALLOWED, unexpectedLogLines } from "../../helpers/mail-log";
import { flush, parents, recordParents, resources, setup } from "../../helpers/mocks";

const HEADER = /^# Managed by mailstack \(Pulumi\)\. Do not edit.*\n# Source: files\/postfix\/\S+\n/;
const MAIN = {
  hostname: "mail.example.test",
  certPath: "/etc/mailstack/tls/fullchain.pem",
  keyPath: "/etc/mailstack/tls/privkey.pem",
};

/** main.cf's `key = value` settings. */
function settings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined) out.set(m[1], m[2].trim());
  }
  return out;
}

/** master.cf's `-o name=value` overrides of one service. */
function overrides(master: string, service: string): Map<string, string> {
  const lines = master.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`${service} `));
  const out = new Map<string, string>();
  for (const l of lines.slice(start + 1)) {
    const m = /^\s+-o ([a-z_]+)=(.*)$/.exec(l);
    if (!m?.[1] || m[2] === undefined) break;
    out.set(m[1], m[2]);
  }
  return out;
}

describe("postfix rendered files", () => {
  it("main.cf", () => expect(renderPostfixMain(MAIN)).toMatchSnapshot());
  it("master.cf", () => expect(renderPostfixMaster()).toMatchSnapshot());
  it("submission_header_checks", () => expect(renderSubmissionHeaderChecks()).toMatchSnapshot());

  it("every file opens with the managed header, the maps included", () => {
    for (const f of postfixFiles(MAIN, DATABASE_SPEC)) expect(f.content, f.path).toMatch(HEADER);
  });

  it("main.cf: virtual domains from the database, delivery over LMTP, nothing local", () => {
    const s = settings(renderPostfixMain(MAIN));
    expect(s.get("mydestination")).toBe("");
    expect(s.get("myhostname")).toBe("mail.example.test");
    expect(s.get("mydomain")).toBe("example.test");
    for (const m of ["virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps"]) {
      expect(s.get(m)).toBe(`pgsql:/etc/postfix/pgsql/${m}.cf`);
    }
    expect(s.get("smtpd_sender_login_maps")).toBe("pgsql:/etc/postfix/pgsql/sender_login_maps.cf");
    expect(s.get("virtual_transport")).toBe("lmtp:unix:private/dovecot-lmtp");
    expect(s.get("smtpd_sasl_path")).toBe("private/auth");
  });

  it("alias loops are refused at RCPT TO: last on port 25, before the login counts on the submission relay", () => {
    const check = "check_recipient_access pgsql:/etc/postfix/pgsql/alias_loops.cf";
    // Unknown recipients keep their 550 5.1.1; known ones are walked for loops.
    expect(settings(renderPostfixMain(MAIN)).get("smtpd_recipient_restrictions")).toBe(
      `reject_non_fqdn_recipient, reject_unknown_recipient_domain, reject_unlisted_recipient, ${check}`,
    );
    const relay = overrides(renderPostfixMaster(), `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}`);
    expect(relay.get("smtpd_recipient_restrictions")?.split(",")).toEqual([
      "reject_non_fqdn_recipient",
      ...check.split(" "),
      "permit_sasl_authenticated",
      "reject",
    ]);
  });

  it("every pgsql map main.cf and master.cf name is pushed, and every pushed map is named", () => {
    const files = postfixFiles(MAIN, DATABASE_SPEC);
    const config = files
      .filter((f) => !f.path.startsWith("/etc/postfix/pgsql/"))
      .map((f) => f.content)
      .join("\n");
    const named = new Set(
      [...config.matchAll(/pgsql:(\/etc\/postfix\/pgsql\/[a-z_]+\.cf)/g)].map((m) => m[1]),
    );
    const pushed = files.filter((f) => f.path.startsWith("/etc/postfix/pgsql/")).map((f) => f.path);
    expect([...named].sort()).toEqual([...pushed].sort());
    expect(pushed).toContain("/etc/postfix/pgsql/alias_loops.cf");
  });

  it("the loop map strips an extension at main.cf's recipient delimiter, as cleanup does", () => {
    const files = new Map(postfixFiles(MAIN, DATABASE_SPEC).map((f) => [f.path, f.content]));
    expect(settings(files.get("/etc/postfix/main.cf") ?? "").get("recipient_delimiter")).toBe("+");
    const loops = files.get("/etc/postfix/pgsql/alias_loops.cf") ?? "";
    expect(loops).toContain("split_part(w.localpart, '+', 1)");
    expect(loops).toContain("strpos(w.localpart, '+') > 1");
  });

  it("main.cf: no open relay, no AUTH on port 25, TLS 1.2 or newer, a size limit", () => {
    const s = settings(renderPostfixMain(MAIN));
    expect(s.get("smtpd_relay_restrictions")).toBe(
      "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
    );
    expect(s.get("mynetworks")).toBe("127.0.0.0/8 [::1]/128");
    expect(s.get("smtpd_sasl_auth_enable")).toBe("no");
    expect(s.get("smtpd_tls_auth_only")).toBe("yes");
    for (const k of ["smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtp_tls_protocols"]) {
      expect(s.get(k), k).toBe(">=TLSv1.2");
    }
    expect(s.get("smtpd_tls_cert_file")).toBe(MAIN.certPath);
    expect(s.get("smtpd_tls_key_file")).toBe(MAIN.keyPath);
    expect(s.get("message_size_limit")).toBe(String(DEFAULT_MESSAGE_SIZE_LIMIT));
  });

  it("port 25 keeps opportunistic TLS, not the client ports' profile; Postfix has no other TLS listener", () => {
    const main = renderPostfixMain(MAIN);
    const s = settings(main);
    // A sender that cannot agree on a suite would deliver in plaintext (RFC
    // 7435), so port 25 takes Postfix's wide default (medium) minus the
    // suites that authenticate or encrypt nothing.
    expect(s.get("smtpd_tls_security_level")).toBe("may");
    expect(s.has("smtpd_tls_ciphers")).toBe(false);
    expect(s.get("smtpd_tls_exclude_ciphers")).toBe("aNULL, eNULL, EXPORT, DES, RC4, MD5, 3DES");
    for (const f of postfixFiles(MAIN, DATABASE_SPEC)) {
      expect(f.content, f.path).not.toContain(CLIENT_TLS_CIPHER_STRING);
    }
    // 587 and 465 are Dovecot's; Postfix's submission listener is loopback only, without TLS.
    const master = renderPostfixMaster();
    const relay = overrides(master, `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}`);
    expect(relay.get("smtpd_tls_security_level")).toBe("none");
    expect(master).not.toMatch(/-o smtpd_tls_wrappermode/);
  });

  it("main.cf: postscreen guards port 25 without DNS blocklists by default, anvil limits every client", () => {
    const s = settings(renderPostfixMain(MAIN));
    expect(s.get("postscreen_greet_action")).toBe("enforce");
    expect(s.get("postscreen_greet_wait")).toBe(POSTSCREEN_GREET_WAIT.withoutDnsbl);
    expect(s.get("postscreen_dnsbl_sites")).toBe("");
    expect(s.get("postscreen_access_list")).toBe("permit_mynetworks");
    // The tests after the greeting would make every new client reconnect.
    for (const k of ["bare_newline", "non_smtp_command", "pipelining"]) {
      expect(s.get(`postscreen_${k}_enable`), k).toBe("no");
    }
    for (const k of [
      "smtpd_client_connection_count_limit",
      "smtpd_client_connection_rate_limit",
      "smtpd_client_auth_rate_limit",
    ]) {
      expect(Number(s.get(k)), k).toBeGreaterThan(0);
    }
    const withDnsbl = settings(
      renderPostfixMain({ ...MAIN, dnsblSites: ["zen.spamhaus.org*2", "bl.example.net"] }),
    );
    expect(withDnsbl.get("postscreen_dnsbl_sites")).toBe("zen.spamhaus.org*2, bl.example.net");
    expect(withDnsbl.get("postscreen_greet_wait")).toBe(POSTSCREEN_GREET_WAIT.withDnsbl);
  });

  it("master.cf: every line is a comment, an option of the service above it, or a service with its eight fields", () => {
    // What postconf's "bad field count" refuses on the host: a stray line
    // (a merge marker, a wrapped comment) is caught here first.
    const bad = renderPostfixMaster()
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("#") && !/^\s+-o \S+=\S+$/.test(l))
      .filter((l) => l.trim().split(/\s+/).length < 8 || /^\s/.test(l));
    expect(bad).toEqual([]);
  });

  it("master.cf: port 25 is postscreen, which hands clients to smtpd", () => {
    const services = renderPostfixMaster()
      .split("\n")
      .filter((l) => /^[a-z0-9]/.test(l))
      .map((l) => l.split(/\s+/));
    const service = (name: string, type: string) => services.find((f) => f[0] === name && f[1] === type);
    expect(service("smtp", "inet")?.[7]).toBe("postscreen");
    // One postscreen process watches every connection.
    expect(service("smtp", "inet")?.[6]).toBe("1");
    expect(service("smtpd", "pass")?.[7]).toBe("smtpd");
    expect(service("dnsblog", "unix")?.[7]).toBe("dnsblog");
    expect(service("tlsproxy", "unix")?.[7]).toBe("tlsproxy");
    expect(services.filter((f) => f[7] === "smtpd").map((f) => `${f[0]}/${f[1]}`)).toEqual([
      "smtpd/pass",
      `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}/inet`,
    ]);
  });

  it("master.cf: Dovecot's submissions arrive on loopback, with XCLIENT from loopback only and a login that owns the sender", () => {
    const master = renderPostfixMaster();
    // 587 and 465 are Dovecot's (files/dovecot/conf.d/20-submission.conf).
    expect(master).not.toMatch(/^(submission|smtps)\s/m);
    expect(SUBMISSION_RELAY.host).toBe("127.0.0.1");
    const sub = overrides(master, `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}`);
    expect(sub.get("smtpd_authorized_xclient_hosts")).toBe("127.0.0.1");
    expect(sub.get("smtpd_sasl_auth_enable")).toBe("yes");
    expect(sub.get("smtpd_client_restrictions")).toBe("permit_sasl_authenticated,reject");
    expect(sub.get("smtpd_sender_restrictions")).toContain("reject_sender_login_mismatch");
    expect(sub.get("smtpd_relay_restrictions")).toBe("permit_sasl_authenticated,reject");
    expect(sub.get("cleanup_service_name")).toBe("subcleanup");
    expect(overrides(master, "subcleanup").get("header_checks")).toBe(
      "regexp:/etc/postfix/submission_header_checks",
    );
    // No service is chrooted: the lookups need PostgreSQL's socket.
    for (const l of master.split("\n").filter((x) => /^[a-z0-9]/.test(x))) {
      expect(l.split(/\s+/)[4], l).toBe("n");
    }
  });

  describe("the message size limit", () => {
    const relay = `${SUBMISSION_RELAY.host}:${SUBMISSION_RELAY.port}`;
    /** message_size_limit of port 25, of the loopback submission listener, and of its cleanup. */
    const limits = (messageSizeLimit?: number) => {
      const args = messageSizeLimit === undefined ? MAIN : { ...MAIN, messageSizeLimit };
      const files = new Map(postfixFiles(args, DATABASE_SPEC).map((f) => [f.path, f.content]));
      const master = files.get("/etc/postfix/master.cf") ?? "";
      return {
        main: settings(files.get("/etc/postfix/main.cf") ?? ""),
        relay: overrides(master, relay).get("message_size_limit"),
        subcleanup: overrides(master, "subcleanup").get("message_size_limit"),
      };
    };

    it("is 35 MiB by default: a 25 MiB attachment in base64, with its line breaks, fits", () => {
      expect(DEFAULT_MESSAGE_SIZE_LIMIT).toBe(36700160);
      const attachment = 25 * 2 ** 20;
      const base64 = Math.ceil(attachment / 3) * 4;
      const withBreaks = base64 + Math.ceil(base64 / 76) * 2;
      expect(withBreaks).toBe(35872340);
      // Room left for the headers and a text part.
      expect(DEFAULT_MESSAGE_SIZE_LIMIT - withBreaks).toBeGreaterThan(512 * 1024);
      const { main, relay, subcleanup } = limits();
      expect(main.get("message_size_limit")).toBe("36700160");
      expect([relay, subcleanup]).toEqual(["36700160", "37748736"]);
    });

    it("port 25 and the loopback relay hold mail to the configured limit, the relay's cleanup takes the margin", () => {
      const l = limits(50 * 2 ** 20);
      expect(l.main.get("message_size_limit")).toBe("52428800");
      // 587 and 465 to the byte, as port 25: the relay counts Dovecot's header too.
      expect(l.relay).toBe("52428800");
      expect(l.subcleanup).toBe(String(52428800 + MESSAGE_SIZE_MARGIN));
      // Only the relay and its cleanup differ from main.cf.
      const master = renderPostfixMaster({ messageSizeLimit: 50 * 2 ** 20 });
      expect(master.match(/message_size_limit=/g)).toHaveLength(2);
    });

    it("no delivery agent's mailbox limit is below it (local and virtual would not start)", () => {
      for (const limit of [undefined, 2 ** 20, 2 ** 30]) {
        const { main } = limits(limit);
        for (const k of ["mailbox_size_limit", "virtual_mailbox_limit"]) {
          const v = Number(main.get(k));
          expect(v === 0 || v >= Number(main.get("message_size_limit")), `${k} with ${limit}`).toBe(true);
        }
      }
    });

    it("refuses a limit under 1 MiB, over 1 GiB or not whole, naming the setting", () => {
      for (const bad of [2 ** 20 - 1, 2 ** 30 + 1, 2 ** 21 + 0.5]) {
        expect(() => renderPostfixMain({ ...MAIN, messageSizeLimit: bad })).toThrow(
          "(mailstack:messageSizeLimit)",
        );
        expect(() => renderPostfixMaster({ messageSizeLimit: bad })).toThrow("(mailstack:messageSizeLimit)");
      }
      expect(() => renderPostfixMain({ ...MAIN, messageSizeLimit: 2 ** 20 })).not.toThrow();
      expect(() => renderPostfixMain({ ...MAIN, messageSizeLimit: 2 ** 30 })).not.toThrow();
    });
  });

  it("the header check drops the submission Received header and keeps the others", () => {
    const rule = /^\/(.*)\/ IGNORE$/m.exec(renderSubmissionHeaderChecks())?.[1] ?? "";
    const re = new RegExp(rule.replace(/\[\[:space:\]\]/g, "\\s"), "s");
    expect(
      re.test(
        "Received: from [10.0.0.5] (gw [10.0.0.5])\n\tby mail.example.test (Postfix) with ESMTPSA id 1A2B\n\tfor <bob@example.test>",
      ),
    ).toBe(true);
    expect(re.test("Received: from mx.other.test by mail.example.test (Postfix) with ESMTPS id 1A2B")).toBe(
      false,
    );
  });

  it("refuses a bad host name, path or size limit", () => {
    expect(() => validatePostfixMain({ ...MAIN, hostname: "mail" })).toThrow("mailstack:hostname");
    expect(() => validatePostfixMain({ ...MAIN, keyPath: "relative.pem" })).toThrow("not an absolute path");
    expect(() => validatePostfixMain({ ...MAIN, messageSizeLimit: 10 })).toThrow("less than 1 MiB");
    expect(() => validatePostfixMain({ ...MAIN, dnsblSites: ["zen.spamhaus.org, evil"] })).toThrow(
      "DNS blocklist",
    );
    expect(() =>
      validatePostfixMain({ ...MAIN, dnsblSites: ["b.barracudacentral.org=127.0.0.[2..11]*2"] }),
    ).not.toThrow();
  });

  it("lists every problem at once, each naming its setting", () => {
    expect(postfixMainProblems(MAIN)).toEqual([]);
    const found = postfixMainProblems({
      ...MAIN,
      hostname: "mail",
      keyPath: "relative.pem",
      messageSizeLimit: 10,
    });
    expect(found).toHaveLength(3);
    expect(found[0]).toContain("(mailstack:hostname)");
  });
});

describe("the mail log check's allowlist", () => {
  const line = (rest: string) => `Nov 25 07:07:08 mail ${rest}`;
  it("passes the lines the suite provokes, and flags the same words for another cause", () => {
    const provoked = [
      line(
        "postfix/smtpd[7698]: warning: TLS library problem: error:0A000102:SSL routines::unsupported protocol:../ssl/statem/statem_srvr.c:1664:",
      ),
      line("postfix/smtpd[7698]: SSL_accept error from gw.example.test[10.213.0.1]: -1"),
      "Nov 25 07:07:08 submission-login: Info: Disconnected: Connection closed: SSL_accept() failed: error:0A000102:SSL routines::unsupported protocol (no auth attempts in 0 secs): user=<>, rip=10.213.0.1",
      "Nov 25 07:12:11 master: Warning: SIGHUP received - reloading configuration",
      "Nov 25 07:07:08 pop3-login: Info: Disconnected: Connection closed: SSL_accept() failed: error:0A000102:SSL routines::unsupported protocol (no auth attempts in 0 secs): user=<>, rip=10.213.0.1",
      line(
        "postfix/postscreen[8397]: NOQUEUE: reject: RCPT from [10.213.0.2]:57026: 550 5.5.1 Protocol error; from=<bot@outside.test>, to=<alice@example.test>, proto=ESMTP, helo=<pregreet-fc7a00a9.example>",
      ),
      line(
        "postfix/postscreen[8397]: PREGREET 26 after 0 from [10.213.0.2]:39510: EHLO pregreet-x1.example\\r\\n",
      ),
    ];
    expect(unexpectedLogLines(provoked.join("\n"), MAIL_LOG_ALLOWED)).toEqual([]);
    const real = [
      line(
        "postfix/smtpd[7698]: warning: TLS library problem: error:0A0000C1:SSL routines::no shared cipher:",
      ),
      line(
        "postfix/postscreen[8397]: NOQUEUE: reject: RCPT from [192.0.2.9]:5702: 550 5.5.1 Protocol error; from=<x@y.test>, to=<alice@example.test>, proto=ESMTP, helo=<bot.example>",
      ),
      line("postfix/lmtp[8407]: warning: connect to private/dovecot-lmtp: No such file or directory"),
      line(
        "postfix/submission/smtpd[7329]: warning: gw.example.test[10.213.0.1]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice@example.test",
      ),
      "Nov 25 07:08:00 auth: Error: ldap(carol@corp.example.test): Connection lost",
      line("postfix/master[2756]: fatal: bind 0.0.0.0 port 25: Address already in use"),
    ];
    expect(unexpectedLogLines(real.join("\n"), MAIL_LOG_ALLOWED)).toEqual(real);
  });
});

describe("Postfix component", () => {
  setup((name) => (name.endsWith("-packages") ? "postfix=3.7.11-0+deb12u1\n" : ""));
  beforeAll(async () => {
    const pulumi = await import("@pulumi/pulumi");
    const { Postfix } = await import("../../../src/concerns/postfix/component");
    const root = new pulumi.ComponentResource(
      "test:index:Root",
      "root",
      {},
      { transformations: [recordParents] },
    );
    new Postfix(
      "mail-postfix",
      {
        ...MAIN,
        connection: { host: "203.0.113.25", port: 22, user: "root", privateKey: pulumi.secret("KEY") },
      },
      { parent: root },
    );
    await flush();
  });

  it("preseeds debconf, installs the packages, then pushes every file in one checked push", () => {
    expect(parents.get("mail-postfix-preseed")).toBe("mail-postfix");
    expect(resources.get("mail-postfix-preseed")?.inputs.create).toContain(
      "postfix postfix/main_mailer_type select No configuration",
    );
    expect(resources.get("mail-postfix-packages")?.inputs.create).toContain("postfix-pgsql");
    expect(resources.get("mail-postfix-config")?.type).toBe("mailstack:push:ConfigPush");
    expect(parents.get("mail-postfix-config")).toBe("mail-postfix");
    const stdin = resources.get("mail-postfix-config-apply")?.inputs.stdin as string;
    expect(typeof stdin).toBe("string");
    expect(stdin).toContain("\ncheck postfix check\n");
    expect(stdin).toContain("\nreload svc reload postfix\n");
    const files = stdin.split("\n").filter((l) => l.startsWith("file "));
    expect(files.map((l) => l.split(" ").slice(1, 5).join(" "))).toEqual([
      "/etc/postfix/main.cf root root 0644",
      "/etc/postfix/master.cf root root 0644",
      "/etc/postfix/submission_header_checks root root 0644",
      "/etc/postfix/pgsql/virtual_mailbox_domains.cf root root 0644",
      "/etc/postfix/pgsql/virtual_mailbox_maps.cf root root 0644",
      "/etc/postfix/pgsql/virtual_alias_maps.cf root root 0644",
      "/etc/postfix/pgsql/sender_login_maps.cf root root 0644",
      "/etc/postfix/pgsql/alias_loops.cf root root 0644",
    ]);
    expect(stdin).not.toMatch(/^\s*password\s*=/m);
    expect(stdin).not.toContain("KEY");
  });
});
