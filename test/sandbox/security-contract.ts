// Security against the deployed sandbox, as an outside auditor checks it:
// a port scan from a second test host (the LDAP host's namespace) finds
// exactly the stack's open ports; a TLS scanner finds nothing below TLS 1.2,
// no weak cipher and a valid chain on every TLS port, and no CBC suite on any
// but port 25 (OpenSSL's own handshakes confirm both); SSH refuses passwords;
// and no secret the deployment holds is in plain text in the state export,
// the deploy logs, the arguments of a process on the host, or a file on the
// host that anyone but its service can read. The scanners are Debian's nmap
// and testssl.sh, run from the second host; their machine-readable output is
// what is checked. test/sandbox/e2e.test.ts calls registerSecurityTests.
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AllowedLogLine } from "../helpers/mail-log";
import type { SandboxSsh } from "../helpers/sandbox-ssh";
import { fetchPebbleRoot, HOSTNAME, TLS_PORTS } from "./tls-contract";

const execFileAsync = promisify(execFile);
const STEP = 5 * 60_000;
/** TLS scans at once: each keeps about half a core busy. */
const TLS_SCANS_AT_ONCE = 2;
/** One port's scan takes about 55 s alone on 2 cores; more beside another. Under STEP, so a cut-off scan says so. */
const TLS_SCAN_TIMEOUT_MS = 280_000;

/** A secret the deployment holds, named for messages; its value is never printed. */
export interface Secret {
  readonly name: string;
  readonly value: string;
}

export interface SecurityHooks {
  /** The stack's openPorts output now: the TCP ports its firewall opens. */
  readonly openPorts: () => Promise<readonly number[]>;
  /** The mail host's SSH port. */
  readonly sshPort: number;
  /** The second test host the scans come from: its network namespace and its address. */
  readonly scanner: { readonly netns: string; readonly addr: string };
  /** The sandbox's test ACME server: its HTTPS CA and the URL of its current root. */
  readonly acmeCa: string;
  readonly acmeRootUrl: string;
  /** Every secret the deployment was given: the stack's secret config and the key files it reads. */
  readonly secrets: () => Promise<readonly Secret[]>;
  /** `pulumi stack export` of the stack, as an auditor runs it: nothing decrypted. */
  readonly stateExport: () => string;
  /** Everything the engine printed while deploying. */
  readonly deployLogs: () => string;
  /** A command run on the host while its process arguments are sampled (a backup, say); none by default. */
  readonly busy?: string;
}

/** The secret values of `pulumi config --json --show-secrets` (or Automation's getAllConfig), objects by entry. */
export function configSecrets(
  config: Readonly<Record<string, { readonly value: string; readonly secret?: boolean }>>,
): Secret[] {
  return Object.entries(config).flatMap(([key, { value, secret }]) => {
    if (!secret) return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return [{ name: key, value }];
    return Object.entries(parsed).flatMap(([k, v]) =>
      typeof v === "string" ? [{ name: `${key}["${k}"]`, value: v }] : [],
    );
  });
}

/**
 * What of a secret must never show in plain text: a one-line value whole
 * (of 8 characters or more: shorter ones would turn up by chance); of a key
 * file, each line of its base64 body. The first body line of an
 * OpenSSH key is left out: it encodes only the format's fixed header, the
 * same in every unencrypted key of a type (the host's own keys included).
 */
export function secretPieces(s: Secret): Secret[] {
  const value = s.value.trim();
  if (!value.includes("\n")) return value.length >= 8 ? [{ name: s.name, value }] : [];
  const openssh = value.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----");
  return value
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => !l.startsWith("-----"))
    .slice(openssh ? 1 : 0)
    .flatMap((l, i) => (l.length > 20 ? [{ name: `${s.name} line ${i + 1}`, value: l }] : []));
}

/**
 * Who may read a file on the host that holds a secret: its owner and group,
 * and the most its mode allows. Anything else holding a secret is a leak.
 */
const SECRET_FILES: readonly {
  readonly path: RegExp;
  readonly owner: string;
  readonly group: string;
  readonly mode: number;
  readonly why: string;
}[] = [
  {
    path: /^\/etc\/mailstack\/backup\.env$/,
    owner: "root",
    group: "root",
    mode: 0o600,
    why: "restic's password and the bucket's key, for the root backup job",
  },
  {
    path: /^\/etc\/dovecot\/dovecot-ldap-secret\.conf\.ext$/,
    owner: "root",
    group: "dovecot",
    mode: 0o640,
    why: "the LDAP bind password, for Dovecot's auth",
  },
  {
    path: /^\/var\/lib\/rspamd\/dkim\/[a-z0-9.-]+\.[a-z0-9-]+\.key$/,
    owner: "root",
    group: "_rspamd",
    mode: 0o640,
    why: "a DKIM key, for Rspamd's signing",
  },
  {
    path: /^\/etc\/mailstack\/tls\/privkey\.pem$/,
    owner: "root",
    group: "root",
    mode: 0o600,
    why: "the TLS key, read by the daemons as root",
  },
  {
    path: /^\/etc\/letsencrypt\/(archive\/mailstack\/privkey\d+\.pem|keys\/\d+_key-certbot\.pem)$/,
    owner: "root",
    group: "root",
    mode: 0o600,
    why: "certbot's copies of the TLS key",
  },
  {
    path: /^\/var\/lib\/postgresql\/\d+\/main\/(base|global|pg_wal)\/[0-9A-Za-z_/.]+$/,
    owner: "postgres",
    group: "postgres",
    mode: 0o600,
    why: "the account password hashes, in PostgreSQL's data files",
  },
];

/** Mail log lines the TLS scans provoke: the protocol and cipher probes each daemon refuses. */
export function securityLogAllowed(scannerAddr: string): AllowedLogLine[] {
  const from = scannerAddr.replace(/\./g, "\\.");
  const refusals =
    "no shared cipher|unsupported protocol|wrong version number|version too low|unknown protocol|no suitable signature algorithm|bad key share|no suitable key share";
  return [
    {
      // Postfix names the reason without the client; its next line names the client.
      pattern: new RegExp(
        `postfix/smtpd\\[\\d+\\]: warning: TLS library problem: error:0A[0-9A-F]{6}:SSL routines::(${refusals}):`,
      ),
      why: "a TLS scan's probe that Postfix refuses",
    },
    {
      pattern: new RegExp(
        `postfix/smtpd\\[\\d+\\]: SSL_accept error from [^\\[]*\\[${from}\\]: (-?\\d+|lost connection)$`,
      ),
      why: "a TLS scan's refused or abandoned probe, from the scanning host",
    },
    {
      pattern: new RegExp(
        `(imap|pop3|submission)-login: (Info: )?Disconnected: .*SSL_accept\\(\\) failed: error:[0-9A-Z]{8}:SSL routines::(${refusals}) .*rip=${from}, `,
      ),
      why: "a TLS scan's probe that Dovecot refuses, from the scanning host",
    },
  ];
}

/** A test client on this machine, optionally inside a network namespace; bounded. */
async function client(
  netns: string | undefined,
  cmd: string,
  args: readonly string[],
  timeoutMs = 180_000,
): Promise<{ code: number; out: string }> {
  const [file, argv] = netns ? ["ip", ["netns", "exec", netns, cmd, ...args]] : [cmd, [...args]];
  try {
    const r = await execFileAsync(file, argv, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 << 20 });
    return { code: 0, out: `${r.stdout}${r.stderr}` };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

/** Fails, saying how to get them, unless the scanners are installed here. */
function requireScanners(): void {
  const missing = ["nmap", "testssl", "ssh"].filter(
    (t) => spawnSync("sh", ["-c", `command -v ${t}`]).status !== 0,
  );
  if (missing.length > 0) {
    throw new Error(
      `${missing.join(", ")} missing on the test machine: run the suite with \`npm test\`, or apt-get install nmap testssl.sh openssh-client`,
    );
  }
}

/** Open ports in nmap's XML report, and whether the scan ran to its end. */
function nmapOpen(xml: string, protocol: "tcp" | "udp"): { open: number[]; finished: boolean } {
  const open = [...xml.matchAll(/<port protocol="(tcp|udp)" portid="(\d+)"><state state="open"/g)]
    .filter((m) => m[1] === protocol)
    .map((m) => Number(m[2]));
  return { open, finished: /<finished [^>]*exit="success"/.test(xml) && /<status state="up"/.test(xml) };
}

/** One finding of testssl.sh's JSON report. */
interface Finding {
  readonly id: string;
  readonly severity: string;
  readonly finding: string;
}

/**
 * What testssl.sh must report on every TLS port: each id's finding. The
 * cipher classes are testssl's own (it tries every suite of a class over raw
 * sockets, so classes Debian's OpenSSL no longer has are tried too): NULL,
 * anonymous, EXPORT, LOW (DES, RC2, RC4, so also every MD5 suite and all
 * under 128 bits) and 3DES/IDEA. Its "obsolete CBC" class (AES, Camellia and
 * ARIA in CBC mode, with SHA-1 or SHA-2 HMACs) is checked per port, below.
 */
const TLS_REQUIRED: readonly { readonly id: string; readonly finding: RegExp }[] = [
  { id: "SSLv2", finding: /^not offered/ },
  { id: "SSLv3", finding: /^not offered/ },
  { id: "TLS1", finding: /^not offered/ },
  { id: "TLS1_1", finding: /^not offered/ },
  { id: "TLS1_2", finding: /^offered/ },
  { id: "TLS1_3", finding: /^offered/ },
  { id: "cipherlist_NULL", finding: /^not offered/ },
  { id: "cipherlist_aNULL", finding: /^not offered/ },
  { id: "cipherlist_EXPORT", finding: /^not offered/ },
  { id: "cipherlist_LOW", finding: /^not offered/ },
  { id: "cipherlist_3DES_IDEA", finding: /^not offered/ },
  // The chain verifies up to the root given with --add-ca, for the name asked for.
  { id: "cert_chain_of_trust", finding: /^passed/ },
  { id: "cert_trust", finding: /^Ok via SAN/ },
  // Anything but expired ("expires < 60 days" is only testssl's early warning).
  { id: "cert_expirationStatus", finding: /^(?!expired)./ },
];

/**
 * The port whose TLS is opportunistic: mail from other servers, which would
 * go in plaintext if no suite were agreed (RFC 7435), so Postfix keeps its
 * wide suites there. Every other TLS port has the client ports' profile
 * (src/core/tls-policy.ts): no CBC suite at all.
 */
const OPPORTUNISTIC_PORT = 25;
/** testssl's id of the obsolete CBC class: 3.0 (Debian 12's) and 3.2 name it differently. */
const CBC_IDS = ["cipherlist_AVERAGE", "cipherlist_OBSOLETED"] as const;

/** The findings of `report` on `port` that break TLS_REQUIRED or the port's profile, as "id: finding" lines. */
export function tlsProblems(report: readonly Finding[], port: number): string[] {
  const byId = new Map(report.map((f) => [f.id, f.finding]));
  const problems = TLS_REQUIRED.filter((r) => !r.finding.test(byId.get(r.id) ?? "(not reported)")).map(
    (r) => `${r.id}: ${byId.get(r.id) ?? "(not reported)"}`,
  );
  if (port !== OPPORTUNISTIC_PORT) {
    const cbc = CBC_IDS.find((id) => byId.has(id));
    const finding = cbc ? (byId.get(cbc) ?? "") : "(not reported)";
    if (!/^not offered/.test(finding)) problems.push(`${cbc ?? CBC_IDS.join(" or ")}: ${finding}`);
  }
  for (const f of report) if (f.id === "scanProblem") problems.push(`scanProblem: ${f.finding}`);
  return problems;
}

/**
 * CBC suites only, TLS 1.2 (SHA-1 and SHA-2 HMACs), for an ECDSA key (what
 * certbot and the bootstrap make) or an RSA one: what a client port must refuse.
 */
const CBC_PROBE =
  "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384";

export function registerSecurityTests(ssh: SandboxSsh, host: string, hooks: SecurityHooks): void {
  const { netns, addr } = hooks.scanner;
  let dir = "";
  let root = "";
  let pieces: Secret[] = [];

  /** The jails that have banned `address` now, from fail2ban-client's list. */
  const bannedBy = (address: string): string[] => {
    const r = ssh("fail2ban-client banned");
    if (r.code !== 0) throw new Error(`fail2ban-client banned failed: ${r.out}${r.err}`);
    return [...r.out.matchAll(/'([\w-]+)': \[([^\]]*)\]/g)]
      .filter((m) => (m[2] ?? "").includes(`'${address}'`))
      .map((m) => m[1] ?? "");
  };
  /** The secret pieces found in `text`, by name only. */
  const leaksIn = (text: string) => pieces.filter((p) => text.includes(p.value)).map((p) => p.name);

  /** testssl.sh on one port, from the second host; its JSON report and its output. */
  const scanTls = async (p: (typeof TLS_PORTS)[number]) => {
    const json = path.join(dir, `testssl-${p.port}.json`);
    const started = Date.now();
    const r = await client(
      netns,
      "testssl",
      [
        ...["--quiet", "--color", "0", "--warnings", "off", "-n", "none"],
        ...["--connect-timeout", "10", "--openssl-timeout", "10"],
        ...["--ip", host, "--add-ca", root, ...(p.starttls ? ["-t", p.starttls] : [])],
        ...["-p", "-s", "-S", "--jsonfile", json, `${HOSTNAME}:${p.port}`],
      ],
      TLS_SCAN_TIMEOUT_MS,
    );
    const text = fs.existsSync(json) ? fs.readFileSync(json, "utf8") : "";
    try {
      return { report: text === "" ? [] : (JSON.parse(text) as Finding[]), log: r.out };
    } catch {
      throw new Error(
        `testssl on ${p.port} left an unfinished report after ${Math.round((Date.now() - started) / 1000)} s (exit ${r.code}; stopped at ${TLS_SCAN_TIMEOUT_MS / 1000} s):\n${r.out.slice(-1500)}`,
      );
    }
  };
  // The first TLS case starts every port's scan, a few at once; each case waits for its own.
  const scans = new Map<number, ReturnType<typeof scanTls>>();
  const scanAll = () => {
    if (scans.size > 0) return;
    const lanes: Promise<unknown>[] = [];
    TLS_PORTS.forEach((p, i) => {
      const lane = i % TLS_SCANS_AT_ONCE;
      const run = (lanes[lane] ?? Promise.resolve()).then(() => scanTls(p));
      lanes[lane] = run.catch(() => undefined);
      scans.set(p.port, run);
    });
  };

  /**
   * One handshake with OpenSSL from the second host, then EOF (stdin is
   * /dev/null, so a handshake that succeeds ends at once). The server refused
   * it when OpenSSL reports the server's alert or that the server closed the
   * connection: a failure on the client's own side (a protocol this OpenSSL
   * will not speak) has neither, and proves nothing.
   */
  const handshake = async (p: (typeof TLS_PORTS)[number], args: readonly string[]) => {
    const r = await client(
      netns,
      "sh",
      [
        ...["-c", 'exec openssl s_client "$@" </dev/null', "sh"],
        ...["-connect", `${host}:${p.port}`, "-servername", HOSTNAME],
        ...(p.starttls ? ["-starttls", p.starttls] : []),
        ...args,
      ],
      30_000,
    );
    const cipher = /^New, \S+, Cipher is (\S+)$/m.exec(r.out)?.[1] ?? "";
    return {
      established: r.code === 0 && cipher !== "" && cipher !== "(NONE)",
      cipher,
      // nginx sends an alert; Dovecot closes the connection without one.
      refusedByServer: r.code !== 0 && /SSL alert number \d+|unexpected eof while reading/.test(r.out),
      out: r.out,
    };
  };

  describe("security: what an outside auditor finds", () => {
    beforeAll(async () => {
      requireScanners();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-security-"));
      root = path.join(dir, "pebble-root.pem");
      fetchPebbleRoot(hooks, root);
      // The secrets given to the stack, and those the host made or was given.
      const onHost = ssh(
        [
          "sed -n 's/^\\(RESTIC_PASSWORD\\|AWS_SECRET_ACCESS_KEY\\)=//p' /etc/mailstack/backup.env | tr -d \"'\"",
          "echo ==",
          "cat /var/lib/rspamd/dkim/*.key",
          "echo ==",
          "cat /etc/mailstack/tls/privkey.pem",
        ].join("; "),
      );
      if (onHost.code !== 0) throw new Error(`cannot read the host's secrets: ${onHost.err}`);
      const [backupEnv = "", dkim = "", tlsKey = ""] = onHost.out.split("==\n");
      const secrets: Secret[] = [
        ...(await hooks.secrets()),
        ...backupEnv
          .split("\n")
          .filter((v) => v !== "")
          .map((value, i) => ({ name: `/etc/mailstack/backup.env value ${i + 1}`, value })),
        { name: "the DKIM keys on the host", value: dkim },
        { name: "the TLS key", value: tlsKey },
      ];
      pieces = secrets.flatMap(secretPieces);
    }, STEP);
    afterAll(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it(
      `a port scan from ${addr} finds exactly the stack's open ports, and nobody gets banned`,
      async () => {
        // A ban would make the firewall refuse the scanner, not show its rules.
        expect(bannedBy(addr), `${addr} is banned before the scan`).toEqual([]);
        // Every TCP port, SYN only: no daemon sees a connection. Bounded: one
        // retry, at least 10000 probes a second (a few seconds over the bridge).
        const tcp = await client(netns, "nmap", [
          ...["-n", "-Pn", "-sS", "-p", "1-65535", "--max-retries", "1", "--min-rate", "10000"],
          ...["--host-timeout", "150s", "-oX", "-", host],
        ]);
        const scanned = nmapOpen(tcp.out, "tcp");
        expect(scanned.finished, tcp.out.slice(-2000)).toBe(true);
        expect(scanned.open).toEqual([...(await hooks.openPorts())].sort((a, b) => a - b));
        // UDP: the firewall drops what it does not allow, so a port only shows
        // "open" when a service answers through it. None may.
        const udp = await client(netns, "nmap", [
          ...["-n", "-Pn", "-sU", "--top-ports", "50", "--max-retries", "1", "--host-timeout", "60s"],
          ...["-oX", "-", host],
        ]);
        const udpScanned = nmapOpen(udp.out, "udp");
        expect(udpScanned.finished, udp.out.slice(-2000)).toBe(true);
        expect(udpScanned.open).toEqual([]);
        expect(bannedBy(addr), `${addr} is banned after the scan`).toEqual([]);
      },
      STEP,
    );

    for (const p of TLS_PORTS) {
      it(
        `TLS on ${p.port}${p.starttls ? " (STARTTLS)" : ""}: nothing below TLS 1.2, no weak cipher, a valid chain for ${HOSTNAME}`,
        async () => {
          scanAll();
          const scan = await scans.get(p.port);
          expect(
            scan?.report.length ?? 0,
            `testssl wrote no report:\n${scan?.log.slice(-2000)}`,
          ).toBeGreaterThan(0);
          expect(tlsProblems(scan?.report ?? [], p.port)).toEqual([]);
        },
        STEP,
      );
    }

    for (const p of TLS_PORTS.filter((x) => x.port !== OPPORTUNISTIC_PORT)) {
      it(
        `TLS on ${p.port}${p.starttls ? " (STARTTLS)" : ""}: the server refuses a CBC suite and TLS 1.1, and takes an AEAD suite`,
        async () => {
          const cbc = await handshake(p, ["-tls1_2", "-cipher", CBC_PROBE]);
          expect(cbc.established, `CBC suite ${cbc.cipher} accepted:\n${cbc.out.slice(-1500)}`).toBe(false);
          expect(cbc.refusedByServer, `no refusal from the server:\n${cbc.out.slice(-1500)}`).toBe(true);
          // OpenSSL 3 speaks TLS 1.1 only at security level 0.
          const old = await handshake(p, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
          expect(old.established, `TLS 1.1 accepted:\n${old.out.slice(-1500)}`).toBe(false);
          expect(old.refusedByServer, `no refusal from the server:\n${old.out.slice(-1500)}`).toBe(true);
          // The same client, the same port, a suite of the profile: the refusals above were the suites'.
          const aead = await handshake(p, ["-tls1_2", "-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20"]);
          expect(aead.established, aead.out.slice(-1500)).toBe(true);
          expect(aead.cipher).toMatch(/-(GCM-SHA\d+|CHACHA20-POLY1305)$/);
        },
        STEP,
      );
    }

    it(
      `TLS on ${OPPORTUNISTIC_PORT} (STARTTLS) still takes a CBC suite: opportunistic TLS keeps the wide list`,
      async () => {
        const p = TLS_PORTS.find((x) => x.port === OPPORTUNISTIC_PORT);
        expect(p?.starttls).toBe("smtp");
        const cbc = await handshake(p ?? { port: OPPORTUNISTIC_PORT }, ["-tls1_2", "-cipher", CBC_PROBE]);
        expect(cbc.established, cbc.out.slice(-1500)).toBe(true);
        expect(CBC_PROBE.split(":")).toContain(cbc.cipher);
      },
      STEP,
    );

    it(
      "SSH offers only public keys: a password login is refused, from this machine and from another host",
      async () => {
        for (const from of [undefined, netns]) {
          // One attempt each, in batch mode: the server's list of methods is the evidence.
          const r = await client(from, "ssh", [
            ...["-v", "-p", String(hooks.sshPort), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"],
            ...[
              "-o",
              "PreferredAuthentications=password,keyboard-interactive",
              "-o",
              "PubkeyAuthentication=no",
            ],
            ...[
              "-o",
              "StrictHostKeyChecking=no",
              "-o",
              "UserKnownHostsFile=/dev/null",
              `root@${host}`,
              "true",
            ],
          ]);
          const where = from ?? "this machine";
          expect(r.code, `${where}: ${r.out.slice(-1500)}`).toBe(255);
          const offered = [...r.out.matchAll(/Authentications that can continue: (\S+)/g)].map((m) => m[1]);
          expect(offered.length, `${where}: no list of methods:\n${r.out.slice(-1500)}`).toBeGreaterThan(0);
          for (const methods of offered) expect(methods, where).toBe("publickey");
          expect(r.out, where).toContain("Permission denied (publickey)");
        }
        expect(bannedBy(addr), `${addr} is banned after one refused login`).toEqual([]);
      },
      STEP,
    );

    it("no secret is in plain text in the state export or the deploy logs", () => {
      expect(pieces.length).toBeGreaterThan(0);
      const exported = hooks.stateExport();
      // The export really is the state, with its secrets encrypted.
      expect(exported).toContain('"ciphertext"');
      expect(leaksIn(exported), "secrets in the state export").toEqual([]);
      const logs = hooks.deployLogs();
      expect(logs.length).toBeGreaterThan(0);
      expect(leaksIn(logs), "secrets in the deploy logs").toEqual([]);
    });

    it(
      "no secret is in the arguments of any process on the host",
      () => {
        // Sampled every 0.2 s for 4 s, while the host is kept busy when asked.
        const sample = [
          ...(hooks.busy ? [`( ${hooks.busy} ) </dev/null >/dev/null 2>&1 & busy=$!`] : []),
          "for i in $(seq 20); do for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\" 2>/dev/null; echo; done; sleep 0.2; done",
          ...(hooks.busy ? ["wait $busy"] : []),
        ].join("\n");
        const r = ssh("bash -s", sample);
        expect(r.code, r.err).toBe(0);
        // The sample did see the daemons.
        expect(r.out).toMatch(/^\/usr\/sbin\/dovecot /m);
        expect(leaksIn(r.out), "secrets in process arguments").toEqual([]);
      },
      STEP,
    );

    it(
      "every file on the host that holds a secret is readable only by its service",
      () => {
        // The secrets go over stdin as grep's pattern list, never on a command line.
        const r = ssh(
          [
            "set --",
            'for d in /*; do [ -d "$d" ] && [ ! -L "$d" ] || continue; case $d in /proc|/sys|/dev) ;; *) set -- "$@" "$d" ;; esac; done',
            'grep -rlsF -D skip -f - "$@" | while IFS= read -r f; do stat -c \'%U %G %a %n\' "$f" 2>/dev/null; done',
          ].join("\n"),
          `${pieces.map((p) => p.value).join("\n")}\n`,
        );
        const files = r.out
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => {
            const [owner = "", group = "", mode = "", ...name] = l.split(" ");
            return { owner, group, mode: Number.parseInt(mode, 8), path: name.join(" ") };
          });
        // The check found the files it must find.
        expect(files.map((f) => f.path)).toContain("/etc/mailstack/backup.env");
        const wrong = files.flatMap((f) => {
          const rule = SECRET_FILES.find((s) => s.path.test(f.path));
          if (!rule)
            return [
              `${f.path} (${f.owner}:${f.group} ${f.mode.toString(8)}) holds a secret; none belongs there`,
            ];
          const fits = f.owner === rule.owner && f.group === rule.group && (f.mode & ~rule.mode) === 0;
          return fits
            ? []
            : [
                `${f.path} is ${f.owner}:${f.group} ${f.mode.toString(8)}, not ${rule.owner}:${rule.group} ${rule.mode.toString(8)} (${rule.why})`,
              ];
        });
        expect(wrong).toEqual([]);
      },
      STEP,
    );
  });
}
