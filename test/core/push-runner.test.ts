// Runs the real push runner (files/push/runner.sh) as root on this machine,
// against files in a scratch folder, with harmless commands standing in for
// service reloads. Covers stage, check, swap, reload, verify and rollback.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ConfigPushArgs, renderPayload } from "../../src/core/push";
import { ROOT } from "../../src/core/template";
import { fakeInit, SHELL_LIB } from "../helpers/fake-init";

const RUNNER = fs.readFileSync(path.join(ROOT, "files/push/runner.sh"), "utf8");
let dir: string;

beforeEach(() => {
  if (process.getuid?.() !== 0)
    throw new Error("the push runner test must run as root (it chowns and bind-mounts)");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "push-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

type Opts = Omit<ConfigPushArgs, "connection" | "files">;

/** Runs the runner; its reload and verify steps load the library from the checkout. */
function push(
  files: Record<string, string>,
  opts: Opts = {},
  mode = "0640",
  env: NodeJS.ProcessEnv = { ...process.env, MAILSTACK_LIB: SHELL_LIB },
) {
  const payload = renderPayload(
    "test",
    opts,
    Object.entries(files).map(([p, content]) => ({ path: path.join(dir, p), content, mode })),
  );
  const r = spawnSync("bash", ["-c", RUNNER, "mailstack-push"], { input: payload, encoding: "utf8", env });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const read = (p: string) => fs.readFileSync(path.join(dir, p), "utf8");
const exists = (p: string) => fs.existsSync(path.join(dir, p));

describe("push runner", () => {
  it("creates files with owner and mode, then reports unchanged on a re-run", () => {
    const first = push({ "etc/a.conf": "one\ntwo\n" });
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toContain("test: updated");
    expect(read("etc/a.conf")).toBe("one\ntwo\n");
    const st = fs.statSync(path.join(dir, "etc/a.conf"));
    expect((st.mode & 0o777).toString(8)).toBe("640");
    expect(st.uid).toBe(0);
    expect(push({ "etc/a.conf": "one\ntwo\n" }).out).toContain("test: unchanged");
  });

  it("runs the checker against the staged file at the live path, without touching the live file", () => {
    push({ "a.conf": "old\n" });
    const live = path.join(dir, "a.conf");
    const seen = path.join(dir, "seen");
    const r = push({ "a.conf": "new\n" }, { check: [`cp ${live} ${seen}; grep -q old ${live}`] });
    expect(r.code).toBe(1);
    expect(read("seen")).toBe("new\n"); // the checker saw the staged file...
    expect(read("a.conf")).toBe("old\n"); // ...and the live one never changed
    expect(r.err).toContain("check failed, nothing changed");
  });

  it("fails with the checker's own message and changes no file of the set", () => {
    push({ "a.conf": "a1\n", "b.conf": "b1\n" });
    const r = push(
      { "a.conf": "a2\n", "b.conf": "b2\n" },
      { check: ["echo 'line 3: bad directive Frobnicate' >&2; exit 1"] },
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain("line 3: bad directive Frobnicate");
    expect([read("a.conf"), read("b.conf")]).toEqual(["a1\n", "b1\n"]);
  });

  it("removes the placeholder of a new file when its check fails", () => {
    const r = push({ "new.conf": "x\n" }, { check: ["false"] });
    expect(r.code).toBe(1);
    expect(exists("new.conf")).toBe(false);
  });

  it("rolls back and reloads again when the reload fails", () => {
    push({ "a.conf": "good\n" });
    const log = path.join(dir, "reloads");
    const reload = `echo reload >> ${log}; grep -q good ${path.join(dir, "a.conf")} || { echo 'daemon refused config' >&2; exit 1; }`;
    const r = push({ "a.conf": "bad\n" }, { reload: { command: reload } });
    expect(r.code).toBe(1);
    expect(r.err).toContain("reload failed, previous files restored");
    expect(r.err).toContain("daemon refused config");
    expect(read("a.conf")).toBe("good\n");
    expect(read("reloads")).toBe("reload\nreload\n"); // once with the new file, once with the restored one
  });

  it("tells the reload command which files changed (MAILSTACK_CHANGED), one path a line", () => {
    push({ "a.conf": "a1\n", "b.conf": "b1\n", "c.conf": "c1\n" });
    const seen = path.join(dir, "seen");
    const r = push(
      { "a.conf": "a2\n", "b.conf": "b1\n", "c.conf": "c2\n" },
      { reload: { command: `printf '%s' "$MAILSTACK_CHANGED" > ${seen}` } },
    );
    expect(r.code, r.err).toBe(0);
    expect(read("seen")).toBe(`${path.join(dir, "a.conf")}\n${path.join(dir, "c.conf")}`);
  });

  it("rolls back when a post-reload verification fails, and deletes files it created", () => {
    push({ "a.conf": "v1\n" });
    const r = push(
      { "a.conf": "v2\n", "extra.conf": "e\n" },
      { verify: ["echo 'port 22 closed' >&2; false"] },
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain("port 22 closed");
    expect(read("a.conf")).toBe("v1\n");
    expect(exists("extra.conf")).toBe(false);
  });

  it("keeps lines that look like payload syntax inside file content", () => {
    const tricky = "end\nfile /etc/passwd root root 0644 1\n#comment\n\n  indented\n";
    expect(push({ "t.conf": tricky }).code).toBe(0);
    expect(read("t.conf")).toBe(tricky);
  });

  it("reloads a service through the host's shell library, with systemd or without", () => {
    const systemd = fakeInit(path.join(dir, "systemd"), { systemd: true, units: ["ssh"] });
    const reload = { service: "ssh", action: "reload" } as const;
    expect(push({ "a.conf": "1\n" }, { reload }, "0640", systemd.env).code).toBe(0);
    expect(systemd.calls()).toEqual(["systemctl reload-or-restart ssh"]);
    const sysv = fakeInit(path.join(dir, "sysv"), { systemd: false, units: ["ssh"], running: ["ssh"] });
    const r = push({ "a.conf": "2\n" }, { reload }, "0640", sysv.env);
    expect(r.out).toContain("test: updated");
    expect(sysv.calls()).toEqual(["service ssh status", "service ssh reload"]);
  });

  it("lets verify commands wait with the library, and rolls back when the wait gives up", () => {
    push({ "a.conf": "v1\n" });
    const socket = path.join(dir, "daemon.sock");
    const r = push({ "a.conf": "v2\n" }, { verify: [`wait_socket 1 ${socket}`] });
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `verification failed after reload, previous files restored: wait_socket 1 ${socket}`,
    );
    expect(r.err).toContain(`mailstack-push: gave up after 1 s waiting for the socket ${socket}`);
    expect(read("a.conf")).toBe("v1\n");
  });

  it("fails a reload, and rolls back, where the library is missing", () => {
    push({ "a.conf": "v1\n" });
    const missing = path.join(dir, "no-such-lib.sh");
    const r = push({ "a.conf": "v2\n" }, { reload: { command: "true" } }, "0640", {
      ...process.env,
      MAILSTACK_LIB: missing,
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain("reload failed, previous files restored: true");
    expect(r.err).toContain(`${missing}: No such file or directory`);
    expect(read("a.conf")).toBe("v1\n");
  });

  it("refuses an owner the host does not have", () => {
    const payload = renderPayload("test", {}, [
      { path: path.join(dir, "x"), content: "x\n", owner: "nosuchuser" },
    ]);
    const r = spawnSync("bash", ["-c", RUNNER, "mailstack-push"], { input: payload, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("owner nosuchuser");
  });
});
