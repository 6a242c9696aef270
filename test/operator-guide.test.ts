// docs/operator-guide.md against the repository: the README points at each of
// its sections, every link lands on a heading, every setting it names is one
// of the stack's, and every error its troubleshooting table quotes is one the
// stack really prints.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS } from "../src/config";
import { ROOT } from "../src/core/template";

const GUIDE_PATH = "docs/operator-guide.md";
const GUIDE = fs.readFileSync(path.join(ROOT, GUIDE_PATH), "utf8");
const README_PATH = "README.md";
const README = fs.readFileSync(path.join(ROOT, README_PATH), "utf8");

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. Pure. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function anchors(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,4} (.+)$/gm)].map((m) => slug(m[1] ?? "")));
}

/** The targets of every [text](target) link. Pure. */
function links(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1] ?? "");
}

/** Every file under dir, recursively. */
function files(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/**
 * The refreshes an operator is told to run that cannot reach PostgreSQL in
 * managed mode: `pulumi refresh`, or `pulumi up`/`preview` with `--refresh`,
 * without `--run-program` (only the program opens the tunnel). In Markdown,
 * every code span and fenced line counts; in any other file, every line. Pure.
 */
/** A fenced code block, also indented under a list item; group 1 is its body. */
const FENCE = /^ *```[^\n]*\n([\s\S]*?)^ *```/gm;

function refreshesWithoutProgram(text: string, markdown: boolean): string[] {
  const commands = markdown
    ? [
        ...[...text.matchAll(FENCE)].flatMap((m) => (m[1] ?? "").split("\n")),
        ...[...text.replace(FENCE, "").matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ""),
      ]
    : text.split("\n");
  return commands
    .map((c) => c.replace(/\s+/g, " ").trim())
    .filter((c) => /\bpulumi refresh\b/.test(c) || /\bpulumi (up|preview)\b.*--refresh\b/.test(c))
    .filter((c) => !c.includes("--run-program"));
}

describe("the operator guide", () => {
  const sections = [...GUIDE.matchAll(/^## (.+)$/gm)].map((m) => m[1] ?? "");

  it("has the sections the README promises, each linked from the README", () => {
    expect(sections).toEqual([
      "First deploy to an Ubuntu 22.04 server",
      "Adding a domain, a user or an alias",
      "Rotating DKIM",
      "Restoring from backup",
      "Upgrading",
      "Moving from an existing server",
      "Troubleshooting",
      "Monitoring and audits",
    ]);
    const fromReadme = links(README).filter((l) => l.startsWith(`${GUIDE_PATH}#`));
    expect(fromReadme.map((l) => l.slice(GUIDE_PATH.length + 1))).toEqual(sections.map(slug));
  });

  it("links only to headings that exist, in itself and in the README", () => {
    const own = anchors(GUIDE);
    const readme = anchors(README);
    const broken = links(GUIDE).filter((l) => {
      if (l.startsWith("#")) return !own.has(l.slice(1));
      if (l.startsWith("../README.md#")) return !readme.has(l.slice("../README.md#".length));
      return !l.startsWith("https://");
    });
    expect(broken).toEqual([]);
    const readmeBroken = links(README).filter(
      (l) =>
        (l.startsWith("#") && !readme.has(l.slice(1))) ||
        (l.startsWith("docs/") && !fs.existsSync(path.join(ROOT, l.split("#")[0] ?? ""))),
    );
    expect(readmeBroken).toEqual([]);
  });

  it("names only settings the stack has", () => {
    const known = new Set(Object.keys(CONFIG_KEYS));
    const named = [
      ...[...GUIDE.matchAll(/mailstack:([a-zA-Z0-9]+)/g)].map((m) => m[1] ?? ""),
      // The top key of every --path, such as users in 'users[1].address'.
      ...[...GUIDE.matchAll(/--path '([a-zA-Z0-9]+)[[.]/g)].map((m) => m[1] ?? ""),
    ];
    expect(named.length).toBeGreaterThan(20);
    expect([...new Set(named)].filter((k) => !known.has(k))).toEqual([]);
  });

  it("quotes in its troubleshooting table only errors the stack prints", () => {
    const table = GUIDE.split("## Troubleshooting")[1]?.split("Pulumi's own messages")[0] ?? "";
    const quoted = [...table.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1] ?? "");
    expect(quoted.length).toBeGreaterThan(20);
    const sources = ["index.ts", ...files(path.join(ROOT, "src")), ...files(path.join(ROOT, "files"))].map(
      (f) => fs.readFileSync(path.resolve(ROOT, f), "utf8"),
    );
    expect(quoted.filter((q) => !sources.some((s) => s.includes(q)))).toEqual([]);
  });

  it("uses only the restore and backup commands the host gets, with their options", () => {
    const restore = fs.readFileSync(path.join(ROOT, "files/backup/mailstack-restore.sh"), "utf8");
    const usage = restore.split("\n# ID defaults")[0] ?? "";
    const options = [...GUIDE.matchAll(/mailstack-restore((?: --[a-z-]+(?: [^\s`-][^\s`]*)?)+)/g)].flatMap(
      (m) => [...(m[1] ?? "").matchAll(/--[a-z-]+/g)].map((o) => o[0]),
    );
    expect(new Set(options)).toEqual(new Set(["--snapshot", "--mailbox", "--database-into", "--all"]));
    expect(options.filter((o) => !usage.includes(o))).toEqual([]);
    const backup = fs.readFileSync(path.join(ROOT, "files/backup/mailstack-backup.sh"), "utf8");
    for (const sub of GUIDE.matchAll(/mailstack-backup ([a-z]+)/g)) {
      expect(backup).toContain(`#   mailstack-backup ${sub[1]}`);
    }
  });
});

describe("refresh instructions (issue 17: a plain refresh cannot reach PostgreSQL in managed mode)", () => {
  it("the check sees a plain refresh in a code span, a fenced block and a script, and passes one with --run-program", () => {
    expect(refreshesWithoutProgram("run `pulumi refresh --stack prod` now", true)).toEqual([
      "pulumi refresh --stack prod",
    ]);
    expect(refreshesWithoutProgram("```sh\npulumi up --refresh --stack prod\n```\n", true)).toHaveLength(1);
    expect(
      refreshesWithoutProgram("- a\n\n  ```sh\n  pulumi refresh\n  ```\n\n`pulumi refresh -s x`", true),
    ).toEqual(["pulumi refresh", "pulumi refresh -s x"]);
    expect(refreshesWithoutProgram('pulumi preview --refresh --stack "$STACK"\n', false)).toHaveLength(1);
    expect(
      refreshesWithoutProgram("`pulumi refresh --run-program --stack prod`, plain `refresh`", true),
    ).toEqual([]);
  });

  it("no document, script or workflow tells an operator to refresh without --run-program", () => {
    const markdown = [
      README_PATH,
      GUIDE_PATH,
      ...files(path.join(ROOT, "docs")).map((f) => path.relative(ROOT, f)),
    ];
    const others = ["scripts", "files", "bench", "workflows", ".github"]
      .filter((d) => fs.existsSync(path.join(ROOT, d)))
      .flatMap((d) => files(path.join(ROOT, d)))
      .filter((f) => /\.(sh|ts|js|ya?ml|md)$/.test(f) || !path.basename(f).includes("."))
      .map((f) => path.relative(ROOT, f));
    const found = [...new Set(markdown)].flatMap((f) =>
      refreshesWithoutProgram(fs.readFileSync(path.join(ROOT, f), "utf8"), true).map((c) => `${f}: ${c}`),
    );
    for (const f of others) {
      const text = fs.readFileSync(path.join(ROOT, f), "utf8");
      found.push(...refreshesWithoutProgram(text, f.endsWith(".md")).map((c) => `${f}: ${c}`));
    }
    expect(found).toEqual([]);
    // The places that do tell an operator to refresh say it right.
    expect(GUIDE).toContain("`pulumi refresh --run-program --stack prod`");
    expect(README).toContain("`pulumi refresh --run-program --stack prod`");
  });
});
