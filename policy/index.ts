// The policy pack's entry point, loaded by @pulumi/pulumi's run-policy-pack
// when a preview or update names this directory with --policy-pack.
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packArgs } from "./pack";

new PolicyPack(PACK_NAME, packArgs);
