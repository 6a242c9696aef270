// Dovecot's settings: the company LDAP server for domains with authType ldap,
// and where mail is stored (Maildir on disk, or obox for Dovecot Pro).
import * as pulumi from "@pulumi/pulumi";
import { type KeySpecs, parseOverrides, type Reader } from "../../core/settings";
import { DN } from "../../core/validators";
import type { DomainConfig } from "../database/settings";
import { DEFAULT_OBOX, type OboxOptions, oboxProblems } from "./render-obox";

/** The config keys this concern owns (Pulumi.yaml is generated from these: npm run schema). */
export const KEYS = {
  ldapUri: {
    type: "string",
    default: "",
    description:
      "The company LDAP server(s) for domains with authType ldap: ldap:// or ldaps:// URIs, space-separated. Required when a domain uses LDAP.",
    example: "ldaps://ldap.tlabs.team",
  },
  ldapBindDn: {
    type: "string",
    default: "",
    description:
      "DN of the read-only account Dovecot searches LDAP with to find a user's entry by mail. Required when a domain uses LDAP.",
    example: "cn=mailserver,dc=tlabs,dc=team",
  },
  ldapBindPassword: {
    type: "string",
    default: "",
    secret: true,
    description: "Password of ldapBindDn. Secret. Set this or ldapBindPasswordPath.",
    example: "--secret mailstack:ldapBindPassword",
  },
  ldapBindPasswordPath: {
    type: "string",
    default: "",
    description:
      "Path, on the machine running Pulumi, of a file holding ldapBindDn's password. Set this or ldapBindPassword.",
    example: "~/.config/mailstack/ldap-bind-pw",
  },
  ldapFallback: {
    type: "string",
    default: "local-if-exists",
    description:
      "When LDAP cannot answer: local-if-exists (default) accepts the user's local hash if one is set, else fails temporarily; never always fails temporarily. A wrong LDAP password never falls back.",
    example: "never",
  },
  mailStorage: {
    type: "string",
    default: "maildir",
    description:
      "maildir (the default: Maildir on the host, backed up with restic) or obox: mail as objects in the storage bucket through Dovecot Pro's obox plugin. obox needs a Dovecot Pro licence and its packages on the host; Debian's and Ubuntu's Dovecot do not include obox.",
    example: "obox",
  },
  obox: {
    type: "object",
    default: {},
    description:
      'For mailStorage obox, each optional: {"cacheSize": "1G", "cachePath": "/var/cache/mails", "addressing": "path", "allowHttp": false} (the defaults). addressing is path (MinIO) or virtual-hosted (AWS); allowHttp allows an http:// endpoint, which sends mail and the key in clear.',
    example: "--path 'obox.cacheSize' 4G",
  },
} as const satisfies KeySpecs;

type DovecotKey = keyof typeof KEYS;

/** What an LDAP domain's login does when LDAP cannot answer (a wrong password never falls back). */
export type LdapFallback = "local-if-exists" | "never";

export interface LdapConfig {
  /** One or more ldap:// or ldaps:// URIs. */
  readonly uris: readonly string[];
  /** The search account. */
  readonly bindDn: string;
  /** Its password: the secret itself, or where to read it on the deploying machine. */
  readonly bindPassword: { readonly secret: pulumi.Output<string> } | { readonly path: string };
  readonly fallback: LdapFallback;
}

/** Where the obox mode keeps mail: the storage concern's bucket. */
export interface OboxBucket {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
}

/** Returns why `uris` is not a list of LDAP URIs, or undefined. */
export function ldapUriProblem(uris: string): string | undefined {
  for (const u of uris.split(/\s+/).filter((x) => x !== "")) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return `has "${u}", which is not a URI such as ldaps://ldap.tlabs.team`;
    }
    if (url.protocol !== "ldap:" && url.protocol !== "ldaps:") {
      return `has "${u}", which is not an ldap:// or ldaps:// URI`;
    }
    if (url.hostname === "" || (url.pathname !== "" && url.pathname !== "/") || url.search !== "") {
      return `has "${u}"; give only scheme, host and optional port, as in ldaps://ldap.tlabs.team:636`;
    }
  }
  return undefined;
}

/** The LDAP settings, checked only when some domain authenticates against LDAP. */
export function parseLdap(r: Reader<DovecotKey>, domains: readonly DomainConfig[]): LdapConfig | undefined {
  const fallback = r.get("ldapFallback") ?? "local-if-exists";
  if (fallback !== "local-if-exists" && fallback !== "never") {
    r.bad("ldapFallback", `value "${fallback}" is not local-if-exists or never`);
  }
  const users = domains.filter((d) => d.authType === "ldap").map((d) => d.name);
  if (users.length === 0) return undefined;
  const why = `(${users.join(", ")} ${users.length === 1 ? "has" : "have"} authType ldap)`;

  const uri = r.get("ldapUri");
  const uriWhy = uri === undefined ? undefined : ldapUriProblem(uri);
  if (uri === undefined) r.bad("ldapUri", `is required but not set ${why}`);
  else if (uriWhy !== undefined) r.bad("ldapUri", `value "${uri}" ${uriWhy}`);

  const bindDn = r.get("ldapBindDn");
  if (bindDn === undefined) r.bad("ldapBindDn", `is required but not set ${why}`);
  else if (!DN.test(bindDn))
    r.bad("ldapBindDn", `value "${bindDn}" is not a DN such as cn=mailserver,dc=tlabs,dc=team`);

  const password = r.get("ldapBindPassword");
  if (password !== undefined && /[\r\n\0]/.test(password)) {
    r.bad("ldapBindPassword", "value (secret, not shown) has a line break or NUL, which Dovecot cannot read");
  }
  const pwPath = r.get("ldapBindPasswordPath");
  if (pwPath !== undefined && !(pwPath.startsWith("/") || pwPath.startsWith("~/"))) {
    r.bad("ldapBindPasswordPath", `value "${pwPath}" is not an absolute path (or one starting with ~/)`);
  }
  if (!r.given("ldapBindPassword") && !r.given("ldapBindPasswordPath")) {
    r.bad("ldapBindPassword", `is required (or mailstack:ldapBindPasswordPath) but neither is set ${why}`);
  } else if (r.given("ldapBindPassword") && r.given("ldapBindPasswordPath")) {
    r.bad(
      "ldapBindPasswordPath",
      "is set together with mailstack:ldapBindPassword; keep one",
      "pulumi config rm mailstack:ldapBindPasswordPath",
    );
  }
  if (uri === undefined || uriWhy !== undefined || bindDn === undefined) return undefined;
  return {
    uris: uri.split(/\s+/).filter((x) => x !== ""),
    bindDn,
    bindPassword: pwPath !== undefined ? { path: pwPath } : { secret: pulumi.secret(password ?? "") },
    fallback: fallback === "never" ? "never" : "local-if-exists",
  };
}

/**
 * mailstack:mailStorage and mailstack:obox: the obox options when mail lives
 * in the storage bucket (`bucket`, undefined with storageMode none), else undefined.
 */
export function parseMailStorage(
  r: Reader<DovecotKey>,
  bucket: OboxBucket | undefined,
): OboxOptions | undefined {
  const mailStorage = r.str("mailStorage", "maildir", (v) =>
    v === "maildir" || v === "obox" ? undefined : "is not maildir or obox",
  );
  const obox = parseObox(r.get("obox"), (why) => r.bad("obox", why));
  if (mailStorage !== "obox") return undefined;
  if (bucket === undefined) {
    r.bad(
      "mailStorage",
      "is obox, which keeps mail in the storage bucket, but mailstack:storageMode is none",
      "pulumi config set mailstack:storageMode minio (or external), with its bucket settings",
    );
  } else {
    for (const p of oboxProblems({ ...obox, ...bucket })) r.bad("obox", `cannot be used: ${p}`);
  }
  return obox;
}

/** mailstack:obox: the cache and addressing over the defaults. */
function parseObox(value: string | undefined, bad: (why: string) => void): OboxOptions {
  if (value === undefined) return DEFAULT_OBOX;
  return (
    parseOverrides(
      value,
      DEFAULT_OBOX,
      '{"cacheSize": "1G", "addressing": "path"}',
      "the settings are cacheSize, cachePath, addressing, allowHttp",
      bad,
    ) ?? DEFAULT_OBOX
  );
}
