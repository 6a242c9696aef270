// The report's "Component versions" section: mailstack and the Pulumi CLI and
// plugins that wrote the state, the host's packages from the versions output,
// and the npm pins.
import { table } from "./markdown";
import { type Outputs, str } from "./outputs";
import type { StackState } from "./state";

/** The section as data: what the JSON report holds under its key. Pure. */
export function versionsOf(state: StackState, out: Outputs, pins: Readonly<Record<string, string>>) {
  const plugins = new Map<string, { name: string; kind: string; version: string }>();
  for (const p of state.plugins) plugins.set(`${p.kind} ${p.name} ${p.version}`, p);
  for (const r of state.resources.filter((x) => x.type.startsWith("pulumi:providers:"))) {
    const version = str(r.outputs.version) ?? str(r.inputs.version) ?? "";
    const name = r.type.slice("pulumi:providers:".length);
    plugins.set(`resource ${name} ${version}`, { name, kind: "resource", version });
  }
  return {
    mailstack: out.mailstackVersion ?? null,
    pulumiCli: state.cliVersion ?? null,
    plugins: [...plugins.values()].sort((a, b) => a.name.localeCompare(b.name)),
    packages: Object.entries(out.versions ?? {})
      .map(([name, version]) => ({ name, version }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    npm: Object.fromEntries(Object.entries(pins).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** The section's Markdown, below its heading. Pure. */
export function versionsMarkdown(versions: ReturnType<typeof versionsOf>): string[] {
  return [
    ...table(
      ["Component", "Version"],
      [
        ["mailstack", versions.mailstack],
        ["Pulumi CLI (wrote the state)", versions.pulumiCli],
        ...versions.plugins.map((p) => [`plugin ${p.name} (${p.kind})`, p.version] as const),
        ...Object.entries(versions.npm).map(([n, v]) => [`npm ${n} (package.json)`, v] as const),
      ],
    ),
    "",
    "Packages on the host, from the versions output: what each component's install printed when it last ran.",
    "",
    ...table(
      ["Package", "Version"],
      versions.packages.map((p) => [p.name, p.version]),
    ),
  ];
}
