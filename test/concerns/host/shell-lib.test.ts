// The host's shell library (files/lib/mailstack.sh), run with bash on this
// machine against a fake init (test/helpers/fake-init.ts): which command each service
// action runs with systemd and without it, that waiting gives up in bounded
// time with a clear message, and that no other script under files/ decides
// how services are controlled.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SHELL_LIBRARY } from "../../../src/concerns/host/component";
import { ROOT } from "../../../src/core/template";
import { type FakeInitOptions, fakeInit, SHELL_LIB } from "../../helpers/fake-init";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "shell-lib-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `body` in a strict script (set -euo pipefail) named "host-script" that loaded the library. */
function run(body: string, env: NodeJS.ProcessEnv = { ...process.env }, timeout = 20_000) {
  const started = Date.now();
  const r = spawnSync("bash", ["-c", `set -euo pipefail\n. "$MAILSTACK_LIB"\n${body}`, "host-script"], {
    encoding: "utf8",
    env: { MAILSTACK_LIB: SHELL_LIB, ...env },
    timeout,
  });
  return { code: r.status, out: r.stdout, err: r.stderr, seconds: (Date.now() - started) / 1000 };
}

/** Runs `svc ACTION UNIT` against a fake init; returns its status and the init commands it ran. */
let hosts = 0;
function svc(action: string, unit: string, opts: FakeInitOptions) {
  const init = fakeInit(path.join(dir, `host-${++hosts}`), opts);
  const r = run(`svc ${action} ${unit}`, init.env);
  return { code: r.code, err: r.err, calls: init.calls(), running: init.running(unit) };
}

describe("svc with systemd", () => {
  const systemd = { systemd: true, units: ["postfix"] } as const;

  it("reloads, or starts what does not run: systemctl reload-or-restart", () => {
    const r = svc("reload", "postfix", systemd);
    expect(r).toMatchObject({ code: 0, calls: ["systemctl reload-or-restart postfix"], running: true });
  });

  it("restarts, starts and stops with systemctl", () => {
    for (const action of ["restart", "start", "stop"]) {
      expect(svc(action, "postfix", systemd).calls, action).toEqual([`systemctl ${action} postfix`]);
    }
  });

  it("enables and disables now and at boot", () => {
    expect(svc("enable", "postfix", systemd)).toMatchObject({
      calls: ["systemctl --quiet enable --now postfix"],
      running: true,
    });
    expect(svc("disable", "postfix", { ...systemd, running: ["postfix"] })).toMatchObject({
      calls: ["systemctl --quiet disable --now postfix"],
      running: false,
    });
  });

  it("asks systemd whether a unit runs and whether it exists", () => {
    expect(svc("running", "postfix", { ...systemd, running: ["postfix"] })).toMatchObject({
      code: 0,
      calls: ["systemctl is-active --quiet postfix"],
    });
    expect(svc("running", "postfix", systemd).code).not.toBe(0);
    expect(svc("exists", "postfix", systemd)).toMatchObject({
      code: 0,
      calls: ["systemctl show --property=LoadState --value postfix"],
    });
    expect(svc("exists", "nginx", systemd).code).toBe(1);
  });

  it("has a running unit reopen its files with SIGHUP, and leaves a stopped one alone", () => {
    expect(svc("reopen", "rsyslog", { ...systemd, units: ["rsyslog"], running: ["rsyslog"] })).toMatchObject({
      code: 0,
      calls: ["systemctl is-active --quiet rsyslog", "systemctl kill --signal=HUP rsyslog"],
    });
    expect(svc("reopen", "rsyslog", systemd)).toMatchObject({
      code: 0,
      calls: ["systemctl is-active --quiet rsyslog"],
      running: false,
    });
  });

  it("fails with systemctl's own message when the unit is missing", () => {
    const r = svc("reload", "nginx", systemd);
    expect(r.code).toBe(5);
    expect(r.err).toContain("Unit nginx.service not found.");
  });
});

describe("svc without systemd", () => {
  const sysv = { systemd: false, units: ["postfix"] } as const;
  const up = { ...sysv, running: ["postfix"] };

  it("reloads what runs, and starts what does not, through its init script", () => {
    expect(svc("reload", "postfix", up).calls).toEqual(["service postfix status", "service postfix reload"]);
    expect(svc("reload", "postfix", sysv)).toMatchObject({
      code: 0,
      calls: ["service postfix status", "service postfix start"],
      running: true,
    });
  });

  it("restarts what runs, and starts what does not", () => {
    expect(svc("restart", "postfix", up).calls).toEqual([
      "service postfix status",
      "service postfix restart",
    ]);
    expect(svc("restart", "postfix", sysv).calls).toEqual([
      "service postfix status",
      "service postfix start",
    ]);
  });

  it("starts only what does not run, and stops", () => {
    expect(svc("start", "postfix", up).calls).toEqual(["service postfix status"]);
    expect(svc("start", "postfix", sysv).calls).toEqual(["service postfix status", "service postfix start"]);
    expect(svc("stop", "postfix", up)).toMatchObject({ calls: ["service postfix stop"], running: false });
  });

  it("enables with boot links and a start, disables with a stop and no boot links", () => {
    expect(svc("enable", "postfix", sysv)).toMatchObject({
      code: 0,
      calls: [
        "update-rc.d postfix defaults",
        "update-rc.d postfix enable",
        "service postfix status",
        "service postfix start",
      ],
      running: true,
    });
    expect(svc("disable", "postfix", up)).toMatchObject({
      code: 0,
      calls: ["service postfix stop", "update-rc.d postfix disable"],
      running: false,
    });
  });

  it("asks the init script whether a unit runs; a unit exists when it has one", () => {
    expect(svc("running", "postfix", up)).toMatchObject({ code: 0, calls: ["service postfix status"] });
    expect(svc("running", "postfix", sysv).code).not.toBe(0);
    expect(svc("exists", "postfix", sysv)).toMatchObject({ code: 0, calls: [] });
    expect(svc("exists", "nginx", sysv).code).toBe(1);
    expect(svc("exists", "certbot.timer", sysv).code).toBe(1);
  });

  it("starts a unit without an init script as its daemon (Debian's rsyslog)", () => {
    const daemonOnly = { systemd: false, daemons: ["mstestlogd"] };
    expect(svc("exists", "mstestlog", daemonOnly).code).toBe(0);
    expect(svc("running", "mstestlog", daemonOnly)).toMatchObject({ code: 1, calls: [] });
    expect(svc("enable", "mstestlog", daemonOnly)).toMatchObject({ code: 0, calls: ["mstestlogd "] });
    // A name no process on this machine has: \`running\` asks pgrep, which
    // also sees the sandbox host's daemons from here.
    const none = svc("start", "mstestnone", sysv);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(
      /^host-script: svc start mstestnone: there is no init script .*\/mstestnone and no daemon mstestnoned$/m,
    );
  });
});

describe("svc reopen without systemd", () => {
  it("sends the daemon SIGHUP by its name, as logrotate's postrotate needs", () => {
    // A daemon of its own: its process name is the script's, it notes each HUP
    // once its trap is set (before that a HUP would end it).
    const daemon = path.join(dir, "mstestlogd");
    const seen = path.join(dir, "hups");
    const ready = path.join(dir, "ready");
    fs.writeFileSync(
      daemon,
      `#!/bin/bash\ntrap 'echo hup >>${seen}' HUP\ntouch ${ready}\nwhile :; do sleep 0.1; done\n`,
      { mode: 0o755 },
    );
    const init = fakeInit(path.join(dir, "init"), { systemd: false });
    const r = run(
      `${daemon} & pid=$!; until [ -e ${ready} ]; do sleep 0.05; done
svc reopen mstestlog
for i in $(seq 100); do [ -s ${seen} ] && break; sleep 0.05; done
svc reopen mstestlog
for i in $(seq 100); do [ "$(wc -l <${seen})" -ge 2 ] && break; sleep 0.05; done
kill $pid`,
      init.env,
    );
    expect(r.code, r.err).toBe(0);
    expect(fs.readFileSync(seen, "utf8")).toBe("hup\nhup\n");
    // Nothing of that name runs: nothing to reopen, and no failure.
    expect(run("svc reopen mstestnone", init.env).code).toBe(0);
  });
});

describe("svc restart of a daemon without an init script", () => {
  it("ends the daemon and starts it again, so it rereads what it reads once (Debian's rsyslog, the time zone)", () => {
    // A daemon of its own: it notes each start, goes to the background as
    // rsyslogd does, and ends on TERM.
    const daemon = path.join(dir, "mstestzoned");
    const starts = path.join(dir, "starts");
    fs.writeFileSync(
      daemon,
      [
        "#!/bin/bash",
        `if [ "\${1:-}" != run ]; then echo start >>${starts}; "$0" run </dev/null >/dev/null 2>&1 & exit 0; fi`,
        "trap 'exit 0' TERM",
        "while :; do sleep 0.1; done",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    const init = fakeInit(path.join(dir, "init"), { systemd: false });
    const env = { ...init.env, PATH: `${dir}:${init.env.PATH}` };
    const r = run(
      `svc start mstestzone
wait_until 5 "the daemon" pgrep -x mstestzoned
first=$(pgrep -x mstestzoned)
svc restart mstestzone
wait_until 5 "the daemon again" pgrep -x mstestzoned
second=$(pgrep -x mstestzoned)
[ "$first" != "$second" ] || { echo "same process $first" >&2; exit 1; }
[ "$(pgrep -cx mstestzoned)" = 1 ] || { echo "more than one" >&2; exit 1; }
svc running mstestzone
pkill -x mstestzoned`,
      env,
    );
    expect(r.code, r.err).toBe(0);
    expect(fs.readFileSync(starts, "utf8").trim().split("\n")).toHaveLength(2);
  });
});

describe("svc's neighbours", () => {
  it("refuses an unknown action or a missing unit, even under set -u", () => {
    const init = fakeInit(dir, { systemd: true });
    expect(run("svc frobnicate postfix", init.env)).toMatchObject({ code: 1, out: "" });
    expect(run("svc frobnicate postfix", init.env).err).toContain(
      'host-script: svc: unknown action "frobnicate"',
    );
    expect(run("svc", init.env).err).toContain("unknown action");
    expect(run("svc start", init.env).err).toContain("host-script: svc start: which unit?");
    expect(init.calls()).toEqual([]);
  });

  it("tells a person the command to type on this host", () => {
    const systemd = fakeInit(path.join(dir, "a"), { systemd: true });
    const sysv = fakeInit(path.join(dir, "b"), { systemd: false, units: ["dovecot"] });
    const hint = (env: NodeJS.ProcessEnv, unit: string) => run(`svc_hint start ${unit}`, env).out;
    expect(hint(systemd.env, "dovecot")).toBe("systemctl start dovecot\n");
    expect(hint(sysv.env, "dovecot")).toBe("service dovecot start\n");
    expect(hint(sysv.env, "rsyslog")).toBe("rsyslogd\n");
  });

  it("reports the init and sets the host name the way it wants", () => {
    const systemd = fakeInit(path.join(dir, "a"), { systemd: true });
    const sysv = fakeInit(path.join(dir, "b"), { systemd: false });
    expect(run("init_system", systemd.env).out).toBe("systemd\n");
    expect(run("init_system", sysv.env).out).toBe("sysv\n");
    run("set_hostname mail.example.test", systemd.env);
    run("set_hostname mail.example.test", sysv.env);
    expect(systemd.calls()).toEqual(["hostnamectl set-hostname mail.example.test"]);
    expect(sysv.calls()).toEqual(["hostname mail.example.test"]);
  });

  it("finds systemd where it runs, /run/systemd/system, unless told otherwise", () => {
    const { MAILSTACK_SYSTEMD_DIR: _, ...env } = process.env;
    const here = fs.existsSync("/run/systemd/system") ? "systemd" : "sysv";
    expect(run("init_system", env).out).toBe(`${here}\n`);
  });
});

describe("logging", () => {
  it("tags each line with the script's name, or MAILSTACK_TAG", () => {
    expect(run('log "made it"; warn "careful"')).toMatchObject({
      code: 0,
      out: "host-script: made it\n",
      err: "host-script: careful\n",
    });
    expect(run('MAILSTACK_TAG=migrations; log "up to date"').out).toBe("migrations: up to date\n");
  });

  it("dies with status 1, or the one given", () => {
    expect(run('die "no such mailbox"; echo after')).toMatchObject({
      code: 1,
      out: "",
      err: "host-script: no such mailbox\n",
    });
    expect(run('die "usage: x" 2').code).toBe(2);
  });

  it("sets no shell option and leaves the caller's alone", () => {
    const r = spawnSync("bash", ["-c", `. "${SHELL_LIB}"; echo "$-"; false; echo "still here \${UNSET:-}"`], {
      encoding: "utf8",
    });
    expect(r.stdout).toBe(
      `${spawnSync("bash", ["-c", 'echo "$-"'], { encoding: "utf8" }).stdout}still here \n`,
    );
  });
});

describe("waiting", () => {
  // Binding a Unix socket leaves its file behind, a socket, after python exits.
  const sockets = (...paths: string[]) =>
    `python3 -c 'import socket, sys; [socket.socket(socket.AF_UNIX).bind(p) for p in sys.argv[1:]]' ${paths.join(" ")}`;

  it("wait_until returns as soon as the command succeeds", () => {
    const flag = path.join(dir, "flag");
    const r = run(`(sleep 0.5; touch ${flag}) & wait_until 10 "the flag" test -e ${flag}; echo ok`);
    expect(r).toMatchObject({ code: 0, out: "ok\n", err: "" });
    expect(r.seconds).toBeLessThan(3);
  });

  it("wait_until gives up after its timeout, saying what it waited for", () => {
    const r = run('wait_until 1 "the moon to turn blue" false || echo "status $?"');
    expect(r.out).toBe("status 1\n");
    expect(r.err).toBe("host-script: gave up after 1 s waiting for the moon to turn blue\n");
    expect(r.seconds).toBeGreaterThanOrEqual(1);
    expect(r.seconds).toBeLessThan(3);
    // Under set -e a timeout ends the script.
    expect(run('wait_until 0 "x" false; echo after')).toMatchObject({ code: 1, out: "" });
  });

  it("wait_until refuses a timeout that is not a whole number of seconds", () => {
    expect(run('wait_until 1.5 "x" true').err).toContain('"1.5" is not a whole number of seconds');
    expect(run("wait_until 5 true").err).toContain("usage: wait_until SECONDS WHAT COMMAND");
  });

  it("wait_socket waits for every socket, and names the ones that never came", () => {
    const [a, b] = [path.join(dir, "a.sock"), path.join(dir, "b.sock")];
    const ok = run(`(sleep 0.5; ${sockets(a, b)}) & wait_socket 10 ${a} ${b}; echo ok`);
    expect(ok).toMatchObject({ code: 0, out: "ok\n" });
    expect(ok.seconds).toBeLessThan(6);
    const c = path.join(dir, "c.sock");
    fs.writeFileSync(c, "a file, not a socket");
    const r = run(`wait_socket 1 ${a} ${c}`);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`host-script: gave up after 1 s waiting for the socket ${c}\n`);
    expect(r.seconds).toBeLessThan(3);
  });

  it("wait_port waits for a TCP listener", () => {
    const portFile = path.join(dir, "port");
    const listener = `python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1] + ".new", "w").write(str(s.getsockname()[1])); __import__("os").rename(sys.argv[1] + ".new", sys.argv[1])
time.sleep(60)' ${portFile}`;
    const r = run(
      `${listener} & pid=$!
until [ -s ${portFile} ]; do sleep 0.1; done
port=$(cat ${portFile})
wait_port 30 "$port" && listening "$port" && echo up
kill $pid; wait $pid 2>/dev/null || true
wait_port 1 "$port" || echo "gone"`,
    );
    expect(r.out).toBe("up\ngone\n");
    expect(r.err).toMatch(/^host-script: gave up after 1 s waiting for a listener on TCP port \d+\n$/);
    // Far under the 30 s it may wait: it returned when the listener was there.
    expect(r.seconds).toBeLessThan(20);
  });
});

describe("the only place that knows how services are controlled", () => {
  const LIB = "files/lib/mailstack.sh";
  /** Every file under `top` (relative to the repository), or none if there is no such folder. */
  const walk = (top: string): string[] =>
    fs.existsSync(path.join(ROOT, top))
      ? fs
          .readdirSync(path.join(ROOT, top), { recursive: true, encoding: "utf8" })
          .map((f) => path.join(top, f))
          .filter((f) => fs.statSync(path.join(ROOT, f)).isFile())
      : [];
  // Init tools and their tell-tales; `service NAME ACTION` is the sysv way.
  const CONTROL = [
    /\bsystemctl\b/,
    /\/run\/systemd/,
    /\bhostnamectl\b/,
    /\b(update|invoke)-rc\.d\b/,
    /\/etc\/init\.d\b/,
    /\bservice\s+("?\$\{?\w+\}?"?|[\w@.-]+)\s+(start|stop|restart|reload|force-reload|try-restart|status)\b/,
  ];

  /** Lines under files/ and in the TypeScript that writes host commands that control services. */
  function offenders(): string[] {
    const found: string[] = [];
    for (const f of [...walk("files"), ...walk("components"), ...walk("src")]) {
      if (f === LIB || !(f.startsWith("files/") || f.endsWith(".ts"))) continue;
      fs.readFileSync(path.join(ROOT, f), "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (CONTROL.some((re) => re.test(line))) found.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    return found;
  }

  it("finds service control, systemd tests and init tools in the library alone", () => {
    expect(walk("files").length).toBeGreaterThan(50);
    expect(offenders()).toEqual([]);
    const lib = fs.readFileSync(path.join(ROOT, LIB), "utf8");
    for (const re of CONTROL.slice(0, 5)) expect(lib).toMatch(re);
    expect(lib).toContain('service "$unit" stop');
  });

  it("every script under files/ loads the library from where the host gets it, and has no svc or logging of its own", () => {
    const load = `# shellcheck source=${LIB}\n. "\${MAILSTACK_LIB:-${SHELL_LIBRARY}}"\n`;
    // The runner puts the library on the host, and loads it for its reload and
    // verify steps only; common.sh is sourced by scripts that load it first.
    const exempt = new Set([LIB, "files/push/runner.sh", "files/backup/common.sh"]);
    const scripts = walk("files").filter((f) => f.endsWith(".sh") && !exempt.has(f));
    expect(scripts.length).toBeGreaterThan(15);
    for (const f of scripts) {
      const text = fs.readFileSync(path.join(ROOT, f), "utf8");
      expect(text, f).toContain(load);
      expect(text, f).not.toMatch(/^\s*(svc|log|warn|die|say|wait_\w+|running|reload)\s*\(\)/m);
    }
    const runner = fs.readFileSync(path.join(ROOT, "files/push/runner.sh"), "utf8");
    expect(runner).toContain(`lib=\${MAILSTACK_LIB:-${SHELL_LIBRARY}}`);
  });
});
