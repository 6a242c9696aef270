// DKIM against the deployed sandbox: mail a user submits leaves signed, and
// the signature verifies with dkimpy (python3-dkim) against the public keys of
// the stack's dkimRecords output, served by a real DNS server (a throwaway
// dnsmasq on loopback). Then a rotation: `sign` moves to the next selector,
// new mail carries it, and both selectors stay published. test/e2e.test.ts
// calls registerDkimTests after the mail tests.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { splitTxt } from "../components/dkim";
import { shellQuote } from "../components/push";
import type { SandboxSsh } from "./lookups-contract";
import { tool } from "./mail-contract";

const STEP = 5 * 60_000;
const RUN = randomBytes(4).toString("hex");
/** Debian's Python, which has python3-dkim; not whatever python3 is first on PATH. */
const PYTHON = "/usr/bin/python3";

/** One published selector, as the stack's dkimRecords output lists it. */
export interface PublishedDkim {
  readonly name: string;
  readonly value: string;
  readonly signing: boolean;
}

export interface DkimHooks {
  /** The stack's dkimRecords output now. */
  readonly records: () => Promise<PublishedDkim[]>;
  /** Moves example.test's `sign` to `selector` and runs an up. */
  readonly signWith: (selector: string) => Promise<void>;
}

// Verifies one message (stdin) with dkimpy, asking the DNS server on
// 127.0.0.1:<port> for the keys. Prints "pass d=<domain> s=<selector>" or "fail".
const VERIFY = `
import re, sys
import dkim, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[1])
def txt(name, timeout=5):
    try:
        answer = r.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    except Exception:
        return None
    return b"".join(b"".join(rr.strings) for rr in answer)
msg = sys.stdin.buffer.read()
sig = re.search(rb"^DKIM-Signature:(.*?)(?=^\\S)", msg, re.M | re.S)
tags = dict(re.findall(rb"\\b([ds])=([^;\\s]+)", sig.group(1))) if sig else {}
ok = dkim.verify(msg, dnsfunc=txt)
print(("pass" if ok else "fail") + " d=" + tags.get(b"d", b"").decode() + " s=" + tags.get(b"s", b"").decode())
`;

/** A free TCP/UDP port on loopback, for the throwaway DNS server. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function registerDkimTests(ssh: SandboxSsh, host: string, hooks: DkimHooks): void {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-dkim-"));
  const script = path.join(scratch, "verify.py");
  fs.writeFileSync(script, VERIFY);
  let dns: ChildProcess | undefined;
  afterAll(() => {
    dns?.kill();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Serves `records` as TXT on 127.0.0.1:port with dnsmasq, replacing any earlier server. */
  const serve = async (records: readonly PublishedDkim[]): Promise<number> => {
    dns?.kill();
    const port = await freePort();
    // Given as an argument (not in a config file), dnsmasq keeps quotes as
    // text; a comma starts the next string, and DKIM values hold none.
    const txt = records.map((r) => `--txt-record=${r.name},${splitTxt(r.value).join(",")}`);
    dns = spawn(
      "dnsmasq",
      [
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        "--listen-address=127.0.0.1",
        `--port=${port}`,
        "--pid-file=",
        ...txt,
      ],
      { stdio: "ignore" },
    );
    // Up when it listens.
    for (let i = 0; i < 50; i++) {
      if (tool("ss", ["-Hlun", `sport = :${port}`]).out.trim() !== "") return port;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(
      "the throwaway dnsmasq did not answer; is dnsmasq-base installed (apt-get install dnsmasq-base)?",
    );
  };

  /** Sends a message as alice on 587 and returns bob's copy as stored. */
  const sendAndFetch = (subject: string): string => {
    const t = tool("swaks", [
      ...["--server", host, "--timeout", "30", "--port", "587", "--tls"],
      ...["--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "alice-sandbox-pw"],
      ...["--from", "alice@example.test", "--to", "bob@example.test", "--header", `Subject: ${subject}`],
      ...["--body", "Signed on the way out.\n"],
    ]);
    expect(t.code, t.out).toBe(0);
    const r = ssh(
      `for i in $(seq 50); do f=$(grep -rlF ${shellQuote(subject)} /var/vmail/example.test/bob/Maildir 2>/dev/null | grep -E '/(new|cur)/' | head -1); [ -n "$f" ] && { cat "$f"; exit 0; }; sleep 0.2; done; exit 1`,
    );
    expect(r.code, `bob never got "${subject}"`).toBe(0);
    return r.out;
  };

  const verified = (message: string, port: number): string => {
    const file = path.join(scratch, "message.eml");
    fs.writeFileSync(file, message);
    const r = tool("bash", ["-c", `${PYTHON} ${shellQuote(script)} ${port} < ${shellQuote(file)}`]);
    if (r.code !== 0) {
      throw new Error(
        `dkimpy could not run (${r.out.trim()}); install it: apt-get install python3-dkim python3-dnspython`,
      );
    }
    return r.out.trim();
  };

  describe("dkim: signing and rotation", () => {
    it(
      "a submitted message is signed with the signing selector and verifies against the published key",
      async () => {
        const records = await hooks.records();
        const example = records.filter((r) => r.name.endsWith("._domainkey.example.test"));
        expect(example.map((r) => `${r.name} ${r.signing}`).sort()).toEqual([
          "s2026a._domainkey.example.test true",
          "s2026b._domainkey.example.test false",
        ]);
        const port = await serve(records);
        const message = sendAndFetch(`dkim-${RUN}-1`);
        expect(message).toMatch(/^DKIM-Signature: /m);
        expect(verified(message, port)).toBe("pass d=example.test s=s2026a");
        // The check can fail: without the published key there is nothing to verify against.
        const other = await serve(records.filter((r) => !r.name.startsWith("s2026a.")));
        expect(verified(message, other)).toBe("fail d=example.test s=s2026a");
      },
      STEP,
    );

    it(
      "after switching sign to the next selector, new mail carries it and both keys stay published",
      async () => {
        await hooks.signWith("s2026b");
        const records = await hooks.records();
        const example = records.filter((r) => r.name.endsWith("._domainkey.example.test"));
        expect(example.map((r) => `${r.name} ${r.signing}`).sort()).toEqual([
          "s2026a._domainkey.example.test false",
          "s2026b._domainkey.example.test true",
        ]);
        const port = await serve(records);
        expect(verified(sendAndFetch(`dkim-${RUN}-2`), port)).toBe("pass d=example.test s=s2026b");
      },
      STEP,
    );
  });
}
