// Mail clients on this machine, as a sender or a user would run them: swaks
// for SMTP (and curl, which the contracts call through tool()).
import { spawnSync } from "node:child_process";

export interface Client {
  code: number | null;
  out: string;
}

export function tool(cmd: string, args: readonly string[]): Client {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) {
    throw new Error(
      `${cmd} could not run (${r.error.message}); install it on the test machine: apt-get install swaks curl`,
    );
  }
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Mail from outside (someone@outside.test) to `to` on port 25 of `host`, no login; `extra` swaks arguments. */
export function inbound(
  host: string,
  to: string,
  subject: string,
  extra: readonly string[] = [],
  timeout = 20,
): Client {
  return tool("swaks", [
    ...["--server", host, "--port", "25", "--timeout", String(timeout)],
    ...["--from", "someone@outside.test", "--to", to, "--header", `Subject: ${subject}`],
    ...extra,
  ]);
}

/** Server replies in a swaks transcript: "<-" plain, "<~" over TLS, "<**" and "<~*" errors. */
export const replies = (t: Client): string[] =>
  t.out
    .split("\n")
    .filter((l) => /^<[-~*]\*? /.test(l))
    .map((l) => l.replace(/^<[-~*]\*? +/, ""));
