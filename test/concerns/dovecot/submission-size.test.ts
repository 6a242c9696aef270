// The message size limit on 587 and 465 through Debian's own Dovecot 2.3
// (dovecot-core and dovecot-submissiond, installed by scripts/test.sh and
// never started as the system service). The stack's rendered 10-auth.conf,
// 10-ssl.conf and 20-submission.conf run from a temp dir, with a passwd-file
// in place of SQL, the listeners on free ports of 127.0.0.1, and as relay a
// server written here that answers as Postfix's loopback listener does (its
// SIZE, and 552 over it). Every size around the limit, with and without
// SIZE=, gets a reply, never a dropped connection, and Dovecot never panics:
// Dovecot 2.3.19, given a limit in the logged-in session, drops mail over
// the limit plus 1 MiB with no reply, and submission-login often dies with
// "Panic: epoll_ctl(del, ...) failed: Bad file descriptor" (issue 16).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderDovecotFragment } from "../../../src/concerns/dovecot/render-dovecot";
import { MESSAGE_SIZE_BOUNDS } from "../../../src/concerns/postfix";
import { SUBMISSION_SIZE_ALLOWANCE } from "../../../src/core/host-layout";
import { freePort } from "../../helpers/nsd";

/** The smallest limit the stack takes keeps every message small and the file fast. */
const LIMIT = MESSAGE_SIZE_BOUNDS.min;
/** What Dovecot announces: the relay's SIZE (the limit) less what it keeps for its trace header. */
const ANNOUNCED = LIMIT - SUBMISSION_SIZE_ALLOWANCE;
/** Dovecot 2.3.19 drops the data of a session with a limit beyond this many bytes. */
const ABSOLUTE = LIMIT + 2 ** 20;
const USER = { name: "alice@example.test", password: "submission-size-test" };
const REPLY_TIMEOUT_MS = 20_000;

let tmp = "";
let dovecot: ChildProcess | undefined;
let relay: net.Server | undefined;
const ports = { starttls: 0, tls: 0 };

/** Whether `pid` still runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
}

function stopAll(): void {
  process.removeListener("exit", stopAll);
  const pid = dovecot?.pid;
  if (pid !== undefined && dovecot?.exitCode === null && dovecot.kill("SIGTERM")) {
    const until = Date.now() + 5_000;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (Date.now() < until && alive(pid)) Atomics.wait(nap, 0, 0, 50);
    if (alive(pid)) process.kill(pid, "SIGKILL");
  }
  dovecot = undefined;
  relay?.close();
  relay = undefined;
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  tmp = "";
}

/**
 * The relay: Postfix's loopback listener as Dovecot sees it, announcing
 * SIZE `size` and refusing larger mail with 552, at MAIL (SIZE=) or after
 * the data. No CHUNKING and no XCLIENT, so Dovecot sends plain DATA.
 */
function startRelay(size: number): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let input = Buffer.alloc(0);
    let inData = false;
    let count = 0;
    let tail = Buffer.alloc(0);
    const say = (...lines: string[]) => sock.write(lines.map((l) => `${l}\r\n`).join(""));
    const command = (line: string) => {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO" || verb === "HELO") {
        say(
          "250-relay.test",
          `250-SIZE ${size}`,
          "250-8BITMIME",
          "250-ENHANCEDSTATUSCODES",
          "250 PIPELINING",
        );
      } else if (verb === "MAIL") {
        const declared = Number(/\bSIZE=(\d+)/i.exec(line)?.[1] ?? 0);
        say(declared > size ? "552 5.3.4 Message size exceeds fixed limit" : "250 2.1.0 Ok");
      } else if (verb === "RCPT") say("250 2.1.5 Ok");
      else if (verb === "DATA") {
        inData = true;
        count = 0;
        tail = Buffer.alloc(0);
        say("354 End data with <CR><LF>.<CR><LF>");
      } else if (verb === "QUIT") {
        say("221 2.0.0 Bye");
        sock.end();
      } else if (verb === "RSET" || verb === "NOOP") say("250 2.0.0 Ok");
      else say("502 5.5.2 Error: command not recognized");
    };
    const pump = () => {
      while (input.length > 0) {
        if (inData) {
          // The data ends at CRLF . CRLF, which may straddle two reads.
          const seen = Buffer.concat([tail, input]);
          const end = seen.indexOf("\r\n.\r\n");
          if (end < 0) {
            count += input.length;
            tail = seen.subarray(Math.max(0, seen.length - 4));
            input = Buffer.alloc(0);
            return;
          }
          count += end + 2 - tail.length;
          input = seen.subarray(end + 5);
          inData = false;
          say(count > size ? "552 5.3.4 Error: message file too big" : "250 2.0.0 Ok: queued");
        } else {
          const eol = input.indexOf("\r\n");
          if (eol < 0) return;
          const line = input.subarray(0, eol).toString("latin1");
          input = input.subarray(eol + 2);
          command(line);
        }
      }
    };
    sock.on("data", (b: Buffer) => {
      input = Buffer.concat([input, b]);
      pump();
    });
    sock.on("error", () => {});
    say("220 relay.test ESMTP");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/** An SMTP client connection: each reply whole, or undefined once the server has hung up. */
class Session {
  private text = "";
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(private sock: net.Socket) {
    this.listen(sock);
  }

  private listen(sock: net.Socket): void {
    sock.on("data", (b: Buffer) => {
      this.text += b.toString("latin1");
      this.wake?.();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on("error", () => {});
  }

  async reply(): Promise<{ code: number; lines: string[] } | undefined> {
    const until = Date.now() + REPLY_TIMEOUT_MS;
    for (;;) {
      const m = /^(?:\d{3}-.*\r\n)*(\d{3})(?: .*)?\r\n/.exec(this.text);
      if (m) {
        this.text = this.text.slice(m[0].length);
        return { code: Number(m[1]), lines: m[0].trimEnd().split("\r\n") };
      }
      if (this.closed || Date.now() > until) return undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
      this.wake = undefined;
    }
  }

  send(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** STARTTLS's handshake on the same connection. */
  async upgrade(): Promise<void> {
    this.sock.removeAllListeners("data");
    this.sock.removeAllListeners("close");
    const secure = tls.connect({ socket: this.sock, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
    });
    this.sock = secure;
    this.listen(secure);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A message of exactly `bytes` bytes: short headers, then CRLF lines of 76 characters. Pure. */
function message(bytes: number): Buffer {
  const head = `From: <${USER.name}>\r\nTo: <bob@example.test>\r\nSubject: size ${bytes}\r\n\r\n`;
  const line = `${"x".repeat(76)}\r\n`;
  const cut = line.repeat(Math.ceil((bytes - head.length) / line.length)).slice(0, bytes - head.length - 2);
  // No bare CR where the cut falls inside a line break.
  const body = cut.endsWith("\r") ? `${cut.slice(0, -1)}x` : cut;
  const text = `${head}${body}\r\n`;
  if (text.length !== bytes) throw new Error(`built ${text.length} bytes, not ${bytes}`);
  return Buffer.from(text, "latin1");
}

/** EHLO's SIZE value ("" when announced without one), or undefined when not announced. */
function sizeOf(ehlo: { lines: string[] } | undefined): string | undefined {
  const line = ehlo?.lines.find((l) => /^250[- ]SIZE\b/i.test(l));
  return line === undefined ? undefined : line.slice(8).trim();
}

interface Sent {
  /** SIZE in the EHLO reply before and after the login. */
  readonly before?: string;
  readonly after?: string;
  /** MAIL FROM's reply code. */
  readonly mail?: number;
  /** The reply to the data (or to MAIL when refused there), or "dropped" if the server hung up. */
  readonly result: number | "dropped";
}

/** One message of `bytes` bytes as alice on `port` (STARTTLS, or TLS from the first byte). */
async function submit(port: "starttls" | "tls", bytes: number, declare: boolean): Promise<Sent> {
  const host = "127.0.0.1";
  const sock =
    port === "tls"
      ? tls.connect({ host, port: ports.tls, rejectUnauthorized: false })
      : net.connect({ host, port: ports.starttls });
  const s = new Session(sock);
  try {
    if ((await s.reply())?.code !== 220) return { result: "dropped" };
    if (port === "starttls") {
      s.send("EHLO client.test\r\n");
      if ((await s.reply())?.code !== 250) return { result: "dropped" };
      s.send("STARTTLS\r\n");
      if ((await s.reply())?.code !== 220) return { result: "dropped" };
      await s.upgrade();
    }
    s.send("EHLO client.test\r\n");
    const before = sizeOf(await s.reply());
    s.send(`AUTH PLAIN ${Buffer.from(`\0${USER.name}\0${USER.password}`).toString("base64")}\r\n`);
    const auth = await s.reply();
    if (auth?.code !== 235) throw new Error(`AUTH: ${auth?.lines.join(" | ") ?? "dropped"}`);
    s.send("EHLO client.test\r\n");
    const after = sizeOf(await s.reply());
    s.send(`MAIL FROM:<${USER.name}>${declare ? ` SIZE=${bytes}` : ""}\r\n`);
    const mail = (await s.reply())?.code;
    if (mail !== 250) return { before, after, mail, result: mail ?? "dropped" };
    s.send("RCPT TO:<bob@example.test>\r\n");
    if ((await s.reply())?.code !== 250) return { before, after, mail, result: "dropped" };
    s.send("DATA\r\n");
    if ((await s.reply())?.code !== 354) return { before, after, mail, result: "dropped" };
    s.send(Buffer.concat([message(bytes), Buffer.from(".\r\n")]));
    const result = (await s.reply())?.code ?? "dropped";
    s.send("QUIT\r\n");
    await s.reply();
    return { before, after, mail, result };
  } finally {
    s.close();
  }
}

/** The stack's rendered fragments, SQL swapped for a passwd-file, under a dovecot.conf of the test's own. */
function writeConfig(relayPort: number): string {
  const args = {
    certPath: path.join(tmp, "cert.pem"),
    keyPath: path.join(tmp, "key.pem"),
    postmaster: "postmaster@example.test",
    messageSizeLimit: LIMIT,
  };
  const cert = spawnSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", args.keyPath, "-out", args.certPath, "-days", "1", "-subj", "/CN=localhost"],
    ],
    { encoding: "utf8" },
  );
  if (cert.status !== 0) throw new Error(`openssl could not make a certificate: ${cert.stderr}`);

  const passwd = path.join(tmp, "passwd");
  fs.writeFileSync(passwd, `${USER.name}:{PLAIN}${USER.password}:65534:65534::${tmp}/home::\n`);
  const sql = /driver = sql\n(\s*)args = \/etc\/dovecot\/dovecot-sql\.conf\.ext/g;
  const auth = renderDovecotFragment("10-auth.conf", args);
  if ((auth.match(sql) ?? []).length !== 2) {
    throw new Error("10-auth.conf no longer has one SQL passdb and userdb; update this test's swap");
  }
  fs.mkdirSync(path.join(tmp, "conf.d"));
  fs.writeFileSync(
    path.join(tmp, "conf.d", "10-auth.conf"),
    auth.replace(sql, `driver = passwd-file\n$1args = ${passwd}`),
  );
  for (const f of ["10-ssl.conf", "20-submission.conf"] as const) {
    fs.writeFileSync(path.join(tmp, "conf.d", f), renderDovecotFragment(f, args));
  }
  const conf = path.join(tmp, "dovecot.conf");
  fs.writeFileSync(
    conf,
    [
      `base_dir = ${tmp}/run`,
      `state_dir = ${tmp}/state`,
      `log_path = ${tmp}/dovecot.log`,
      "protocols = submission",
      "listen = 127.0.0.1",
      "hostname = mail.example.test",
      `mail_location = maildir:${tmp}/home/Maildir`,
      "!include conf.d/10-auth.conf",
      "!include conf.d/10-ssl.conf",
      "!include conf.d/20-submission.conf",
      // The test's own ports, over the stack's 587, 465 and 10587.
      `submission_relay_port = ${relayPort}`,
      "service submission-login {",
      `  inet_listener submission {\n    port = ${ports.starttls}\n  }`,
      `  inet_listener submissions {\n    port = ${ports.tls}\n  }`,
      "}",
      "",
    ].join("\n"),
  );
  return conf;
}

beforeAll(async () => {
  for (const [file, pkg] of [
    ["/usr/sbin/dovecot", "dovecot-core"],
    ["/usr/lib/dovecot/submission-login", "dovecot-submissiond"],
  ] as const) {
    if (!fs.existsSync(file)) {
      throw new Error(`${file} is missing: install ${pkg} (scripts/test.sh does, without starting it)`);
    }
  }
  if (process.getuid?.() !== 0) throw new Error("the test's Dovecot needs root (it drops to dovenull)");
  process.once("exit", stopAll);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-submission-"));
  // The login processes run as dovenull and must reach their sockets in here.
  fs.chmodSync(tmp, 0o755);
  relay = await startRelay(LIMIT);
  ports.starttls = await freePort();
  ports.tls = await freePort();
  const conf = writeConfig((relay.address() as net.AddressInfo).port);
  const check = spawnSync("doveconf", ["-c", conf, "-n"], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`doveconf refused the test's config: ${check.stderr}`);
  const child = spawn("/usr/sbin/dovecot", ["-F", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  dovecot = child;
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const c = net.connect({ host: "127.0.0.1", port }, () => {
        c.destroy();
        resolve(true);
      });
      c.on("error", () => resolve(false));
    });
  for (let waited = 0; waited < 10_000; waited += 100) {
    if ((await listening(ports.starttls)) && (await listening(ports.tls))) return;
    if (child.exitCode !== null) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`Dovecot did not start: ${stderr}${log()}`);
}, 30_000);

afterAll(stopAll);

function log(): string {
  const file = path.join(tmp, "dovecot.log");
  return tmp && fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
}

describe("the size limit on 587 and 465 through Debian's Dovecot, with the stack's settings", () => {
  for (const port of ["starttls", "tls"] as const) {
    const name = port === "starttls" ? "587 (STARTTLS)" : "465 (TLS)";

    it(`${name}: the limit less 1024 is announced as SIZE before and after the login`, async () => {
      const sent = await submit(port, 1000, false);
      expect(sent).toEqual({ before: String(ANNOUNCED), after: String(ANNOUNCED), mail: 250, result: 250 });
    });

    it(`${name}: a declared SIZE= over what is announced gets 552 at MAIL; that size itself passes`, async () => {
      expect((await submit(port, ANNOUNCED + 1, true)).result).toBe(552);
      expect((await submit(port, LIMIT + 1, true)).result).toBe(552);
      expect((await submit(port, 3 * ABSOLUTE, true)).result).toBe(552);
      expect((await submit(port, ANNOUNCED, true)).result).toBe(250);
    });

    it(`${name}: undeclared, every size gets a reply: 250 up to what is announced, 552 from one byte over the limit`, async () => {
      const results: Record<number, number | "dropped"> = {};
      const sizes = [ANNOUNCED - 1, ANNOUNCED, LIMIT + 1, LIMIT + 2, ABSOLUTE, ABSOLUTE + 1, 3 * ABSOLUTE];
      for (const bytes of sizes) results[bytes] = (await submit(port, bytes, false)).result;
      // Between the two the relay decides, counting Dovecot's trace header.
      expect(results).toEqual({
        [ANNOUNCED - 1]: 250,
        [ANNOUNCED]: 250,
        [LIMIT + 1]: 552,
        [LIMIT + 2]: 552,
        [ABSOLUTE]: 552,
        [ABSOLUTE + 1]: 552,
        [3 * ABSOLUTE]: 552,
      });
    });
  }

  it("Dovecot's log shows no panic, no fatal error and no process killed", async () => {
    await new Promise((res) => setTimeout(res, 300));
    const bad = log()
      .split("\n")
      .filter((l) => /\b(Panic|Fatal):|killed with signal/.test(l));
    expect(bad).toEqual([]);
  });
});
