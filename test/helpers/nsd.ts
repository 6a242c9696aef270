// A throwaway authoritative DNS server for tests: Debian's NSD, started by
// the test itself with its own nsd.conf in a fresh temp dir, listening only on
// a free port of 127.0.0.1 (or of the sandbox bridge's address), never as the
// system service and writing nothing outside that dir. Each zone is checked
// with nsd-checkzone first, so a bad zone fails with NSD's own message. Call
// stop() in afterAll; an exit hook stops the server too if a run is cut short.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const STARTUP_TIMEOUT_MS = 10_000;

/** The SOA's and NS's name server: under .invalid (RFC 6761), never a name under test. */
const NS = "ns.mailstack-test.invalid.";

export interface TestNsd {
  /** The UDP and TCP port on the address it was started on. */
  readonly port: number;
  /** The temp dir holding nsd.conf, the zone files and the log. */
  readonly dir: string;
  /** Stops the server and removes the temp dir. Safe to call twice. */
  stop(): void;
}

/** A free port on loopback (TCP; NSD takes UDP on the same number). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A whole zone file from a fragment of records with absolute names (as
 * zoneFragment writes them): what the DNS host adds, a SOA and an NS. Pure.
 */
export function zoneFile(zone: string, fragment: string, ttl = 3600): string {
  return [
    `$ORIGIN ${zone}.`,
    `$TTL ${ttl}`,
    `@ IN SOA ${NS} hostmaster.${zone}. 1 3600 900 604800 300`,
    `@ IN NS ${NS}`,
    fragment,
  ].join("\n");
}

/** Whether process `pid` still runs (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return !/^\d+ \(.*\) Z /.test(stat);
}

function nsdBinary(name: string): string {
  const p = `/usr/sbin/${name}`;
  if (!fs.existsSync(p)) throw new Error(`${p} not found; install NSD: apt-get install nsd`);
  return p;
}

/**
 * Serves each zone (name -> fragment) from a new NSD on `address` (default
 * loopback) and `port` (default a free one); resolves once NSD has loaded them all.
 */
export async function startNsd(
  zones: Readonly<Record<string, string>>,
  address = "127.0.0.1",
  port?: number,
): Promise<TestNsd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-nsd-"));
  const log = path.join(dir, "nsd.log");
  let proc: ChildProcess | undefined;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", stop);
    // NSD's main process takes its server children down with it on TERM, and
    // writes its state into the dir as it goes: wait for it (at most 5 s),
    // and let rmSync retry while the last files land.
    if (proc?.pid !== undefined && proc.exitCode === null && proc.kill("SIGTERM")) {
      const pid = proc.pid;
      const until = Date.now() + 5_000;
      const nap = new Int32Array(new SharedArrayBuffer(4));
      while (Date.now() < until && alive(pid)) Atomics.wait(nap, 0, 0, 50);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  };
  process.once("exit", stop);

  try {
    const zoneConf: string[] = [];
    for (const [zone, fragment] of Object.entries(zones)) {
      const file = path.join(dir, `${zone}.zone`);
      fs.writeFileSync(file, zoneFile(zone, fragment));
      const check = spawnSync(nsdBinary("nsd-checkzone"), [zone, file], { encoding: "utf8" });
      if (check.status !== 0) {
        // The temp file is gone by the time anyone reads this: quote the lines NSD names.
        const text = zoneFile(zone, fragment).split("\n");
        const lines = [...`${check.stdout}${check.stderr}`.matchAll(/\.zone:(\d+):/g)].map(
          (m) => `line ${m[1]}: ${text[Number(m[1]) - 1] ?? ""}`,
        );
        throw new Error(
          `nsd-checkzone ${zone} refused the zone:\n${check.stdout}${check.stderr}${lines.join("\n")}`,
        );
      }
      zoneConf.push("zone:", `  name: "${zone}"`, `  zonefile: "${file}"`);
    }
    const listenPort = port ?? (await freePort());
    const conf = path.join(dir, "nsd.conf");
    // Everything NSD would keep under /var/lib/nsd or /run goes to the temp
    // dir; no zone database, no remote control, no privilege drop (the suite
    // runs as root, and the temp dir is root's).
    fs.writeFileSync(
      conf,
      [
        "server:",
        `  ip-address: ${address}@${listenPort}`,
        "  do-ip6: no",
        '  username: ""',
        '  chroot: ""',
        `  zonesdir: "${dir}"`,
        '  database: ""',
        `  zonelistfile: "${dir}/zone.list"`,
        `  xfrdfile: "${dir}/xfrd.state"`,
        `  xfrdir: "${dir}"`,
        `  pidfile: "${dir}/nsd.pid"`,
        `  logfile: "${log}"`,
        "  server-count: 1",
        "remote-control:",
        "  control-enable: no",
        ...zoneConf,
        "",
      ].join("\n"),
    );
    const checkConf = spawnSync(nsdBinary("nsd-checkconf"), [conf], { encoding: "utf8" });
    if (checkConf.status !== 0) throw new Error(`nsd-checkconf: ${checkConf.stdout}${checkConf.stderr}`);

    const child = spawn(nsdBinary("nsd"), ["-d", "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    proc = child;
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    // NSD logs "nsd started" once every zone is read and its servers listen.
    const logText = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "");
    for (let waited = 0; waited < STARTUP_TIMEOUT_MS; waited += 100) {
      if (/\bnsd started\b/.test(logText())) return { port: listenPort, dir, stop };
      if (child.exitCode !== null) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`NSD did not start on ${address}:${listenPort}:\n${logText()}${stderr}`);
  } catch (err) {
    stop();
    throw err;
  }
}
