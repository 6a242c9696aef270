// The push primitive: the one way this stack changes a file on a host.
//
// A push is a single remote command. Its stdin is a readable payload holding
// every file's text, so `pulumi preview --diff` shows the changed lines and an
// unchanged push shows no diff at all. The command itself is the fixed runner
// script in files/push/runner.sh, which on the host:
//   1. stages the files with their owner and mode,
//   2. runs the daemon's own checker against the staged files,
//   3. swaps them in atomically,
//   4. reloads the service (and runs optional post-reload checks),
//   5. on any failure restores the previous files and reloads again,
// failing the deployment with the checker's own message.
import * as fs from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { shellQuote } from "./shell";
import { ROOT } from "./template";

export { shellQuote };

/** How every component reaches the host. */
export interface HostConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Secret Output: never in a command string, log or plain state. */
  readonly privateKey: pulumi.Output<string>;
}

export interface PushFile {
  /** Absolute path on the host. */
  readonly path: string;
  /** The file's text. It must end with a newline (render functions ensure it). */
  readonly content: pulumi.Input<string>;
  /** Owner on the host. Default root. */
  readonly owner?: string;
  /** Group on the host. Default root. */
  readonly group?: string;
  /** Octal mode. Default 0644, or 0600 for secret files. */
  readonly mode?: string;
  /**
   * The content holds a secret: the whole push is stored encrypted and its
   * diff shows as [secret]. Keep such files in a push of their own. Default false.
   */
  readonly secret?: boolean;
}

/** What runs after the swap: a service action, or a plain command. */
export type Reload =
  | { readonly service: string; readonly action: "reload" | "restart" }
  | { readonly command: string };

export interface ConfigPushArgs {
  readonly connection: HostConnection;
  /** The files to push; at least one. */
  readonly files: readonly PushFile[];
  /**
   * Checker commands, run as root with the staged files bind-mounted over the
   * live paths in a private mount namespace, e.g. `sshd -t`. Default none.
   */
  readonly check?: readonly string[];
  /** Run after the swap; failure rolls back. Default none. */
  readonly reload?: Reload;
  /** Commands that must succeed after the reload, else roll back. Default none. */
  readonly verify?: readonly string[];
}

const RUNNER = fs.readFileSync(path.join(ROOT, "files", "push", "runner.sh"), "utf8");
const SAFE_PATH = /^\/[A-Za-z0-9._+@/-]+$/;
const NAME = /^[a-z_][a-z0-9_.-]*$/;

/** Prefix for commands that need root when the deploy login is not root. */
export function asRoot(user: string, cmd: string): string {
  return user === "root" ? cmd : `sudo -n ${cmd}`;
}

/** Connection arguments for @pulumi/command, with generous retries so the first command waits for SSH. */
export function commandConnection(c: HostConnection): command.types.input.remote.ConnectionArgs {
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    privateKey: c.privateKey,
    dialErrorLimit: 30,
    perDialTimeout: 10,
  };
}

function serviceCommand(r: Reload): string {
  return "service" in r ? `svc ${r.action} ${r.service}` : r.command;
}

/** Throws unless the push arguments are well formed. Pure; runs before anything is created. */
export function validatePush(name: string, args: ConfigPushArgs): void {
  const problems: string[] = [];
  if (args.files.length === 0) problems.push("has no files");
  const seen = new Set<string>();
  for (const f of args.files) {
    if (!SAFE_PATH.test(f.path) || f.path.includes("/../") || f.path.endsWith("/")) {
      problems.push(`file path "${f.path}" must be absolute and use only letters, digits and ._+@-/`);
    }
    if (seen.has(f.path)) problems.push(`file ${f.path} is listed twice`);
    seen.add(f.path);
    for (const who of [f.owner, f.group]) {
      if (who !== undefined && !NAME.test(who))
        problems.push(`owner/group "${who}" of ${f.path} is not a valid name`);
    }
    if (f.mode !== undefined && !/^0?[0-7]{3}$/.test(f.mode)) {
      problems.push(`mode "${f.mode}" of ${f.path} is not an octal mode such as 0644`);
    }
    if (f.secret === true && f.mode !== undefined && /[0-7][0-7][1-7]$/.test(f.mode)) {
      problems.push(`secret file ${f.path} must not be readable by others (mode ${f.mode})`);
    }
  }
  const lines = [
    ...(args.check ?? []),
    ...(args.verify ?? []),
    args.reload ? serviceCommand(args.reload) : "",
  ];
  for (const l of lines) if (l.includes("\n")) problems.push(`command "${l}" spans several lines`);
  if (problems.length > 0) throw new Error(`push ${name}: ${problems.join("; ")}`);
}

/** Renders the runner's stdin: a header per file followed by its lines. Pure. */
export function renderPayload(
  name: string,
  args: Omit<ConfigPushArgs, "connection" | "files">,
  files: readonly (Omit<PushFile, "content"> & { readonly content: string })[],
): string {
  const out = [`push ${name}`];
  for (const c of args.check ?? []) out.push(`check ${c}`);
  if (args.reload) out.push(`reload ${serviceCommand(args.reload)}`);
  for (const v of args.verify ?? []) out.push(`verify ${v}`);
  for (const f of files) {
    if (!f.content.endsWith("\n")) throw new Error(`push ${name}: ${f.path} must end with a newline`);
    const lines = f.content.slice(0, -1).split("\n");
    const mode = f.mode ?? (f.secret ? "0600" : "0644");
    out.push(`file ${f.path} ${f.owner ?? "root"} ${f.group ?? "root"} ${mode} ${lines.length}`, ...lines);
  }
  out.push("end");
  return `${out.join("\n")}\n`;
}

/** Pushes a set of files to the host through stage, check, swap, reload and rollback. */
export class ConfigPush extends pulumi.ComponentResource {
  /** The runner's summary line, e.g. "mailstack-push: ssh: updated /etc/ssh/...". */
  readonly result: pulumi.Output<string>;

  constructor(name: string, args: ConfigPushArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:push:ConfigPush", name, {}, opts);
    validatePush(name, args);
    const secret = args.files.some((f) => f.secret === true);
    const { connection, files, ...rest } = args;

    const payload = pulumi.all(files.map((f) => pulumi.output(f.content))).apply((contents) =>
      renderPayload(
        name,
        rest,
        files.map((f, i) => ({ ...f, content: contents[i] ?? "" })),
      ),
    );

    const run = asRoot(connection.user, `bash -c ${shellQuote(RUNNER)} mailstack-push`);
    const cmd = new command.remote.Command(
      `${name}-apply`,
      {
        connection: commandConnection(connection),
        create: run,
        stdin: secret ? pulumi.secret(payload) : payload,
        // Nothing of a previous run is passed back in, and the runner's output
        // (which never contains file text) is kept only as a summary.
        addPreviousOutputInEnv: false,
        logging: "stdoutAndStderr",
      },
      { parent: this, additionalSecretOutputs: secret ? ["stdin"] : [] },
    );
    this.result = cmd.stdout;
    this.registerOutputs({ result: this.result });
  }
}
