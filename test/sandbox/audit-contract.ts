// The audit report against the deployed e2e stack: the real command
// (`npm run audit`, which runs pulumi stack export and stack output itself)
// writes both files with every section, and no line of any secret the stack
// holds appears in them. test/sandbox/e2e.test.ts calls registerAuditTests.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, it } from "vitest";
import { AUDIT_SECTIONS } from "../../scripts/audit/report";
import { ROOT } from "../../src/core/template";

export interface AuditHooks {
  /** The deployed stack's name. */
  readonly stack: () => string;
  /** Every line of every secret the stack holds (deploy key, passwords, DKIM keys). */
  readonly secrets: () => string[];
}

export function registerAuditTests(opts: AuditHooks): void {
  it("the audit report renders for the stack, with every section, and holds no secret", () => {
    const stack = opts.stack();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailstack-audit-"));
    try {
      const r = spawnSync("npm", ["run", "--silent", "audit", "--", "--stack", stack, "--out", dir], {
        cwd: ROOT,
        encoding: "utf8",
        timeout: 120_000,
      });
      expect(r.status, `npm run audit failed: ${r.stderr}`).toBe(0);
      const markdown = fs.readFileSync(path.join(dir, `audit-${stack}.md`), "utf8");
      const json = fs.readFileSync(path.join(dir, `audit-${stack}.json`), "utf8");
      const doc = JSON.parse(json) as Record<string, unknown> & {
        stack: string;
        summary: { domains: number; dkimSelectors: number; certificateDaysLeft: number | null };
        policy: { rules: unknown[] };
        deliverability: { checks: { ok: boolean; manual: boolean }[] };
      };
      for (const [key, title] of AUDIT_SECTIONS) {
        expect(doc[key], key).toBeDefined();
        expect(markdown.includes(`\n## ${title}\n`), title).toBe(true);
      }
      expect(doc.stack).toBe(stack);
      expect(doc.summary.domains).toBeGreaterThan(0);
      expect(doc.summary.dkimSelectors).toBeGreaterThan(0);
      expect(doc.summary.certificateDaysLeft).toBeGreaterThan(0);
      expect(doc.policy.rules.length).toBeGreaterThan(0);
      expect(doc.deliverability.checks.some((c) => c.ok)).toBe(true);

      const secrets = opts.secrets();
      expect(secrets.length).toBeGreaterThan(0);
      // Booleans, not toContain: a failing assertion must not print the secret itself.
      const leaks = secrets.filter((l) => markdown.includes(l) || json.includes(l) || r.stdout.includes(l));
      expect(leaks.length, "lines of a secret found in the audit report").toBe(0);
      for (const mark of ["ciphertext", "-----BEGIN", "{ARGON2ID}", "{BLF-CRYPT}"]) {
        expect(markdown.includes(mark) || json.includes(mark), mark).toBe(false);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
