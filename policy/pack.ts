// The rules of policy/rules.ts as CrossGuard resource policies. Each runs on
// every resource's inputs as the engine sends them (secrets unwrapped); an
// input unknown during preview makes @pulumi/policy report that the rule could
// not run, as an advisory, rather than pass.
import type { PolicyPackArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { RULES } from "./rules";

export const PACK_NAME = "mailstack";

/** The stack a URN belongs to: urn:pulumi:<stack>::<project>::<type>::<name>. Pure. */
export function stackOfUrn(urn: string): string {
  const m = /^urn:pulumi:([^:]+)::/.exec(urn);
  if (!m?.[1]) throw new Error(`policy: "${urn}" is not a Pulumi URN`);
  return m[1];
}

export const policies: ResourceValidationPolicy[] = RULES.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: rule.enforcementLevel,
  validateResource: (args, reportViolation) => {
    const r = { urn: args.urn, type: args.type, name: args.name, props: args.props };
    for (const message of rule.check(r, stackOfUrn(args.urn))) reportViolation(message);
  },
}));

export const packArgs: PolicyPackArgs = { policies };
