#!/usr/bin/env bash
# The main job: toolchain, sandbox host, then `pulumi up --stack sandbox`, and
# a short summary. Run it as root on a fresh machine with `npm run sandbox`.
# Right after it, `pulumi preview --stack sandbox --expect-no-changes --policy-pack policy` passes
# (in a shell that has run `source scripts/pulumi-env.sh`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

t() { date +%s; }
start=$(t)
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund

step=$(t)
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
toolchain_s=$(($(t) - step))

step=$(t)
bash scripts/sandbox.sh up
sandbox_s=$(($(t) - step))

pulumi stack select sandbox 2>/dev/null || pulumi stack init sandbox --secrets-provider passphrase

step=$(t)
# The policy pack (policy/) checks every resource; a mandatory violation stops the up.
pulumi up --stack sandbox --yes --skip-preview --suppress-progress --policy-pack policy
up_s=$(($(t) - step))

echo
echo "== mailstack sandbox deployed in $(($(t) - start))s (toolchain ${toolchain_s}s, sandbox ${sandbox_s}s, pulumi up ${up_s}s)"
# shellcheck disable=SC2016 # JavaScript, not shell
pulumi stack output --stack sandbox --json | node -e '
  const o = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(`   host      ${o.hostname} (${o.host}), ${o.os}`);
  console.log(`   ports     ${o.openPorts.map((p) => p.port).join(" ")}`);
  console.log(`   domains   ${o.domains.join(" ")}`);
  console.log(`   packages  ${Object.entries(o.versions).map(([k, v]) => k + " " + v).join(", ")}`);'
echo "   next      source scripts/pulumi-env.sh && pulumi preview --stack sandbox --expect-no-changes --policy-pack policy"
