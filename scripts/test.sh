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
# test clients of the LDAP host and the mail services, NSD and Python's DNS,
# SPF and DKIM libraries for the DNS tests, and PostgreSQL 15 for the
# throwaway clusters of the database tests (test/helpers/pg.ts starts its own; the
# system cluster is not used), and Debian's Dovecot, whose doveconf parses the
# obox fragment (test/concerns/dovecot/obox-doveconf.test.ts) and whose submission
# service runs from a temp dir with the stack's settings
# (test/concerns/dovecot/submission-size.test.ts; the system service is never started).
missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v ldapwhoami >/dev/null || missing+=(ldap-utils)
command -v swaks >/dev/null || missing+=(swaks)
command -v curl >/dev/null || missing+=(curl)
# DNS, SPF, DKIM and DMARC: the stack's zones are served by throwaway NSD
# servers (test/helpers/nsd.ts), asked by Debian's dnspython, pyspf and dkimpy
# (test/helpers/dns-check.py, run with /usr/bin/python3, not a python3 earlier on PATH).
[ -x /usr/sbin/nsd ] || missing+=(nsd)
/usr/bin/python3 -c 'import dkim, dns.resolver' 2>/dev/null || missing+=(python3-dkim python3-dnspython)
/usr/bin/python3 -c 'import spf' 2>/dev/null || missing+=(python3-spf)
[ -x /usr/bin/doveconf ] || missing+=(dovecot-core)
[ -x /usr/lib/dovecot/submission-login ] || missing+=(dovecot-submissiond)
# The security tests' scanners (test/sandbox/security-contract.ts): nmap for the port
# scan, testssl.sh for the TLS ports. Neither has a service.
command -v nmap >/dev/null || missing+=(nmap)
command -v testssl >/dev/null || missing+=(testssl.sh)
if [ ${#missing[@]} -gt 0 ]; then
  # No package may start its system service here (NSD would answer on port
  # 53 of every interface, Dovecot on its mail ports): policy-rc.d 101
  # forbids starts during the install. Only add one if the machine has none,
  # and remove it afterwards.
  policy_made=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from mailstack scripts/test.sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_made=1
  fi
  rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || rc=$?
  [ "$policy_made" = 0 ] || rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || exit "$rc"
  # The packages also enable their service for the next boot; the tests start
  # their own NSD and never a Dovecot.
  for pair in nsd:nsd dovecot-core:dovecot; do
    package=${pair%%:*} service=${pair#*:}
    [[ " ${missing[*]} " == *" $package "* ]] || continue
    now=()
    [ ! -d /run/systemd/system ] || now=(--now)
    if command -v systemctl >/dev/null; then
      systemctl disable "${now[@]}" "$service.service" >/dev/null 2>&1
    else
      update-rc.d "$service" disable >/dev/null
    fi || {
      echo "could not disable the $service system service; run: systemctl disable --now $service" >&2
      exit 1
    }
  done
fi
npm ci --no-audit --no-fund --loglevel=error

phase "lint and types"
npx biome check .
npx tsc --noEmit
find scripts bench files .ci -name '*.sh' -print0 | xargs -0 shellcheck -x
shellcheck -x .ci/run
# The GitHub Actions workflows, with actionlint built from its Go module
# (toolchain.sh lint); with shellcheck on PATH it checks their run: steps too.
eval "$(bash scripts/toolchain.sh lint)"
actionlint .github/workflows/*.yml

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
# The test servers from their Go modules: pebble for the sandbox, minio and mc
# for the storage policy's contract test in the unit phase.
bash scripts/toolchain.sh servers >/dev/null

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
