// Fail2ban: the rendered jail file as a snapshot, the settings that must hold,
// and validation. test/sandbox/fail2ban-contract.ts proves the bans in the sandbox.
import { describe, expect, it } from "vitest";
import { JAILS, renderJailLocal } from "../../../src/concerns/fail2ban/render";
import { DEFAULT_FAIL2BAN, fail2banProblems } from "../../../src/concerns/fail2ban/settings";

/** The settings of each [section] of a jail file. */
function sections(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const head = /^\[(.+)\]$/.exec(line);
    if (head?.[1]) {
      current = new Map();
      out.set(head[1], current);
    } else {
      const m = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) current.set(m[1], m[2]);
    }
  }
  return out;
}

describe("fail2ban jail file", () => {
  it("jail.d/mailstack.local", () => expect(renderJailLocal({ sshPort: 2222 })).toMatchSnapshot());

  it("enables exactly the five jails, banning through UFW, with the settings given", () => {
    const s = sections(
      renderJailLocal({
        sshPort: 2222,
        settings: {
          maxRetry: 3,
          findTime: "5m",
          banTime: "20s",
          allowlist: ["198.51.100.7", "2001:db8::/32"],
        },
      }),
    );
    expect([...s.keys()].filter((k) => k !== "DEFAULT").sort()).toEqual([...JAILS].sort());
    for (const j of JAILS) expect(s.get(j)?.get("enabled"), j).toBe("true");
    const d = s.get("DEFAULT");
    expect(d?.get("banaction")).toBe("ufw");
    expect(d?.get("maxretry")).toBe("3");
    expect(d?.get("findtime")).toBe("5m");
    expect(d?.get("bantime")).toBe("20s");
    expect(d?.get("ignoreip")).toBe("127.0.0.1/8 ::1 198.51.100.7 2001:db8::/32");
    expect(s.get("sshd")?.get("port")).toBe("2222");
    expect(s.get("dovecot")?.get("logpath")).toBe("/var/log/mail.log");
    expect(s.get("recidive")?.get("bantime")).toBe("1w");
  });

  it("refuses bad settings, naming each", () => {
    expect(fail2banProblems(DEFAULT_FAIL2BAN)).toEqual([]);
    expect(fail2banProblems({ ...DEFAULT_FAIL2BAN, maxRetry: 0 })[0]).toMatch(/^maxRetry 0 /);
    expect(fail2banProblems({ ...DEFAULT_FAIL2BAN, banTime: "forever" })[0]).toMatch(/^banTime "forever" /);
    expect(fail2banProblems({ ...DEFAULT_FAIL2BAN, allowlist: ["10.0.0.0/33", "ops"] })).toHaveLength(2);
    expect(() => renderJailLocal({ sshPort: 22, settings: { ...DEFAULT_FAIL2BAN, findTime: "" } })).toThrow(
      "mailstack:fail2ban",
    );
  });
});
