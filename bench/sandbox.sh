# shellcheck shell=bash
# What the benches share, sourced after each defines die(): the deployed
# sandbox's settings (sandbox.env, written by scripts/sandbox.sh), and ssh_,
# the command that runs something on its mail host.
env_file=${MAILSTACK_STATE:-/var/lib/mailstack-sandbox}/sandbox.env
[ -f "$env_file" ] || die "no sandbox ($env_file is missing); start it with: bash scripts/deploy-sandbox.sh"
# shellcheck disable=SC1090 # written by scripts/sandbox.sh
source "$env_file"
# shellcheck disable=SC2034 # used by the bench that sources this
ssh_=(ssh -i "$SANDBOX_KEY" -p "${SANDBOX_SSH_PORT:-22}" -o BatchMode=yes -o StrictHostKeyChecking=no
  -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$SANDBOX_USER@${SANDBOX_HOST:?sandbox.env names no SANDBOX_HOST}")
