// Postfix: SMTP in on port 25 for our domains (behind postscreen), the mail of
// logged-in users that Dovecot's submission service (587 and 465) relays to it
// on loopback, delivery to Dovecot over LMTP. Accounts come from the mail
// database through the pgsql maps of src/concerns/database/lookups.ts; logins are
// checked by Dovecot. Every
// file reaches the host in one ConfigPush, checked with `postfix check`.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { asRoot, ConfigPush, commandConnection, type HostConnection } from "../../core/push";
import { installPackages, parseVersions } from "../../core/remote";
import { DATABASE_SPEC, type DatabaseSpec } from "../database/spec";
import { type PostfixMainArgs, postfixFiles } from "./render";

/** Postfix and the PostgreSQL map client. */
export const POSTFIX_PACKAGES = ["postfix", "postfix-pgsql"] as const;

export interface PostfixArgs extends PostfixMainArgs {
  readonly connection: HostConnection;
  /** Database and lookup role names. Default DATABASE_SPEC. */
  readonly spec?: DatabaseSpec;
  /** Resources the packages and config wait for (host base, database, certificate). Default none. */
  readonly dependsOn?: readonly pulumi.Resource[];
}

export class Postfix extends pulumi.ComponentResource {
  /** Installed versions of the Postfix packages. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** The push's summary line. */
  readonly result: pulumi.Output<string>;
  /** Postfix installed, configured and running: depend on this. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: PostfixArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:postfix:Postfix", name, {}, opts);
    const spec = args.spec ?? DATABASE_SPEC;
    const conn = args.connection;
    const files = postfixFiles(args, spec);

    // The package must not ask questions nor write a main.cf of its own:
    // this push owns it.
    const preseed = new command.remote.Command(
      `${name}-preseed`,
      {
        connection: commandConnection(conn),
        create: asRoot(
          conn.user,
          `sh -c 'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections'`,
        ),
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: [...(args.dependsOn ?? [])] },
    );
    const packages = installPackages(`${name}-packages`, conn, POSTFIX_PACKAGES, {
      parent: this,
      dependsOn: [preseed],
    });

    const config = new ConfigPush(
      `${name}-config`,
      {
        connection: conn,
        files,
        // postfix check reads main.cf and master.cf and the files they name;
        // postconf prints a warning for every unknown or misspelt parameter,
        // which postfix check lets pass, so any output fails the check too.
        check: [
          "postfix check",
          `out=$(postconf -n 2>&1 >/dev/null); [ -z "$out" ] || { echo "$out"; exit 1; }`,
        ],
        reload: { service: "postfix", action: "reload" },
        verify: ["postfix status"],
      },
      { parent: this, dependsOn: [packages] },
    );

    this.versions = packages.stdout.apply(parseVersions);
    this.result = config.result;
    this.ready = config;
    this.registerOutputs({ versions: this.versions, result: this.result });
  }
}
