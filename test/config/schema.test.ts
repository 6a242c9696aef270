// Pulumi.yaml's config block has one source: the concerns' settings.ts.
// `npm run schema` writes it; these tests fail when the two drift apart.
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../scripts/config-schema";
import { CONFIG_KEYS, duplicateKeys } from "../../src/config/keys";
import { renderSchema, withSchema } from "../../src/config/schema";
import { ROOT } from "../../src/core/template";

const PROJECT = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
const EXTRA = { type: "string", default: "", description: "A key on one side only.", example: "x" } as const;

describe("the config schema", () => {
  it("Pulumi.yaml's config block is exactly the one generated from the settings (npm run schema)", () => {
    expect(withSchema(PROJECT, CONFIG_KEYS)).toBe(PROJECT);
    expect(main(["--check"])).toBe(0);
  });

  it("a key added to the settings only is drift", () => {
    expect(withSchema(PROJECT, { ...CONFIG_KEYS, extraKey: EXTRA })).not.toBe(PROJECT);
  });

  it("a key added to Pulumi.yaml only is drift", () => {
    const edited = `${PROJECT}  extraKey:\n    type: string\n    default: ""\n    description: "hand-written"\n`;
    expect(withSchema(edited, CONFIG_KEYS)).not.toBe(edited);
    expect(withSchema(edited, CONFIG_KEYS)).toBe(PROJECT);
  });

  it("renders types, array items, defaults and descriptions as YAML Pulumi reads", () => {
    const block = renderSchema({
      domains: { type: "array", items: "object", description: 'With "quotes"', example: "x" },
      sshdOptions: { type: "object", default: {}, description: "d", example: "x" },
      sshPort: { type: "integer", default: 22, description: "d", example: "22" },
    });
    expect(block).toContain(
      "  domains:\n    type: array\n    items:\n      type: object\n    description: 'With \"quotes\"'",
    );
    expect(block).toContain("  sshdOptions:\n    type: object\n    default: {}\n");
    expect(block).toContain("  sshPort:\n    type: integer\n    default: 22\n");
  });

  it("every key has one owner: no two concerns declare the same key", () => {
    expect(duplicateKeys()).toEqual([]);
  });
});
