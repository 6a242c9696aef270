// Rspamd and ClamAV: every rendered file as a snapshot, the settings that must
// hold whatever the wording, and validation. test/sandbox/filter-contract.ts proves
// them with real mail in the sandbox.
import { describe, expect, it } from "vitest";
import { eicar } from "../../../src/concerns/filter/clamav";
import {
  clamavFiles,
  EICAR_HEX,
  NETWORK_MODULES,
  RSPAMD_FILES,
  renderClamdConf,
  renderNetworkModule,
  renderRspamdFile,
  renderTestDatabase,
  rspamdFiles,
} from "../../../src/concerns/filter/render";
import { spamActionsProblems } from "../../../src/concerns/filter/settings";
import { CLAMD_SOCKET, RSPAMD_CONTROLLER, RSPAMD_MILTER } from "../../../src/core/host-layout";

describe("rspamd rendered files", () => {
  for (const f of RSPAMD_FILES) {
    it(`local.d/${f}`, () => expect(renderRspamdFile(f, {})).toMatchSnapshot());
  }
  it("a network module, on and off", () => {
    expect(renderNetworkModule("rbl", true)).toMatchSnapshot();
    expect(renderNetworkModule("rbl", false)).toMatchSnapshot();
  });

  it("the milter and the controller listen on loopback; clamd is asked on its socket", () => {
    expect(renderRspamdFile("worker-proxy.inc", {})).toContain(
      `bind_socket = "${RSPAMD_MILTER.host}:${RSPAMD_MILTER.port}";`,
    );
    expect(RSPAMD_MILTER.host).toBe("127.0.0.1");
    expect(renderRspamdFile("worker-controller.inc", {})).toContain(
      `bind_socket = "${RSPAMD_CONTROLLER.host}:${RSPAMD_CONTROLLER.port}";`,
    );
    expect(renderRspamdFile("antivirus.conf", {})).toContain(`servers = "${CLAMD_SOCKET}";`);
    expect(renderClamdConf({})).toMatch(new RegExp(`^LocalSocket ${CLAMD_SOCKET}$`, "m"));
  });

  it("actions, greylisting, network checks and test patterns follow the config", () => {
    const a = renderRspamdFile("actions.conf", { actions: { reject: null, addHeader: 5, greylist: 3 } });
    expect(a).toMatch(/^reject = null;$/m);
    expect(a).toMatch(/^add_header = 5;$/m);
    expect(a).toMatch(/^greylist = 3;$/m);
    expect(renderRspamdFile("greylist.conf", { greylisting: false })).toMatch(/^enabled = false;$/m);
    expect(renderRspamdFile("greylist.conf", {})).toMatch(/^enabled = true;$/m);
    expect(renderRspamdFile("options.inc", {})).toMatch(/^enable_test_patterns = false;$/m);
    expect(renderRspamdFile("options.inc", { testPatterns: true })).toMatch(
      /^enable_test_patterns = true;$/m,
    );
    const off = rspamdFiles({ networkChecks: false }).filter((f) =>
      NETWORK_MODULES.some((m) => f.path === `/etc/rspamd/local.d/${m}.conf`),
    );
    expect(off).toHaveLength(NETWORK_MODULES.length);
    for (const f of off) expect(f.content, f.path).toMatch(/^enabled = false;$/m);
    // By default only the unused normal worker is off.
    const offByDefault = rspamdFiles({}).filter((f) => /^enabled = false;$/m.test(f.content));
    expect(offByDefault.map((f) => f.path)).toEqual(["/etc/rspamd/local.d/worker-normal.inc"]);
  });

  it("refuses thresholds in the wrong order or not positive; rendering them names the key", () => {
    expect(spamActionsProblems({ reject: 5, addHeader: 6, greylist: 4 })).toEqual([
      "addHeader must be below reject",
    ]);
    expect(() =>
      renderRspamdFile("actions.conf", { actions: { reject: 5, addHeader: 6, greylist: 4 } }),
    ).toThrow("mailstack:spamActions");
    expect(spamActionsProblems({ reject: 15, addHeader: 6, greylist: 7 }).join()).toContain("greylist");
    expect(spamActionsProblems({ reject: 15, addHeader: 0, greylist: 0 }).join()).toContain("positive");
    expect(spamActionsProblems({ reject: null, addHeader: 6, greylist: 4 })).toEqual([]);
  });
});

describe("clamav rendered files", () => {
  it("clamd.conf", () => expect(renderClamdConf({})).toMatchSnapshot());
  it("clamd.conf: one database in memory while reloading", () => {
    expect(renderClamdConf({})).toMatch(/^ConcurrentDatabaseReload no$/m);
  });
  it("the test database is one EICAR body signature, and only without updates", () => {
    expect(eicar()).toHaveLength(68);
    expect(eicar()).toMatch(
      /^X5O!P%@AP\[4\\PZX54\(P\^\)7CC\)7\}\$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!\$H\+H\*$/,
    );
    expect(renderTestDatabase()).toBe(`Eicar-Test-Signature:0:*:${EICAR_HEX}\n`);
    expect(clamavFiles({}, false).map((f) => f.path)).toEqual([
      "/etc/clamav/clamd.conf",
      "/var/lib/clamav/mailstack-test.ndb",
    ]);
    expect(clamavFiles({}, true).map((f) => f.path)).toEqual(["/etc/clamav/clamd.conf"]);
  });
});

describe("rspamd DKIM signing", () => {
  it("signs each domain with its signing selector, from its key file", () => {
    const conf = renderRspamdFile("dkim_signing.conf", {
      dkimSigning: [
        { domain: "example.test", selector: "s2026b" },
        { domain: "example.org", selector: "s2026a" },
      ],
    });
    expect(conf).toContain(
      '  example.test {\n    selector = "s2026b";\n    path = "/var/lib/rspamd/dkim/example.test.s2026b.key";\n  }',
    );
    expect(conf).toContain('path = "/var/lib/rspamd/dkim/example.org.s2026a.key";');
    expect(conf).toMatch(/^sign_authenticated = true;$/m);
    expect(conf).toMatch(/^sign_inbound = false;$/m);
    expect(renderRspamdFile("dkim_signing.conf", {})).toContain("# No domain signs.");
  });
});
