// A stand-in for the host's init, for tests that run the shell library
// (files/lib/mailstack.sh) on this machine: fake systemctl, service,
// update-rc.d, hostnamectl and hostname on PATH that log each call and keep
// which units exist and run in a scratch folder, and the library's switches
// pointed there, so "systemd runs" is whatever the test says.
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "../../src/core/template";

export const SHELL_LIB = path.join(ROOT, "files/lib/mailstack.sh");

export interface FakeInitOptions {
  /** Whether the library finds systemd running. */
  readonly systemd: boolean;
  /** Units the host has: systemd units, or init scripts without systemd. */
  readonly units?: readonly string[];
  /** Units that run now. */
  readonly running?: readonly string[];
  /** Daemons without an init script, on PATH (rsyslogd, without systemd). */
  readonly daemons?: readonly string[];
}

export interface FakeInit {
  /** The environment to run bash with. */
  readonly env: NodeJS.ProcessEnv;
  /** Every init command run so far, one line each, e.g. "systemctl start postfix". */
  calls(): string[];
  /** Whether the fake init has UNIT running now. */
  running(unit: string): boolean;
}

const SYSTEMCTL = `#!/bin/bash
echo "systemctl $*" >>"$FAKE_INIT/calls"
state=$FAKE_INIT/state unit=\${!#}
case " $* " in
  *" is-active "*) [ -e "$state/running/$unit" ] ;;
  *" show "*) if [ -e "$state/units/$unit" ]; then echo loaded; else echo not-found; fi ;;
  *" stop "* | *" disable "*) rm -f "$state/running/$unit" ;;
  *)
    [ -e "$state/units/$unit" ] || { echo "Unit $unit.service not found." >&2; exit 5; }
    touch "$state/running/$unit"
    ;;
esac
`;

const SERVICE = `#!/bin/bash
echo "service $*" >>"$FAKE_INIT/calls"
state=$FAKE_INIT/state unit=$1
[ -x "$MAILSTACK_INITD_DIR/$unit" ] || { echo "$unit: unrecognized service" >&2; exit 1; }
case $2 in
  status) [ -e "$state/running/$unit" ] || exit 3 ;;
  stop) rm -f "$state/running/$unit" ;;
  *) touch "$state/running/$unit" ;;
esac
`;

const LOG_ONLY = (name: string) => `#!/bin/bash\necho "${name} $*" >>"$FAKE_INIT/calls"\n`;

/** Makes the fake init in `dir` (an empty scratch folder). */
export function fakeInit(dir: string, opts: FakeInitOptions): FakeInit {
  const bin = path.join(dir, "bin");
  const initd = path.join(dir, "init.d");
  const state = path.join(dir, "state");
  for (const d of [bin, initd, path.join(state, "units"), path.join(state, "running")]) {
    fs.mkdirSync(d, { recursive: true });
  }
  const tool = (name: string, text: string) => fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  tool("systemctl", SYSTEMCTL);
  tool("service", SERVICE);
  for (const name of ["update-rc.d", "hostnamectl", "hostname", ...(opts.daemons ?? [])]) {
    tool(name, LOG_ONLY(name));
  }
  for (const u of opts.units ?? []) {
    fs.writeFileSync(path.join(state, "units", u), "");
    if (!opts.systemd) fs.writeFileSync(path.join(initd, u), "#!/bin/sh\n", { mode: 0o755 });
  }
  for (const u of opts.running ?? []) fs.writeFileSync(path.join(state, "running", u), "");
  const systemdDir = path.join(dir, "run-systemd-system");
  if (opts.systemd) fs.mkdirSync(systemdDir);
  fs.writeFileSync(path.join(dir, "calls"), "");
  return {
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      FAKE_INIT: dir,
      MAILSTACK_LIB: SHELL_LIB,
      MAILSTACK_SYSTEMD_DIR: systemdDir,
      MAILSTACK_INITD_DIR: initd,
    },
    calls: () =>
      fs
        .readFileSync(path.join(dir, "calls"), "utf8")
        .split("\n")
        .filter((l) => l !== ""),
    running: (unit) => fs.existsSync(path.join(state, "running", unit)),
  };
}
