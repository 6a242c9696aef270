import { describe, expect, it } from "vitest";
import { renderAutoUpgrades, renderFirewallRules, renderSshd } from "../../src/concerns/host/render";
import { renderPayload, shellQuote, validatePush } from "../../src/core/push";
import { parseVersions } from "../../src/core/remote";
import { fill } from "../../src/core/template";
import { mergeVersions, openPorts } from "../../src/mailstack";

describe("strict templates", () => {
  it("fills placeholders", () => {
    expect(fill("Port {{port}}\n", { port: 22 })).toBe("Port 22\n");
  });
  it("rejects a placeholder without a value", () => {
    expect(() => fill("Port {{port}} {{other}}\n", { port: 22 }, "t")).toThrow("t: no value for other");
  });
  it("rejects a value no placeholder uses", () => {
    expect(() => fill("Port {{port}}\n", { port: 22, prot: 1 }, "t")).toThrow("values never used: prot");
  });
  it("rejects a malformed placeholder", () => {
    expect(() => fill("Port {{ port\n", {}, "t")).toThrow("malformed placeholder");
  });
});

describe("rendered host files", () => {
  it("sshd drop-in", () => expect(renderSshd(2222, 5432)).toMatchSnapshot());
  it("sshd drop-in with extra options after the managed ones", () => {
    const text = renderSshd(22, 5432, { AllowUsers: "root ops", MaxSessions: "4" });
    expect(text).toContain("\nAllowUsers root ops\nMaxSessions 4\n");
    expect(text.indexOf("AllowUsers")).toBeGreaterThan(text.indexOf("PasswordAuthentication no"));
  });
  it("firewall rules", () => expect(renderFirewallRules(openPorts(22))).toMatchSnapshot());
  it("unattended upgrades on and off", () => {
    expect(renderAutoUpgrades(true)).toMatchSnapshot();
    expect(renderAutoUpgrades(false)).toContain('Unattended-Upgrade "0"');
  });
  it("every rendered file opens with the managed header and its source", () => {
    for (const text of [renderSshd(22, 5432), renderFirewallRules(openPorts(22)), renderAutoUpgrades(true)]) {
      expect(text).toMatch(
        /^(#|\/\/) Managed by mailstack \(Pulumi\)\. Do not edit.*\n(#|\/\/) Source: files\//,
      );
    }
  });
  it("parses package versions", () => {
    expect(parseVersions("ufw=0.36.2-1\nopenssh-server=1:9.2p1-2\n\n")).toEqual({
      ufw: "0.36.2-1",
      "openssh-server": "1:9.2p1-2",
    });
  });
  it("merges the components' versions sorted by package name, the later record winning a package both list", () => {
    const merged = mergeVersions([
      { ufw: "0.36.2-1", cron: "3.0pl1-162" },
      {},
      { restic: "0.14.0-1", cron: "3.0pl1-163" },
    ]);
    expect(merged).toEqual({ cron: "3.0pl1-163", restic: "0.14.0-1", ufw: "0.36.2-1" });
    expect(Object.keys(merged)).toEqual(["cron", "restic", "ufw"]);
  });
});

describe("push payload", () => {
  it("is readable text with one header per file", () => {
    const text = renderPayload("ssh", { check: ["sshd -t"], reload: { service: "ssh", action: "reload" } }, [
      { path: "/etc/ssh/sshd_config.d/50-mailstack.conf", content: "Port 22\nPasswordAuthentication no\n" },
      { path: "/etc/mailstack/secret", content: "s\n", secret: true },
    ]);
    expect(text).toMatchSnapshot();
    expect(text).toContain("file /etc/mailstack/secret root root 0600 1\n");
  });
  it("refuses content without a final newline", () => {
    expect(() => renderPayload("x", {}, [{ path: "/etc/x", content: "no newline" }])).toThrow(
      "must end with a newline",
    );
  });
  it.each([
    ["relative path", { path: "etc/x", content: "" }, "must be absolute"],
    ["path with a space", { path: "/etc/my file", content: "" }, "must be absolute"],
    ["path with ..", { path: "/etc/../shadow", content: "" }, "must be absolute"],
    ["bad mode", { path: "/etc/x", content: "", mode: "644x" }, "octal mode"],
    ["bad owner", { path: "/etc/x", content: "", owner: "Bad Owner" }, "not a valid name"],
    [
      "world-readable secret",
      { path: "/etc/x", content: "", secret: true, mode: "0644" },
      "readable by others",
    ],
  ])("validatePush refuses a %s", (_, file, message) => {
    const conn = { host: "h", port: 22, user: "root", privateKey: undefined as never };
    expect(() => validatePush("p", { connection: conn, files: [file] })).toThrow(message);
  });
  it("validatePush refuses duplicates, no files and multi-line commands", () => {
    const conn = { host: "h", port: 22, user: "root", privateKey: undefined as never };
    const f = { path: "/etc/x", content: "" };
    expect(() => validatePush("p", { connection: conn, files: [f, f] })).toThrow("listed twice");
    expect(() => validatePush("p", { connection: conn, files: [] })).toThrow("has no files");
    expect(() => validatePush("p", { connection: conn, files: [f], check: ["a\nb"] })).toThrow(
      "several lines",
    );
  });
  it("shell-quotes single quotes", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
