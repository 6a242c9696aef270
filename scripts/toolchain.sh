#!/usr/bin/env bash
# Makes the Pulumi toolchain this repo pins available, building it from source
# when it is not installed:
#
#   eval "$(bash scripts/toolchain.sh)"
#
# stdout is exactly one `export PATH=...` line; progress and timings go to
# stderr. Versions come from the lockfile, so the CLI always matches the
# @pulumi/pulumi SDK and the command provider matches @pulumi/command.
#
# A machine with the pinned `pulumi` installed (plus its nodejs language host
# and the command plugin) builds nothing. Elsewhere three binaries are built
# into $MAILSTACK_CACHE/toolchain/bin (default ~/.cache/mailstack), outside the
# repo, each only when missing or when its version or sources changed:
#   pulumi                   the CLI, from github.com/pulumi/pulumi/pkg/v3
#   pulumi-language-nodejs   our own small host, scripts/toolchain/language-host
#   pulumi-resource-command  our stand-in provider, scripts/toolchain/command-provider
# The last two are ours because their upstream Go modules are not served by
# the module mirror this project can reach (see the comment atop their main.go).
# The printed $PATH is meant literally, for the caller's eval to expand.
#
#   eval "$(bash scripts/toolchain.sh servers)"
#
# builds instead the test servers, into the same directory, each from its Go
# module: pebble, the ACME server the sandbox runs (scripts/sandbox.sh), and
# minio and mc, the S3 server and its client, for the storage policy's
# contract test (test/concerns/backup/minio-policy.test.ts).
#
#   eval "$(bash scripts/toolchain.sh lint)"
#
# builds the linters that are not Debian packages, into the same directory:
# actionlint, which checks the GitHub Actions workflows (.github/workflows)
# and, with shellcheck on PATH, the scripts in their run: steps.
# shellcheck disable=SC2016
set -euo pipefail

mode=${1:-pulumi}
case $mode in
  pulumi | servers | lint) ;;
  *) printf 'toolchain: usage: toolchain.sh [servers|lint]\n' >&2; exit 2 ;;
esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${MAILSTACK_CACHE:-$HOME/.cache/mailstack}/toolchain
bin=$cache/bin
stamps=$cache/stamps
started=$(date +%s%N)

log() { printf 'toolchain: %s\n' "$*" >&2; }
die() {
  printf 'toolchain: error: %s\n' "$*" >&2
  exit 1
}
elapsed() { # ms since $1 (a `date +%s%N`), as seconds with one decimal
  local ms=$((($(date +%s%N) - $1) / 1000000))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}
version_ge() { # a b -> 0 when version a >= version b
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

# --- what the repo pins -----------------------------------------------------

command -v node >/dev/null 2>&1 ||
  die "node not found on PATH. Install Node.js 20 or newer (Debian: apt-get install nodejs npm), then run npm ci."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old: package.json needs Node.js >= 20."

[ -f "$here/package-lock.json" ] || die "no package-lock.json in $here"
[ -f "$here/node_modules/@pulumi/command/package.json" ] ||
  die "node_modules is missing or incomplete: run \`npm ci\` in $here first."

read -r pulumi_version command_version < <(node -e '
  const lock = require(process.argv[1] + "/package-lock.json");
  const cmd = require(process.argv[1] + "/node_modules/@pulumi/command/package.json");
  console.log(lock.packages["node_modules/@pulumi/pulumi"].version, cmd.pulumi.version);
' "$here")

export PULUMI_SKIP_UPDATE_CHECK=true
# Test servers built from their Go modules, pinned here. MinIO and mc have no
# semver tags (only RELEASE.* tags, which are not Go versions), so they are
# pinned to the pseudo-version of a commit: what `go list -m <module>@latest`
# resolved when they were pinned. Neither go.mod has replace directives, so
# `go install module@version` builds them as published.
PEBBLE_VERSION=v2.10.1
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
# The workflow linter, at a release tag.
ACTIONLINT_VERSION=v1.7.12

# --- an installed Pulumi needs nothing from us ------------------------------

# A plugin is reachable on PATH, in our cache, or in Pulumi's own plugin cache
# (where `pulumi plugin install` puts it on an ops laptop).
reachable() { # binary kind name version
  command -v "$1" >/dev/null 2>&1 || [ -x "$bin/$1" ] ||
    [ -x "${PULUMI_HOME:-$HOME/.pulumi}/plugins/$2-$3-v$4/$1" ]
}

installed=$(command -v pulumi 2>/dev/null || true)
if [ "$mode" = pulumi ] && [ -n "$installed" ] && [ "$installed" != "$bin/pulumi" ] &&
  [ "$(pulumi version 2>/dev/null)" = "v$pulumi_version" ] &&
  reachable pulumi-language-nodejs language nodejs "$pulumi_version" &&
  reachable pulumi-resource-command resource command "$command_version"; then
  log "using installed $installed (v$pulumi_version); nothing to build [$(elapsed "$started")]"
  # The engine prefers a plugin on PATH over its plugin cache, so our cache
  # joins PATH only when it holds the one command provider there is, and then
  # after the installed CLI.
  if ! command -v pulumi-resource-command >/dev/null 2>&1 &&
    [ ! -x "${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-command-v$command_version/pulumi-resource-command" ]; then
    printf 'export PATH="$PATH:%s"\n' "$bin"
  else
    printf 'export PATH="$PATH"\n'
  fi
  exit 0
fi

# --- otherwise build from source --------------------------------------------

command -v go >/dev/null 2>&1 ||
  die "go not found on PATH, and no pulumi v$pulumi_version is installed. Install Go 1.25.11 or newer
  (https://go.dev/dl, or Debian's golang package if new enough), or install the Pulumi CLI v$pulumi_version."
go_min=$(awk '$1 == "go" { print $2; exit }' "$here/scripts/toolchain/language-host/go.mod")
go_have=$(go env GOVERSION | sed 's/^go//')
version_ge "$go_have" "$go_min" ||
  die "go $go_have is too old: the Pulumi SDK needs Go $go_min or newer (GOTOOLCHAIN=local, so Go will not fetch one)."

export GOTOOLCHAIN=local
# -mod=mod lets the wrapper module record what `go build` resolves; no VCS
# stamping, so a dirty work tree does not change the binaries.
export GOFLAGS="-mod=mod -buildvcs=false"

mkdir -p "$bin" "$stamps"
# Two shells running this at once would race on the same outputs.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.lock"
  flock 9
fi

# up_to_date name stamp -> 0 when bin/name exists and was built from stamp.
up_to_date() { [ -x "$bin/$1" ] && [ "$(cat "$stamps/$1" 2>/dev/null)" = "$2" ]; }

# install_built name stamp tmpfile: replace atomically so a failed build never
# leaves a half-written binary that a later run would trust.
install_built() {
  mv -f "$3" "$bin/$1"
  printf '%s\n' "$2" >"$stamps/$1"
}

# Hash of a Go module's sources plus anything stamped into the binary.
source_stamp() { # dir extra...
  local dir=$1
  shift
  {
    printf '%s\n' "$@"
    (cd "$dir" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
      sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

# The CLI: a throwaway main module that depends on pkg/v3 and carries pkg's
# version-pinned replace lines (replaces only apply in the main module; its
# relative `=> ../sdk` one is dropped in favour of requiring the same sdk).
build_pulumi() {
  local stamp="v$pulumi_version" t0
  if up_to_date pulumi "$stamp"; then
    log "pulumi $stamp: cached"
    return
  fi
  # A binary from before stamps existed is adopted when it reports the version.
  if [ -x "$bin/pulumi" ] && [ "$("$bin/pulumi" version 2>/dev/null)" = "$stamp" ]; then
    printf '%s\n' "$stamp" >"$stamps/pulumi"
    log "pulumi $stamp: cached (adopted)"
    return
  fi

  t0=$(date +%s%N)
  log "pulumi $stamp: building from source (about 3-5 minutes on a cold Go cache)"
  local src=$cache/src/pulumi-$pulumi_version
  if [ ! -f "$src/go.mod" ]; then
    mkdir -p "$src"
    local pkgmod
    pkgmod=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$pulumi_version" |
      node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const m=JSON.parse(s);if(m.Error){console.error(m.Error);process.exit(1)}console.log(m.GoMod)})') ||
      die "could not fetch github.com/pulumi/pulumi/pkg/v3@v$pulumi_version from the Go module proxy"
    {
      printf 'module mailstack.local/pulumi-%s\n\ngo %s\n\n' "$pulumi_version" "$go_min"
      printf 'require github.com/pulumi/pulumi/sdk/v3 v%s\n\n' "$pulumi_version"
      # Single-line and block replaces alike; keep `old => new version` only.
      awk '/^replace \(/ { inblock = 1; next }
           inblock && /^\)/ { inblock = 0; next }
           { line = $0; sub(/^replace[ \t]+/, "", line) }
           (inblock || /^replace /) && line ~ /=>/ {
             split(line, side, "=>"); n = split(side[2], rhs, " ")
             if (n == 2 && rhs[1] !~ /^[.\/]/) print "replace " line
           }' "$pkgmod"
    } >"$src/go.mod.tmp"
    printf '//go:build tools\n\npackage main\n\nimport _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"\n' >"$src/tools.go"
    mv "$src/go.mod.tmp" "$src/go.mod"
    (cd "$src" && go get "github.com/pulumi/pulumi/pkg/v3@v$pulumi_version" >&2)
  fi
  (cd "$src" && go build -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$pulumi_version" \
    -o "$bin/.pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >&2)
  local got
  got=$("$bin/.pulumi.tmp" version)
  [ "$got" = "$stamp" ] || die "built pulumi reports $got, expected $stamp"
  install_built pulumi "$stamp" "$bin/.pulumi.tmp"
  log "pulumi $stamp: built [$(elapsed "$t0")]"
}

# One of our own modules under scripts/toolchain/, rebuilt when its sources or
# stamped version change. The version goes in with -X main.<var>=.
build_local() { # name dir ldflag-var version
  local name=$1 dir=$here/scripts/toolchain/$2 var=$3 version=$4 stamp t0
  [ -f "$dir/go.mod" ] || die "$dir/go.mod is missing"
  stamp=$(source_stamp "$dir" "$var=$version")
  if up_to_date "$name" "$stamp"; then
    log "$name $version: cached"
    return
  fi
  t0=$(date +%s%N)
  log "$name $version: building from $dir"
  (cd "$dir" && go build -trimpath -ldflags "-X main.$var=$version" -o "$bin/.$name.tmp" . >&2)
  install_built "$name" "$stamp" "$bin/.$name.tmp"
  log "$name $version: built [$(elapsed "$t0")]"
}

# A program from a published Go module, at a pinned version: `go install
# module/pkg@version` into a scratch GOBIN, then moved into place.
build_module() { # name package version
  local name=$1 pkg=$2 version=$3 t0 tmp
  if up_to_date "$name" "$pkg@$version"; then
    log "$name $version: cached"
    return
  fi
  t0=$(date +%s%N)
  log "$name $version: building from $pkg"
  tmp=$(mktemp -d "$cache/.gobin.XXXXXX")
  GOBIN=$tmp go install -trimpath "$pkg@$version" >&2 ||
    { rm -rf "$tmp"; die "could not build $pkg@$version from the Go module proxy"; }
  install_built "$name" "$pkg@$version" "$tmp/$name"
  rm -rf "$tmp"
  log "$name $version: built [$(elapsed "$t0")]"
}

if [ "$mode" = pulumi ]; then
  build_pulumi
  build_local pulumi-language-nodejs language-host version "$pulumi_version"
  build_local pulumi-resource-command command-provider providerVersion "$command_version"
elif [ "$mode" = lint ]; then
  build_module actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION"
else
  # The sandbox's ACME server: certbot on the test host gets its certificates
  # from it, as a real host does from Let's Encrypt.
  build_module pebble github.com/letsencrypt/pebble/v2/cmd/pebble "$PEBBLE_VERSION"
  # A real S3 server and client: the backup policy the stack writes is applied
  # to MinIO and checked by what its user can and cannot do.
  build_module minio github.com/minio/minio "$MINIO_VERSION"
  build_module mc github.com/minio/mc "$MC_VERSION"
fi

log "ready in $bin [$(elapsed "$started")]"
printf 'export PATH="%s:$PATH"\n' "$bin"
