#!/usr/bin/env bash
# The whole test suite, from a fresh machine: dependencies, lint, types, the
# toolchain, the sandbox host, then every vitest file (unit, runner and
# end-to-end). Run it as root with `npm test`; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
phase() { printf '\n== %s (%ss)\n' "$1" $(($(date +%s) - start)); }

phase "dependencies"
[ "$(id -u)" = 0 ] || { echo "run the suite as root: it builds network namespaces and a chroot" >&2; exit 1; }
if ! command -v shellcheck >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error

phase "lint and types"
npx biome check .
npx tsc --noEmit
shellcheck -x scripts/*.sh scripts/sandbox/*.sh files/push/runner.sh files/ufw/*.sh files/host/*.sh

phase "toolchain"
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
pulumi version

phase "sandbox"
bash scripts/sandbox.sh up

phase "tests"
npx vitest run
phase "done"
