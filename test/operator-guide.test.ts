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
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

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
