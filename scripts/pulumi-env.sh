# Environment for running Pulumi against the local sandbox. Source it:
#   source scripts/pulumi-env.sh
# It puts the pinned toolchain on PATH (building it on first use) and points
# Pulumi at a file:// backend that lives and dies with the sandbox host.
# shellcheck shell=bash

_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eval "$(bash "$_here/scripts/toolchain.sh")"
export MAILSTACK_STATE=${MAILSTACK_STATE:-/var/lib/mailstack-sandbox}
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$MAILSTACK_STATE/pulumi}
# Public on purpose: the sandbox stack holds no real secret (see Pulumi.sandbox.yaml).
export PULUMI_CONFIG_PASSPHRASE=${PULUMI_CONFIG_PASSPHRASE:-mailstack-sandbox}
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_UPDATE_CHECK=true
mkdir -p "$MAILSTACK_STATE/pulumi"
unset _here
