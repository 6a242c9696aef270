// SSH to the sandbox mail host, as an operator would: one fresh connection
// per command, with the key and address scripts/sandbox.sh wrote.
import { spawnSync } from "node:child_process";
import { sandboxEnv } from "./sandbox-env";

/** Runs `cmd` on the sandbox host (with `input` on stdin); its exit code and output. */
export type SandboxSsh = (cmd: string, input?: string) => { code: number | null; out: string; err: string };

/** An ssh function for the sandbox of sandbox.env. */
export function sandboxSsh(): SandboxSsh {
  const sb = sandboxEnv();
  const key = sb.SANDBOX_KEY ?? "";
  return (cmd, input) => {
    const r = spawnSync(
      "ssh",
      [
        ...["-i", key, "-p", sb.SANDBOX_SSH_PORT ?? "22", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"],
        ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"],
        `root@${sb.SANDBOX_HOST}`,
        cmd,
      ],
      // The mail log of a whole run is several MiB (the load test alone writes 1500 messages' lines).
      { encoding: "utf8", input, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
}
