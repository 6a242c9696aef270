// The host itself: the shell library every host script loads, reachability
// and OS check, base packages, identity (hostname, mailname, time zone),
// unattended security upgrades, sshd hardening and the firewall. Every config
// file goes through ConfigPush.
import * as pulumi from "@pulumi/pulumi";
import { ConfigPush, type HostConnection, shellQuote } from "../../core/push";
import { installPackages, parseVersions, raw, runScript } from "../../core/remote";
import { type OpenPort, renderAutoUpgrades, renderFirewallRules, renderSshd } from "./render";
import type { HostOs } from "./settings";

/** Packages every mail host gets, whatever else runs on it. */
export const BASE_PACKAGES = [
  "ca-certificates",
  "iproute2",
  "openssh-server",
  "openssl",
  "sudo",
  "tzdata",
  "ufw",
  "unattended-upgrades",
  "util-linux",
] as const;

/** Daemons that read the time zone only when they start: a zone change restarts them. */
export const ZONE_READERS = ["rsyslog", "cron"] as const;

/**
 * The host's shell library (files/lib/mailstack.sh): logging, service control
 * and waiting. Every script under files/ loads it from here, and so do the
 * push runner's reload and verify commands.
 */
export const SHELL_LIBRARY = "/usr/local/lib/mailstack/mailstack.sh";

export interface MailHostArgs {
  readonly connection: HostConnection;
  /** The OS the host must run. */
  readonly os: HostOs;
  /** Fully qualified host name. */
  readonly hostname: string;
  /** IANA time zone. */
  readonly timezone: string;
  /** Ports the firewall opens, SSH included. */
  readonly openPorts: readonly OpenPort[];
  /** PostgreSQL's port on the host's loopback: the one SSH forward allowed. */
  readonly dbPort: number;
  /** Extra sshd settings. */
  readonly sshdOptions: Readonly<Record<string, string>>;
  /** Daily unattended security upgrades. */
  readonly unattendedUpgrades: boolean;
}

export class MailHost extends pulumi.ComponentResource {
  /** "debian 12 systemd" and the like. */
  readonly os: pulumi.Output<string>;
  /** Installed versions of the base packages. */
  readonly versions: pulumi.Output<Record<string, string>>;
  /** Everything that prepares the host, for later components to depend on. */
  readonly ready: readonly pulumi.Resource[];

  constructor(name: string, args: MailHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:host:MailHost", name, {}, opts);
    const conn = args.connection;
    const sshPort = args.openPorts.find((p) => p.service === "ssh")?.port;
    if (sshPort === undefined) throw new pulumi.ResourceError("openPorts must include the ssh port", this);

    // First the shell library, which every later script and every reload and
    // verify command loads: this push waits for SSH (the connection retries).
    // Its own push cannot load it, and does not need to: it has no reload or
    // verify step (see files/push/runner.sh).
    const library = new ConfigPush(
      `${name}-library`,
      {
        connection: conn,
        files: [{ path: SHELL_LIBRARY, content: raw("lib/mailstack.sh") }],
        check: [`bash -n ${SHELL_LIBRARY}`],
      },
      { parent: this },
    );
    // Then the OS check, which stops on an unsupported OS.
    const facts = runScript(`${name}-facts`, conn, "host/facts.sh", [args.os], {
      parent: this,
      dependsOn: [library],
    });
    const packages = installPackages(`${name}-packages`, conn, BASE_PACKAGES, {
      parent: this,
      dependsOn: [facts],
    });
    const after = { parent: this, dependsOn: [packages] };

    const identity = new ConfigPush(
      `${name}-identity`,
      {
        connection: conn,
        files: [
          { path: "/etc/hostname", content: `${args.hostname}\n` },
          // Read by Postfix and Debian tools as a bare name: no header.
          { path: "/etc/mailname", content: `${args.hostname}\n` },
          {
            path: "/usr/local/sbin/mailstack-hostname",
            content: raw("host/mailstack-hostname.sh"),
            mode: "0755",
          },
        ],
        reload: { command: "/usr/local/sbin/mailstack-hostname" },
      },
      after,
    );

    const zone = `/usr/share/zoneinfo/${args.timezone}`;
    const timezone = new ConfigPush(
      `${name}-timezone`,
      {
        connection: conn,
        // tzdata reads /etc/timezone as a bare zone name: no header.
        files: [{ path: "/etc/timezone", content: `${args.timezone}\n` }],
        check: [`test -f ${shellQuote(zone)}`],
        // rsyslog and cron read the zone once, when they start: rsyslog would
        // go on stamping the logs with the old offset, and cron would run the
        // backup and the health check at the old zone's hours. Each is
        // restarted where it runs (a first deployment installs them later).
        reload: {
          command: [
            `ln -sfn ${shellQuote(zone)} /etc/localtime`,
            ...ZONE_READERS.map((unit) => `{ ! svc running ${unit} || svc restart ${unit}; }`),
          ].join(" && "),
        },
      },
      after,
    );

    const upgrades = new ConfigPush(
      `${name}-upgrades`,
      {
        connection: conn,
        files: [
          {
            path: "/etc/apt/apt.conf.d/20auto-upgrades",
            content: renderAutoUpgrades(args.unattendedUpgrades),
          },
        ],
        check: ["apt-config dump >/dev/null"],
      },
      after,
    );

    const sshd = new ConfigPush(
      `${name}-sshd`,
      {
        connection: conn,
        files: [
          {
            path: "/etc/ssh/sshd_config.d/50-mailstack.conf",
            content: renderSshd(sshPort, args.dbPort, args.sshdOptions),
          },
        ],
        check: ["sshd -t"],
        reload: { service: "ssh", action: "reload" },
        // A new connection must still reach sshd before the push counts as done.
        verify: [
          `sleep 1; timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${sshPort}; head -c 4 <&3' | grep -q SSH-`,
        ],
      },
      after,
    );

    // After sshd, so the firewall's lockout guard sees the port sshd really uses.
    const firewall = new ConfigPush(
      `${name}-firewall`,
      {
        connection: conn,
        files: [
          { path: "/etc/mailstack/firewall.rules", content: renderFirewallRules(args.openPorts) },
          {
            path: "/usr/local/sbin/mailstack-firewall",
            content: raw("ufw/mailstack-firewall.sh"),
            mode: "0755",
          },
        ],
        check: ["/usr/local/sbin/mailstack-firewall --check /etc/mailstack/firewall.rules"],
        reload: { command: "/usr/local/sbin/mailstack-firewall /etc/mailstack/firewall.rules" },
      },
      { parent: this, dependsOn: [packages, sshd] },
    );

    this.os = facts.stdout.apply((s) => s.trim());
    this.versions = packages.stdout.apply(parseVersions);
    this.ready = [library, identity, timezone, upgrades, sshd, firewall];
    this.registerOutputs({ os: this.os, versions: this.versions });
  }
}
