// Small helpers for commands that run on the host outside the push primitive:
// one-off scripts such as package installs, which change no config file.
import * as fs from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import type * as pulumi from "@pulumi/pulumi";
import { asRoot, commandConnection, type HostConnection, shellQuote } from "./push";
import { ROOT } from "./template";

/** A file under files/, as it is (scripts and files without placeholders). */
export function raw(file: string): string {
  return fs.readFileSync(path.join(ROOT, "files", file), "utf8");
}

/** A script from files/, run through bash as root with the given arguments. */
export function script(user: string, file: string, args: readonly string[] = []): string {
  const name = path.basename(file);
  return asRoot(user, ["bash", "-c", shellQuote(raw(file)), name, ...args.map(shellQuote)].join(" "));
}

/** A remote command that runs a script from files/ once, as root; its stdout is the summary. */
export function runScript(
  name: string,
  conn: HostConnection,
  file: string,
  args: readonly string[],
  opts: pulumi.CustomResourceOptions,
): command.remote.Command {
  return new command.remote.Command(
    name,
    {
      connection: commandConnection(conn),
      create: script(conn.user, file, args),
      addPreviousOutputInEnv: false,
    },
    opts,
  );
}

/** Installs packages if missing (files/host/packages.sh); stdout lists name=version (parseVersions). */
export function installPackages(
  name: string,
  conn: HostConnection,
  packages: readonly string[],
  opts: pulumi.CustomResourceOptions,
): command.remote.Command {
  return runScript(name, conn, "host/packages.sh", packages, opts);
}

/** Parses the `name=version` lines of files/host/packages.sh's stdout; other lines are skipped. Pure. */
export function parseVersions(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) out[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return out;
}
