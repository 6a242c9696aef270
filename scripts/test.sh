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
# Needed here: shellcheck for the scripts, ldap-utils, swaks and curl as the
# test clients of the LDAP host and the mail services, dkimpy for DKIM, and PostgreSQL 15 for the throwaway clusters of the
# database tests (test/pg.ts starts its own; the system cluster is not used).
missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v ldapwhoami >/dev/null || missing+=(ldap-utils)
command -v swaks >/dev/null || missing+=(swaks)
command -v curl >/dev/null || missing+=(curl)
# DKIM: dkimpy verifies, against records a throwaway dnsmasq serves (dnsmasq-base
# comes with the sandbox's own packages).
/usr/bin/python3 -c 'import dkim, dns.resolver' 2>/dev/null || missing+=(python3-dkim python3-dnspython)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error

phase "lint and types"
npx biome check .
npx tsc --noEmit
find scripts bench files .ci -name '*.sh' -print0 | xargs -0 shellcheck -x
shellcheck -x .ci/run

phase "go: our language host and command provider"
for m in scripts/toolchain/language-host scripts/toolchain/command-provider; do
  unformatted=$(gofmt -l "$m")
  [ -z "$unformatted" ] || { echo "gofmt: $unformatted" >&2; exit 1; }
  (cd "$m" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go vet ./... && GOTOOLCHAIN=local GOFLAGS=-mod=mod go test ./...)
done

phase "toolchain"
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
pulumi version

phase "sandbox (a fresh host, so the first up is a cold deploy)"
bash scripts/sandbox.sh down
bash scripts/sandbox.sh up

phase "tests"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" || status=$?
phase "done"
# The plain summary line CI reads, from vitest's own counts.
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  // A file that fails before any test of it runs counts as one failure.
  const broken = r.testResults.filter(
    (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
  ).length;
  const failed = r.numFailedTests + broken;
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));' "$report"
rm -f "$report"
exit "$status"
