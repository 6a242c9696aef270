import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { DnsRecord } from "../../../src/concerns/dns/records";
import {
  renderDnsExpectations,
  renderHealthConf,
  renderHealthCron,
  servedForm,
} from "../../../src/concerns/health/render";
import { DEFAULT_HEALTH, healthProblems } from "../../../src/concerns/health/settings";
import { parseConfig } from "../../../src/config";
import { healthServices } from "../../../src/mailstack";

const rec = (type: DnsRecord["type"], value: string, extra: Partial<DnsRecord> = {}): DnsRecord => ({
  zone: "tlabs.team",
  name: "tlabs.team",
  type,
  value,
  why: "test",
  ...extra,
});

describe("mailstack-health settings", () => {
  it("accepts the defaults and names each bad setting", () => {
    expect(healthProblems(DEFAULT_HEALTH)).toEqual([]);
    const bad = healthProblems({
      ...DEFAULT_HEALTH,
      everyMinutes: 61,
      maxQueue: -1,
      certMinDays: 0,
      checkDns: "yes" as unknown as boolean,
      dnsServer: "1.1.1.1; rm -rf /",
    });
    expect(bad.map((p) => p.split(" ")[0])).toEqual([
      "everyMinutes",
      "maxQueue",
      "certMinDays",
      "checkDns",
      "dnsServer",
    ]);
    expect(healthProblems({ ...DEFAULT_HEALTH, dnsServer: "ns1.example.net:5353" })).toEqual([]);
  });

  it("fails the preview naming mailstack:health and the fix", () => {
    const values = {
      host: "203.0.113.10",
      hostname: "mail.tlabs.team",
      adminEmail: "postmaster@tlabs.team",
      domains: JSON.stringify([{ name: "tlabs.team" }]),
      sshPrivateKeyPath: "/dev/null",
      dbMode: "preprovisioned",
      storageMode: "none",
      health: JSON.stringify({ maxQueue: "many" }),
    };
    expect(() => parseConfig({ values, secretKeys: new Set() })).toThrow(
      /mailstack:health has maxQueue "many" must be a whole number from 0 to 1000000\. Fix: pulumi config set --path .health\.maxQueue. 100/,
    );
  });
});

describe("mailstack-health files", () => {
  it("writes each record as dig +short prints it", () => {
    expect(servedForm(rec("MX", "mail.tlabs.team", { priority: 10 }))).toBe("10 mail.tlabs.team.");
    expect(servedForm(rec("SRV", "mail.tlabs.team", { priority: 0, srv: { weight: 1, port: 993 } }))).toBe(
      "0 1 993 mail.tlabs.team.",
    );
    expect(servedForm(rec("CNAME", "mail.tlabs.team"))).toBe("mail.tlabs.team.");
    expect(servedForm(rec("AAAA", "2001:0db8:0000::0001"))).toBe("2001:db8::1");
    expect(servedForm(rec("TLSA", "3 1 1 ABCDEF"))).toBe("3 1 1 abcdef");
    expect(servedForm(rec("TXT", "v=spf1 mx -all"))).toBe("v=spf1 mx -all");
    expect(servedForm(rec("CAA", '0 issue "letsencrypt.org"'))).toBe('0 issue "letsencrypt.org"');
    expect(renderDnsExpectations([rec("TXT", "v=spf1 mx -all"), rec("MX", "mail.tlabs.team")])).toBe(
      "tlabs.team TXT v=spf1 mx -all\ntlabs.team MX 10 mail.tlabs.team.\n",
    );
    expect(() => renderDnsExpectations([rec("TXT", "a\nb")])).toThrow(/spans lines/);
  });

  it("renders settings that bash reads back, the services quoted", () => {
    const conf = renderHealthConf({
      settings: { ...DEFAULT_HEALTH, dnsServer: "10.0.0.53:5353" },
      services: healthServices(true),
      cert: "/etc/mailstack/tls/fullchain.pem",
      backup: true,
    });
    const r = spawnSync(
      "bash",
      ["-c", `${conf}\nprintf '%s|' "$SERVICES" "$MAX_QUEUE" "$CERT" "$BACKUP" "$CHECK_DNS" "$DNS_SERVER"`],
      { encoding: "utf8" },
    );
    expect(r.stdout).toBe(
      "ssh cron rsyslog postgresql redis-server rspamd clamav-daemon postfix dovecot nginx fail2ban|50|/etc/mailstack/tls/fullchain.pem|yes|yes|10.0.0.53:5353|",
    );
    expect(healthServices(false)).not.toContain("postgresql");
  });

  it("schedules the check every everyMinutes into syslog, or not at all", () => {
    expect(renderHealthCron(DEFAULT_HEALTH)).toContain(
      "*/15 * * * * root /usr/local/sbin/mailstack-health --state cron --quiet 2>&1 | logger -t mailstack-health\n",
    );
    const off = renderHealthCron({ ...DEFAULT_HEALTH, everyMinutes: 0 });
    expect(off).not.toMatch(/^[^#].*mailstack-health/m);
    expect(off).toContain("# Off (mailstack:health everyMinutes 0)");
  });

  it("the script passes bash -n and shellcheck's parse", () => {
    expect(spawnSync("bash", ["-n", "files/health/mailstack-health.sh"]).status).toBe(0);
  });
});
