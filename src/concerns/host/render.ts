// The host's own files, rendered from typed values: sshd's drop-in, the
// firewall's rule list and APT's periodic settings. Pure: no config, no Pulumi.
import { render } from "../../core/template";

/** A port the firewall opens, and the service behind it. */
export interface OpenPort {
  readonly port: number;
  readonly service: string;
}

/** sshd drop-in. Pure. */
export function renderSshd(
  port: number,
  dbPort: number,
  options: Readonly<Record<string, string>> = {},
): string {
  const lines = Object.entries(options).map(([k, v]) => `${k} ${v}`);
  return render("ssh/50-mailstack.conf", {
    port,
    dbPort,
    extra: lines.length > 0 ? lines.join("\n") : "# (none)",
  });
}

/** UFW rule list, one `allow PORT/tcp` per open port, sorted. Pure. */
export function renderFirewallRules(ports: readonly OpenPort[]): string {
  const rules = [...ports]
    .sort((a, b) => a.port - b.port)
    .map((p) => `allow ${p.port}/tcp # ${p.service}`)
    .join("\n");
  return render("ufw/firewall.rules", { rules });
}

/** APT periodic settings. Pure. */
export function renderAutoUpgrades(enabled: boolean): string {
  return render("host/20auto-upgrades", { enabled: enabled ? "1" : "0" }, "//");
}
