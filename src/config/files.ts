// What the config points at on the deploying machine: the deploy key, the
// LDAP bind password and a private ACME server's CA. Read here, once, and
// passed on as values; nothing else reads the operator's files.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { LdapConfig } from "../concerns/dovecot/settings";
import type { SshConfig } from "../concerns/host/settings";
import type { TlsConfig } from "../concerns/tls/settings";
import { configKey, fixOf } from "../core/settings";
import { keyProblem } from "../core/validators";
import { ConfigError } from "./errors";
import { CONFIG_KEYS, type ConfigKey } from "./keys";

/** `~/x` under `home`; any other path as is. */
function expandHome(p: string, home: string): string {
  return p.startsWith("~/") ? path.join(home, p.slice(2)) : p;
}

/** The text of `file`, named by config key `k`; a ConfigError with the fix when it cannot be read. */
function readFile(k: ConfigKey, file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      `${configKey(k)} points at ${file}, which cannot be read (${(err as NodeJS.ErrnoException).code}). Fix: ${fixOf(k, CONFIG_KEYS[k])}`,
    ]);
  }
}

/**
 * The LDAP bind password as a secret Output, read from the deploying machine
 * when given by path (like readPrivateKey). One trailing newline is dropped.
 */
export function readLdapBindPassword(ldap: LdapConfig, home = os.homedir()): pulumi.Output<string> {
  const source = ldap.bindPassword;
  if ("secret" in source) return source.secret;
  const file = expandHome(source.path, home);
  const text = readFile("ldapBindPasswordPath", file).replace(/\r?\n$/, "");
  if (text === "" || /[\r\n\0]/.test(text)) {
    throw new ConfigError([
      `${configKey("ldapBindPasswordPath")}: the file ${file} must hold the password on one line. Fix: write it with printf %s PASSWORD > ${file}`,
    ]);
  }
  return pulumi.secret(text);
}

/**
 * The private ACME server's CA certificate (mailstack:acmeCaBundlePath), read
 * on the deploying machine; undefined when none is set. Not a secret: the
 * host gets it as a command argument.
 */
export function readAcmeCaBundle(tls: TlsConfig, home = os.homedir()): string | undefined {
  if (tls.caBundlePath === undefined) return undefined;
  const file = expandHome(tls.caBundlePath, home);
  const text = readFile("acmeCaBundlePath", file).trim();
  if (!/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+\n-----END CERTIFICATE-----$/.test(text)) {
    throw new ConfigError([
      `${configKey("acmeCaBundlePath")}: ${file} does not hold one PEM certificate. Fix: point it at the CA certificate of the ACME server's HTTPS listener`,
    ]);
  }
  return text;
}

/**
 * The deploy key as a secret Output. A key given by path is read here, on the
 * deploying machine, and never leaves it except inside the encrypted state.
 */
export function readPrivateKey(ssh: SshConfig, home = os.homedir()): pulumi.Output<string> {
  const source = ssh.privateKey;
  if ("secret" in source) return source.secret;
  const file = expandHome(source.path, home);
  const text = readFile("sshPrivateKeyPath", file);
  const why = keyProblem(text);
  if (why !== undefined)
    throw new ConfigError([`${configKey("sshPrivateKeyPath")}: the file ${file} ${why}`]);
  return pulumi.secret(text);
}
