// Rspamd and ClamAV: every rendered file as a snapshot, the settings that must
// hold whatever the wording, and validation. test/sandbox/filter-contract.ts proves
// them with real mail in the sandbox.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { eicar } from "../../../src/concerns/filter/clamav";
import {
  CLAMD_DEFAULT_LIMITS,
  clamavFiles,
  EICAR_HEX,
  filterSizeLimit,
  LOCAL_MAPS,
  NETWORK_MODULES,
  OFFLINE_MAP_FILES,
  RSPAMD_FILES,
  renderClamdConf,
  renderLocalMap,
  renderNetworkModule,
  renderOfflineMapFile,
  renderRspamdFile,
  renderTestDatabase,
  rspamdFiles,
  rspamdReloadCommand,
} from "../../../src/concerns/filter/render";
import { spamActionsProblems } from "../../../src/concerns/filter/settings";
import {
  CLAMD_SOCKET,
  DEFAULT_MESSAGE_SIZE_LIMIT,
  MESSAGE_SIZE_MARGIN,
  RSPAMD_CONTROLLER,
  RSPAMD_MILTER,
} from "../../../src/core/host-layout";

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

describe("rspamd without network checks: no map from maps.rspamd.com", () => {
  for (const f of OFFLINE_MAP_FILES) {
    it(`${f}, checks off`, () => expect(renderOfflineMapFile(f, false)).toMatchSnapshot());
  }
  for (const f of LOCAL_MAPS) {
    it(f, () => expect(renderLocalMap(f)).toMatchSnapshot());
  }
  it("a maps file with checks on", () =>
    expect(renderOfflineMapFile("override.d/mid.conf", true)).toMatchSnapshot());

  it("with checks off no rendered file names maps.rspamd.com; each offline file does something", () => {
    const off = rspamdFiles({ networkChecks: false });
    expect(off.filter((f) => f.content.includes("maps.rspamd.com")).map((f) => f.path)).toEqual([]);
    for (const f of OFFLINE_MAP_FILES) {
      expect(settingLines(renderOfflineMapFile(f, false)).length, f).toBeGreaterThan(0);
    }
    // Every list keeps the package's copy, except phishing's whitelist (the package has none).
    const lists = ["mid", "mime_types", "phishing", "rbl", "whitelist"] as const;
    for (const f of lists.map((m) => `override.d/${m}.conf` as const)) {
      expect(renderOfflineMapFile(f, false), f).toMatch(/"\$\{CONFDIR\}\/maps\.d\/[a-z_-]+\.inc"/);
    }
    expect(renderOfflineMapFile("override.d/phishing.conf", false)).toMatch(/^phishtank_enabled = false;$/m);
    const multimap = renderOfflineMapFile("local.d/multimap.conf", false);
    for (const kind of ["freemail", "disposable"]) {
      for (const where of ["envfrom", "envrcpt", "from", "to", "cc", "replyto"]) {
        expect(multimap).toContain(`${kind}_${where} { map = "$LOCAL_CONFDIR/local.d/maps.d/${kind}.inc"; }`);
      }
    }
  });

  it("with checks on the maps files set nothing: the distribution's maps stand, as before", () => {
    for (const f of OFFLINE_MAP_FILES) expect(settingLines(renderOfflineMapFile(f, true)), f).toEqual([]);
    for (const f of LOCAL_MAPS) expect(settingLines(renderLocalMap(f)), f).toEqual([]);
    // The same files either way, so switching checks back on leaves no offline override behind.
    const paths = (on: boolean) => rspamdFiles({ networkChecks: on }).map((f) => f.path);
    expect(paths(false)).toEqual(paths(true));
    expect(paths(true)).toEqual(expect.arrayContaining(OFFLINE_MAP_FILES.map((f) => `/etc/rspamd/${f}`)));
  });
});

/** The lines of a rendered file that are neither blank nor comments. */
function settingLines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

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

describe("the message size limit in the filter", () => {
  /** clamd.conf's size directives, as numbers. */
  const clamd = (messageSizeLimit?: number) => {
    const text =
      clamavFiles(messageSizeLimit === undefined ? {} : { messageSizeLimit }, true)[0]?.content ?? "";
    const get = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, "m").exec(text)?.[1]);
    return {
      stream: get("StreamMaxLength"),
      file: get("MaxFileSize"),
      scan: get("MaxScanSize"),
    };
  };
  /** Rspamd's max_message, from the pushed options.inc. */
  const maxMessage = (messageSizeLimit?: number) => {
    const files = rspamdFiles(messageSizeLimit === undefined ? {} : { messageSizeLimit });
    const options = files.find((f) => f.path === "/etc/rspamd/local.d/options.inc")?.content ?? "";
    return Number(/^max_message = (\d+);$/m.exec(options)?.[1]);
  };

  it("by default Rspamd and clamd take 35 MiB and the margin: all Postfix may hand them", () => {
    const inner = DEFAULT_MESSAGE_SIZE_LIMIT + MESSAGE_SIZE_MARGIN;
    expect(inner).toBe(37748736);
    expect(maxMessage()).toBe(inner);
    // Below clamd's own defaults, the per-file and per-scan limits keep them.
    expect(clamd()).toEqual({ stream: inner, file: 100 * 2 ** 20, scan: 400 * 2 ** 20 });
  });

  it("follow a configured limit, never below the stream nor below clamd's defaults", () => {
    for (const limit of [2 ** 20, 50 * 2 ** 20, 300 * 2 ** 20, 2 ** 30]) {
      const inner = limit + MESSAGE_SIZE_MARGIN;
      expect(filterSizeLimit(limit)).toBe(inner);
      expect(maxMessage(limit), String(limit)).toBe(inner);
      expect(clamd(limit), String(limit)).toEqual({
        stream: inner,
        file: Math.max(inner, CLAMD_DEFAULT_LIMITS.maxFileSize),
        scan: Math.max(inner, CLAMD_DEFAULT_LIMITS.maxScanSize),
      });
    }
    // A limit above clamd's per-file default raises it with the stream.
    expect(clamd(300 * 2 ** 20).file).toBe(300 * 2 ** 20 + MESSAGE_SIZE_MARGIN);
  });

  it("refuses a limit that is no whole number of bytes", () => {
    expect(() => renderRspamdFile("options.inc", { messageSizeLimit: 0.5 })).toThrow(
      "mailstack:messageSizeLimit",
    );
    expect(() => renderClamdConf({ messageSizeLimit: -1 })).toThrow("mailstack:messageSizeLimit");
  });
});

describe("how a push reaches the running Rspamd", () => {
  /** Runs the reload command with stand-ins for svc and redis-cli; what svc was asked. */
  const run = (changed: string[]) => {
    const script = `svc() { echo "svc $*"; }\nredis-cli() { return 0; }\n${rspamdReloadCommand()}`;
    const r = spawnSync("bash", ["-c", script], {
      encoding: "utf8",
      env: { ...process.env, MAILSTACK_CHANGED: changed.join("\n") },
    });
    expect(r.stderr).toBe("");
    return r.stdout.trim();
  };

  it("reloads for a change of scores, modules or DKIM signing: senders see no 4xx", () => {
    expect(run(["/etc/rspamd/local.d/actions.conf"])).toBe("svc reload rspamd");
    expect(run(["/etc/rspamd/local.d/options.inc", "/etc/rspamd/local.d/dkim_signing.conf"])).toBe(
      "svc reload rspamd",
    );
  });

  it("restarts when a worker's file (its listener) changed: a reload cannot move a listener", () => {
    expect(run(["/etc/rspamd/local.d/actions.conf", "/etc/rspamd/local.d/worker-proxy.inc"])).toBe(
      "svc restart rspamd",
    );
    expect(run(["/etc/rspamd/local.d/worker-controller.inc"])).toBe("svc restart rspamd");
  });
});
