// Entry point: read the stack config once, validate it, build the graph.
// Invalid config throws here, before any resource is registered.
import * as pulumi from "@pulumi/pulumi";
import {
  ConfigError,
  loadConfig,
  readAcmeCaBundle,
  readLdapBindPassword,
  readPrivateKey,
} from "./src/config";
import { MAILSTACK_NAME, MailStack } from "./src/mailstack";

function configured() {
  try {
    const config = loadConfig();
    return {
      config,
      privateKey: readPrivateKey(config.ssh),
      ...(config.ldap ? { ldapBindPassword: readLdapBindPassword(config.ldap) } : {}),
      ...(config.tls.caBundlePath ? { acmeCaBundle: readAcmeCaBundle(config.tls) } : {}),
    };
  } catch (err) {
    // A RunError prints just the message: the operator needs the fix, not a stack trace.
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const stack = new MailStack(MAILSTACK_NAME, configured());

// Audit outputs: what an auditor reading `pulumi stack export` needs. No secrets.
export const host = stack.host;
export const hostname = stack.hostname;
export const openPorts = stack.openPorts;
export const domains = stack.domains;
export const os = stack.os;
export const versions = stack.versions;
export const database = stack.database;
export const migrations = stack.migrations;
export const dkimRecords = stack.dkimRecords;
export const dnsZones = stack.dnsZones;
export const deliverability = stack.deliverability;
export const tls = stack.tls;
export const backup = stack.backup;
export const mailstackVersion: string = require("./package.json").version;
