// Dovecot's files, rendered from typed values: dovecot.conf, its conf.d
// fragments (LDAP logins' too), the global Sieve scripts and their pipe
// program, and the SQL and LDAP passdb files. Pure: no config, no Pulumi.
// obox's fragment is rendered in render-obox.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DEFAULT_MESSAGE_SIZE_LIMIT,
  PG_SOCKET_DIR,
  RSPAMD_CONTROLLER,
  SUBMISSION_RELAY,
  SUBMISSION_SIZE_ALLOWANCE,
} from "../../core/host-layout";
import { fill, ROOT, render } from "../../core/template";
import { CLIENT_TLS_CIPHER_STRING, CLIENT_TLS_PROTOCOLS } from "../../core/tls-policy";
import { lookupRole, renderDovecotSql } from "../database/lookups";
import type { DatabaseSpec } from "../database/spec";
import { OBOX_INCLUDE } from "./render-obox";

/** The fragments of files/dovecot/conf.d that dovecot.conf includes, in order. */
export const DOVECOT_FRAGMENTS = [
  "10-auth.conf",
  "10-logging.conf",
  "10-mail.conf",
  "10-master.conf",
  "10-ssl.conf",
  "20-lmtp.conf",
  "20-submission.conf",
  "90-quota.conf",
  "90-sieve.conf",
] as const;
export type DovecotFragment = (typeof DOVECOT_FRAGMENTS)[number];

/** The passdb fragments of LDAP logins, included right after 10-auth.conf. */
export const DOVECOT_LDAP_FRAGMENTS = ["11-auth-ldap.conf", "12-auth-ldap-fallback.conf"] as const;
export type DovecotLdapFragment = (typeof DOVECOT_LDAP_FRAGMENTS)[number];

/** The company directory, for domains whose auth_type is ldap. */
export interface DovecotLdapArgs {
  /** ldap:// or ldaps:// URIs. */
  readonly uris: readonly string[];
  /** The read-only search account. */
  readonly bindDn: string;
  /** Each LDAP domain and the base DN its users' entries are under; at least one. */
  readonly domains: readonly { readonly name: string; readonly baseDn: string }[];
  /** What a login does when LDAP cannot answer (mailstack:ldapFallback). */
  readonly fallback: "local-if-exists" | "never";
}

export interface DovecotConfArgs {
  /** Certificate chain, PEM. */
  readonly certPath: string;
  /** Private key, PEM. */
  readonly keyPath: string;
  /** Address named in LMTP rejections. */
  readonly postmaster: string;
  /**
   * Largest message in bytes (mailstack:messageSizeLimit), as Postfix's on port
   * 25. Postfix's loopback relay enforces it on 587 and 465 (20-submission.conf
   * says why); Dovecot announces it less SUBMISSION_SIZE_ALLOWANCE, before the
   * login as submission_max_mail_size and after it from the relay's SIZE.
   * Default DEFAULT_MESSAGE_SIZE_LIMIT.
   */
  readonly messageSizeLimit?: number;
  /** Root of the mailboxes. Default /var/vmail. */
  readonly mailRoot?: string;
  /** uid and gid of the vmail user and group. Default 5000. */
  readonly vmailUid?: number;
  /** LDAP logins; set exactly when some domain has authType ldap. Default none. */
  readonly ldap?: DovecotLdapArgs;
  /**
   * Mail as objects in S3 through Dovecot Pro's obox plugin (src/concerns/dovecot/obox.ts
   * pushes its settings): dovecot.conf includes them, and the host's Dovecot
   * is Dovecot Pro's, checked for rather than installed. Default false.
   */
  readonly obox?: boolean;
}

/** Root of the mailboxes unless DovecotConfArgs.mailRoot says otherwise. */
export const DEFAULT_MAIL_ROOT = "/var/vmail";
/** uid and gid of vmail unless DovecotConfArgs.vmailUid says otherwise. */
export const DEFAULT_VMAIL_UID = 5000;

/** What is wrong with the Dovecot inputs, each naming its setting; empty when usable. Pure. */
export function dovecotProblems(args: DovecotConfArgs): string[] {
  const problems: string[] = [];
  for (const p of [args.certPath, args.keyPath, args.mailRoot ?? DEFAULT_MAIL_ROOT]) {
    if (!/^\/[A-Za-z0-9._/-]*[^/]$/.test(p)) problems.push(`"${p}" is not an absolute path`);
  }
  const uid = args.vmailUid ?? DEFAULT_VMAIL_UID;
  if (!Number.isInteger(uid) || uid < 1000 || uid > 60000) {
    problems.push(`vmail uid ${uid} must be a whole number from 1000 to 60000 (not a system account)`);
  }
  if (!/^[^@\s]+@[^@\s]+$/.test(args.postmaster)) {
    problems.push(`postmaster "${args.postmaster}" is not an address (mailstack:adminEmail)`);
  }
  if (args.ldap) {
    const { uris, bindDn } = args.ldap;
    if (uris.length === 0 || uris.some((u) => !/^ldaps?:\/\/[A-Za-z0-9.:[\]-]+\/?$/.test(u))) {
      problems.push(
        `LDAP URIs "${uris.join(" ")}" must be ldap:// or ldaps:// host URIs (mailstack:ldapUri)`,
      );
    }
    const dn = /^\w+=[^,\n"\\]+(,\w+=[^,\n"\\]+)*$/;
    if (!dn.test(bindDn)) problems.push(`LDAP bind DN "${bindDn}" is not a DN (mailstack:ldapBindDn)`);
    if (args.ldap.domains.length === 0) problems.push("LDAP logins need at least one ldap domain");
    for (const d of args.ldap.domains) {
      if (!/^[a-z0-9.-]+$/.test(d.name)) problems.push(`LDAP domain "${d.name}" is not a domain name`);
      if (!dn.test(d.baseDn)) problems.push(`${d.name}: ldapBaseDn "${d.baseDn}" is not a DN`);
    }
  }
  return problems;
}

/** Throws with every problem of dovecotProblems. Pure. */
export function validateDovecot(args: DovecotConfArgs): void {
  const problems = dovecotProblems(args);
  if (problems.length > 0) throw new Error(`dovecot: ${problems.join("; ")}`);
}

/** The LDAP fragments dovecot.conf includes for `ldap`, in order. Pure. */
export function dovecotLdapFragments(ldap: DovecotLdapArgs | undefined): DovecotLdapFragment[] {
  if (ldap === undefined) return [];
  switch (ldap.fallback) {
    case "local-if-exists":
      return [...DOVECOT_LDAP_FRAGMENTS];
    case "never":
      return ["11-auth-ldap.conf"];
    default: {
      const never: never = ldap.fallback;
      throw new Error(`unknown LDAP fallback ${never}`);
    }
  }
}

/** /etc/dovecot/dovecot.conf. Pure. */
export function renderDovecotConf(ldap?: DovecotLdapArgs, obox = false): string {
  const fragments = dovecotLdapFragments(ldap);
  return render("dovecot/dovecot.conf", {
    // After the quota fragment, which it overrides, and before Sieve's, whose
    // protocol sections add to mail_plugins as it stands there (src/concerns/dovecot/obox.ts).
    oboxInclude: obox ? OBOX_INCLUDE : "# Mail storage: Maildir (conf.d/90-obox.conf is not used).",
    ldapIncludes:
      fragments.length === 0
        ? "# No domain authenticates against LDAP (conf.d/11-auth-ldap.conf is not used)."
        : fragments.map((f) => `!include conf.d/${f}`).join("\n"),
  });
}

/** The LDAP domain's own dovecot-ldap conf file. Pure. */
export function dovecotLdapConfPath(domain: string): string {
  return `/etc/dovecot/dovecot-ldap.${domain}.conf.ext`;
}

/** One LDAP fragment of /etc/dovecot/conf.d. Pure. */
export function renderDovecotLdapFragment(fragment: DovecotLdapFragment, ldap: DovecotLdapArgs): string {
  const source = `dovecot/conf.d/${fragment}`;
  // Only the stack's LDAP domains ever reach these passdbs.
  const usernameFilter = ldap.domains.map((d) => `*@${d.name}`).join(" ");
  // Internal failure: on to the local fallback, or end as a temporary failure.
  const onLdapDown = ldap.fallback === "never" ? "return-fail" : "continue";
  switch (fragment) {
    case "11-auth-ldap.conf": {
      const part = fs.readFileSync(path.join(ROOT, "files", "dovecot", "ldap-passdb.conf.part"), "utf8");
      const ldapPassdbs = ldap.domains
        .map((d) =>
          fill(
            part,
            { domain: d.name, baseDn: d.baseDn, args: dovecotLdapConfPath(d.name), onLdapDown },
            "files/dovecot/ldap-passdb.conf.part",
          ),
        )
        .join("\n")
        .trimEnd();
      return render(source, { ldapFallback: ldap.fallback, onLdapDown, usernameFilter, ldapPassdbs });
    }
    case "12-auth-ldap-fallback.conf":
      return render(source, { usernameFilter });
    default: {
      const never: never = fragment;
      throw new Error(`unknown dovecot fragment ${never}`);
    }
  }
}

/** One LDAP domain's dovecot-ldap conf file, without the password. Pure. */
export function renderDovecotLdap(
  ldap: DovecotLdapArgs,
  domain: { readonly name: string; readonly baseDn: string },
): string {
  return render("dovecot/dovecot-ldap.conf.ext", {
    domain: domain.name,
    uris: ldap.uris.join(" "),
    bindDn: ldap.bindDn,
    baseDn: domain.baseDn,
  });
}

/** The secret file dovecot-ldap.conf.ext includes: dnpass, quoted. Pure. */
export function renderDovecotLdapSecret(bindPassword: string): string {
  if (bindPassword === "" || /[\r\n\0]/.test(bindPassword)) {
    throw new Error(
      "dovecot: the LDAP bind password must be one non-empty line (mailstack:ldapBindPassword)",
    );
  }
  return render("dovecot/dovecot-ldap-secret.conf.ext", {
    bindPassword: bindPassword.replace(/[\\"]/g, (c) => `\\${c}`),
  });
}

/** The route (step 1) or fallback SQL passdb of LDAP logins. Pure. */
export function renderDovecotLdapSql(spec: DatabaseSpec, which: "route" | "fallback"): string {
  return render(
    `dovecot/${which === "route" ? "dovecot-sql-ldap.conf.ext" : "dovecot-sql-ldap-fallback.conf.ext"}`,
    {
      socketDir: PG_SOCKET_DIR,
      dbname: spec.database,
      user: lookupRole(spec, "dovecot").role,
    },
  );
}

/** One fragment of /etc/dovecot/conf.d. Pure. */
export function renderDovecotFragment(fragment: DovecotFragment, args: DovecotConfArgs): string {
  validateDovecot(args);
  const source = `dovecot/conf.d/${fragment}`;
  switch (fragment) {
    case "10-auth.conf":
    case "10-logging.conf":
    case "10-master.conf":
      return render(source, {});
    case "10-mail.conf":
      return render(source, {
        mailRoot: args.mailRoot ?? DEFAULT_MAIL_ROOT,
        vmailUid: args.vmailUid ?? DEFAULT_VMAIL_UID,
      });
    case "10-ssl.conf":
      return render(source, {
        certPath: args.certPath,
        keyPath: args.keyPath,
        minProtocol: CLIENT_TLS_PROTOCOLS[0],
        ciphers: CLIENT_TLS_CIPHER_STRING,
      });
    case "20-lmtp.conf":
      return render(source, { postmaster: args.postmaster });
    case "20-submission.conf":
      return render(source, {
        relayHost: SUBMISSION_RELAY.host,
        relayPort: SUBMISSION_RELAY.port,
        announcedSize: (args.messageSizeLimit ?? DEFAULT_MESSAGE_SIZE_LIMIT) - SUBMISSION_SIZE_ALLOWANCE,
      });
    case "90-quota.conf":
      return render(source, {});
    case "90-sieve.conf":
      return render(source, { sieveDir: SIEVE_DIR });
    default: {
      const never: never = fragment;
      throw new Error(`unknown dovecot fragment ${never}`);
    }
  }
}

/** Where the global Sieve scripts and their one pipe program live. */
export const SIEVE_DIR = "/etc/dovecot/sieve";

/** The global Sieve scripts: spam into Junk on delivery, Bayes training on moves. */
export const SIEVE_SCRIPTS = ["spam-to-junk.sieve", "learn-spam.sieve", "learn-ham.sieve"] as const;

/** The program the training scripts pipe messages to; it starts with its interpreter line. Pure. */
export function renderRspamdLearn(): string {
  return `#!/bin/sh\n${render("dovecot/sieve/rspamd-learn", {
    controller: `${RSPAMD_CONTROLLER.host}:${RSPAMD_CONTROLLER.port}`,
  })}`;
}

/** Every file of the Dovecot push. Pure. */
export function dovecotFiles(
  args: DovecotConfArgs,
  spec: DatabaseSpec,
): { readonly path: string; readonly content: string; readonly group?: string; readonly mode?: string }[] {
  const ldap = args.ldap;
  // Read by the auth process, which runs as the dovecot user.
  const authFile = (file: string, content: string) => ({
    path: file,
    content,
    group: "dovecot",
    mode: "0640",
  });
  return [
    { path: "/etc/dovecot/dovecot.conf", content: renderDovecotConf(ldap, args.obox === true) },
    ...DOVECOT_FRAGMENTS.map((f) => ({
      path: `/etc/dovecot/conf.d/${f}`,
      content: renderDovecotFragment(f, args),
    })),
    ...(ldap
      ? dovecotLdapFragments(ldap).map((f) => ({
          path: `/etc/dovecot/conf.d/${f}`,
          content: renderDovecotLdapFragment(f, ldap),
        }))
      : []),
    ...SIEVE_SCRIPTS.map((f) => ({ path: `${SIEVE_DIR}/${f}`, content: render(`dovecot/sieve/${f}`, {}) })),
    { path: `${SIEVE_DIR}/bin/rspamd-learn`, content: renderRspamdLearn(), mode: "0755" },
    // No password in it (peer authentication); only Dovecot needs to read it.
    authFile(
      "/etc/dovecot/dovecot-sql.conf.ext",
      renderDovecotSql(spec, { mailRoot: args.mailRoot ?? DEFAULT_MAIL_ROOT, vmailUser: "vmail" }),
    ),
    ...(ldap
      ? [
          authFile("/etc/dovecot/dovecot-sql-ldap.conf.ext", renderDovecotLdapSql(spec, "route")),
          ...(ldap.fallback === "local-if-exists"
            ? [
                authFile(
                  "/etc/dovecot/dovecot-sql-ldap-fallback.conf.ext",
                  renderDovecotLdapSql(spec, "fallback"),
                ),
              ]
            : []),
          ...ldap.domains.map((d) => authFile(dovecotLdapConfPath(d.name), renderDovecotLdap(ldap, d))),
        ]
      : []),
  ];
}
