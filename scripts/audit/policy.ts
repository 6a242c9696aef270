// The report's "Policy" section: each rule of the policy pack with what its
// evaluate() found over the export (the caller, cli.ts, runs it).
import type { PolicyFinding, PolicyRule } from "../../policy/rules";
import { table } from "./markdown";

/** The rules of the policy pack and what its evaluate() found over the export (policy/rules.ts). */
export interface PolicyResults {
  readonly rules: readonly Pick<PolicyRule, "name" | "description" | "enforcementLevel">[];
  readonly findings: readonly PolicyFinding[];
}

/** The section as data: what the JSON report holds under its key. Pure. */
export function policyOf(policy: PolicyResults) {
  const rules = policy.rules.map((r) => {
    const findings = policy.findings
      .filter((f) => f.rule === r.name)
      .map((f) => ({ urn: f.urn, resource: f.urn.split("::").pop() ?? f.urn, message: f.message }));
    return { ...r, passed: findings.length === 0, findings };
  });
  return {
    source:
      "policy/rules.ts over the export's inputs, each encrypted value as [secret]: what only an encrypted value holds (a secret push's files) is checked by the policy pack at preview, where the values are known",
    rules,
    mandatoryViolations: policy.findings.filter((f) => f.enforcementLevel === "mandatory").length,
    advisoryFindings: policy.findings.filter((f) => f.enforcementLevel === "advisory").length,
  };
}

/** The section's Markdown, below its heading. Pure. */
export function policyMarkdown(policy: ReturnType<typeof policyOf>): string[] {
  return [
    `${policy.mandatoryViolations} mandatory violations, ${policy.advisoryFindings} advisory findings. From ${policy.source}.`,
    "",
    ...table(
      ["Rule", "Level", "Result", "Description"],
      policy.rules.map((p) => [
        p.name,
        p.enforcementLevel,
        p.passed ? "pass" : `${p.findings.length} finding(s)`,
        p.description,
      ]),
    ),
    ...policy.rules.flatMap((p) => p.findings.map((f) => `- ${p.name}: ${f.resource}: ${f.message}`)),
  ];
}
