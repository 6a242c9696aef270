#!/usr/bin/env bash
# Deployment timings against a fresh sandbox host, printed as a table:
# sandbox creation, the first (cold) up, a no-op preview, a no-op up, and a
# one-setting change with the number of remote commands it ran.
# Usage (as root): bash bench/deploy.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh

stack=bench
file=Pulumi.$stack.yaml
now() { date +%s.%N; }
since() { node -e 'console.log((process.argv[2] - process.argv[1]).toFixed(1))' "$1" "$(now)"; }
results=()
record() { results+=("$(printf '%-38s %8s' "$1" "$2")"); }

t=$(now)
bash scripts/sandbox.sh down >/dev/null 2>&1
bash scripts/sandbox.sh up >/dev/null 2>&1
record "sandbox: fresh host (down + up), s" "$(since "$t")"

# shellcheck disable=SC1091
source "${MAILSTACK_STATE}/sandbox.env"
node -e '
  const y = require("js-yaml"), fs = require("fs");
  const s = y.load(fs.readFileSync("Pulumi.sandbox.yaml", "utf8"));
  s.config["mailstack:sshPrivateKeyPath"] = process.argv[2];
  fs.writeFileSync(process.argv[1], y.dump({ encryptionsalt: s.encryptionsalt, config: s.config }));' "$file" "$SANDBOX_KEY"
trap 'pulumi destroy --stack $stack --yes >/dev/null 2>&1 || true; pulumi stack rm $stack --yes >/dev/null 2>&1 || true; rm -f $file' EXIT
pulumi stack init "$stack" --secrets-provider passphrase >/dev/null

t=$(now)
pulumi up --stack "$stack" --yes --skip-preview --suppress-progress >/dev/null
record "first up (cold host), s" "$(since "$t")"

t=$(now)
pulumi preview --stack "$stack" --expect-no-changes >/dev/null
record "no-op preview, s" "$(since "$t")"

t=$(now)
pulumi up --stack "$stack" --yes --skip-preview --expect-no-changes >/dev/null
record "no-op up, s" "$(since "$t")"

pulumi config set --stack "$stack" mailstack:timezone Europe/Berlin
# Each updated push is one remote command; the preview says how many will run.
planned=$(pulumi preview --stack "$stack" --json | node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(s.changeSummary?.update ?? 0)')
t=$(now)
pulumi up --stack "$stack" --yes --skip-preview --suppress-progress >/dev/null
record "one-setting change (timezone) up, s" "$(since "$t")"
record "  remote commands it ran" "$planned"

echo
echo "mailstack deployment benchmark ($(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB, $(date -u +%F))"
printf '%s\n' "${results[@]}"
