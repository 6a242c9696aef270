// The layout's rules, checked on the source tree itself (README, Layout):
// imports point one way (core -> concerns -> config -> mailstack.ts ->
// index.ts), only src/config reads Pulumi's config, no source file is over
// 600 lines, and no unit test leans on a sandbox contract.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../src/core/template";

function files(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
    .filter((e) => e.name !== "node_modules" && e.name !== "__snapshots__")
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** The repo-relative modules `file` imports (relative imports only), without extension. */
function imports(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  return [...text.matchAll(/(?:from|import|require\()\s*"(\.[^"]+)"/g)].map((m) =>
    path.normalize(path.join(path.dirname(file), m[1] ?? "")),
  );
}

/** The layer of a source file, in the order imports may point (lower never imports higher). */
function layer(file: string): number {
  if (file.startsWith("src/core/")) return 0;
  if (file.startsWith("src/concerns/")) return 1;
  if (file.startsWith("src/config/") || file === "src/config.ts") return 2;
  if (file === "src/mailstack" || file === "src/mailstack.ts") return 3;
  return 4;
}

const SOURCES = files("src").filter((f) => f.endsWith(".ts"));

describe("the layout", () => {
  it("imports point one way: core -> concerns -> config -> mailstack.ts -> index.ts", () => {
    const backwards = SOURCES.flatMap((f) =>
      imports(f)
        .filter(
          (to) => layer(`${to}.ts`) > layer(f) || (to.startsWith("src/") === false && !to.startsWith("..")),
        )
        .map((to) => `${f} imports ${to}`),
    );
    expect(backwards).toEqual([]);
  });

  it("a concern reaches another concern's room only through files, never through config or wiring", () => {
    const concerns = SOURCES.filter((f) => f.startsWith("src/concerns/"));
    expect(concerns.length).toBeGreaterThan(20);
    const wrong = concerns.flatMap((f) =>
      imports(f)
        .filter((to) => to.startsWith("src/config") || to === "src/mailstack" || to === "index")
        .map((to) => `${f} imports ${to}`),
    );
    expect(wrong).toEqual([]);
  });

  it("every concern owns its settings: a settings.ts that declares KEYS and a component", () => {
    const rooms = fs.readdirSync(path.join(ROOT, "src/concerns"));
    expect(rooms.sort()).toEqual(
      [
        "backup",
        "database",
        "dkim",
        "dns",
        "dovecot",
        "fail2ban",
        "filter",
        "health",
        "host",
        "postfix",
        "tls",
      ].sort(),
    );
    for (const room of rooms.filter((r) => r !== "postfix")) {
      const settings = path.join(ROOT, "src/concerns", room, "settings.ts");
      expect(fs.existsSync(settings), room).toBe(true);
      expect(fs.readFileSync(settings, "utf8"), room).toMatch(/^export const KEYS = \{/m);
    }
  });

  it("only src/config reads Pulumi's config", () => {
    const readers = [...SOURCES, "index.ts"].filter((f) =>
      /new pulumi\.Config\(|runtime\.allConfig\(|getConfig\(/.test(
        fs.readFileSync(path.join(ROOT, f), "utf8"),
      ),
    );
    expect(readers).toEqual(["src/config/read.ts"]);
  });

  it("no source file is over 600 lines (tests and snapshots aside)", () => {
    const sources = ["src", "scripts", "files", "policy", "bench"]
      .flatMap(files)
      .concat(["index.ts", "test/helpers"].flatMap((p) => (p.endsWith(".ts") ? [p] : files(p))))
      .filter((f) => /\.(ts|sh)$/.test(f) && !f.includes("/toolchain/"));
    const long = sources
      .map((f) => ({ f, n: fs.readFileSync(path.join(ROOT, f), "utf8").split("\n").length - 1 }))
      .filter(({ n }) => n > 600)
      .map(({ f, n }) => `${f}: ${n} lines`);
    expect(sources.length).toBeGreaterThan(60);
    expect(long).toEqual([]);
  });

  it("no unit test imports a sandbox contract", () => {
    const tests = files("test").filter((f) => f.endsWith(".ts") && !f.startsWith("test/sandbox/"));
    const leaning = tests.flatMap((f) =>
      imports(f)
        .filter((to) => to.startsWith("test/sandbox/"))
        .map((to) => `${f} imports ${to}`),
    );
    expect(leaning).toEqual([]);
  });
});
