// obox: mail in the S3 bucket instead of Maildir, for Dovecot Pro licence
// holders (mailstack:mailStorage obox). One fragment, conf.d/90-obox.conf,
// points Dovecot's mail_location at the bucket through a local cache; its
// fs URLs hold the bucket key, so it travels in a secret push of its own.
// Debian's and Ubuntu's dovecot packages do not include the obox plugin: the
// push's first check looks for it and fails with that message before
// anything changes. Settings follow the Dovecot Pro 2.3 documentation
// (v2.3.10 or newer); see files/dovecot/conf.d/90-obox.conf.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type ConfigPushArgs, type HostConnection, shellQuote } from "../../core/push";
import { OBOX_FRAGMENT, OBOX_INCLUDE, type OboxSettings, oboxProblems, renderOboxConf } from "./render-obox";

export const OBOX_CONF_PATH = `/etc/dovecot/conf.d/${OBOX_FRAGMENT}`;

/** Where Debian's Dovecot loads plugins from (its mail_plugin_dir). */
export const DOVECOT_MODULE_DIR = "/usr/lib/dovecot/modules";

export interface DovecotOboxArgs {
  readonly connection: HostConnection;
  readonly settings: OboxSettings;
  /** Secret. */
  readonly accessKeyId: pulumi.Input<string>;
  /** Secret. */
  readonly secretAccessKey: pulumi.Input<string>;
  /**
   * What the push waits for: Dovecot ready, with its packages, the vmail
   * user and a dovecot.conf that includes OBOX_INCLUDE. Default none.
   */
  readonly dependsOn?: readonly pulumi.Resource[];
}

/** The message the plugin check fails with on a Dovecot without obox, whose plugins are in `dir`. Pure. */
export function oboxMissing(dir: string): string {
  return (
    "obox needs Dovecot Pro: Debian's and Ubuntu's dovecot packages do not include the obox plugin " +
    `(no lib*_obox_plugin.so in ${dir}; Dovecot Pro has it in its dovecot-ee-obox2 package; ` +
    "mailstack:mailStorage obox); use maildir (the default) with backups"
  );
}

/** The message on Debian's and Ubuntu's Dovecot. */
export const OBOX_MISSING = oboxMissing(DOVECOT_MODULE_DIR);

/**
 * Check 1: Dovecot loads mail_plugins entry X from lib<NN>_X_plugin.so in
 * its mail_plugin_dir (doc.dovecot.org/2.3/developer_manual/design/plugins/),
 * so `mail_plugins = obox` needs some lib*_obox_plugin.so there. The dir is
 * doveconf's, DOVECOT_MODULE_DIR if doveconf cannot say; the message is
 * double-quoted for "$d", and has no character special there.
 */
export const OBOX_PLUGIN_CHECK = `d=$(doveconf -h mail_plugin_dir 2>/dev/null) || d=${DOVECOT_MODULE_DIR}; compgen -G "$d/lib*_obox_plugin.so" >/dev/null || { echo "${oboxMissing("$d")}" >&2; exit 1; }`;

/** Check 3: the fragment takes part, i.e. dovecot.conf includes it. */
export const OBOX_INCLUDED_CHECK = `[ "$(doveconf -h mail_location | cut -d: -f1)" = obox ] || { echo ${shellQuote(`dovecot.conf does not include conf.d/${OBOX_FRAGMENT}: add "${OBOX_INCLUDE}" after conf.d/90-quota.conf`)} >&2; exit 1; }`;

/** The checks of the push, in order: the plugin, the whole config, the include. */
export const OBOX_CHECKS = [OBOX_PLUGIN_CHECK, "doveconf -n >/dev/null", OBOX_INCLUDED_CHECK] as const;

/** The push of `content`, the rendered fragment: file, checks and reload. Pure. */
export function oboxPush(s: OboxSettings, content: pulumi.Input<string>): Omit<ConfigPushArgs, "connection"> {
  return {
    // Read by Dovecot's config process as root and by doveconf; the dovecot
    // group as for the other files with secrets.
    files: [{ path: OBOX_CONF_PATH, content, group: "dovecot", mode: "0640", secret: true }],
    check: OBOX_CHECKS,
    // The mail processes run as vmail and write the cache.
    reload: {
      command: `install -d -o vmail -g vmail -m 0750 ${shellQuote(s.cachePath)} && svc reload dovecot`,
    },
  };
}

export class DovecotObox extends pulumi.ComponentResource {
  /** The push's summary line. */
  readonly result: pulumi.Output<string>;
  /** Dovecot serving mail from the bucket: depend on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: DovecotOboxArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:obox:DovecotObox", name, {}, opts);
    const s = args.settings;
    const problems = oboxProblems(s);
    if (problems.length > 0) throw new pulumi.ResourceError(`obox: ${problems.join("; ")}`, this);

    const content = pulumi
      .all([args.accessKeyId, args.secretAccessKey])
      .apply(([accessKeyId, secretAccessKey]) => renderOboxConf(s, { accessKeyId, secretAccessKey }));
    const config = new ConfigPush(
      `${name}-config`,
      { connection: args.connection, ...oboxPush(s, content) },
      { parent: this, dependsOn: [...(args.dependsOn ?? [])] },
    );
    this.result = config.result;
    this.ready = config;
    this.registerOutputs({ result: this.result });
  }
}
