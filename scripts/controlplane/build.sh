#!/usr/bin/env bash
# Builds (once) the real control plane the integration tests start: kube-apiserver, kube-controller-manager
# and kubectl v1.20.2 from Debian's `kubernetes` source package, plus etcd 3.4 from Debian's etcd-server.
# Binaries are cached in ${GITAPPLY_CACHE:-~/.cache/gitapply}/k8s-v1.20.2/bin; a second run only checks them.
# Needs root (apt-get). Fails loudly, naming the step and its log, never leaving half a cache behind.
set -euo pipefail

VERSION=v1.20.2
CACHE="${GITAPPLY_CACHE:-$HOME/.cache/gitapply}"
BIN="$CACHE/k8s-$VERSION/bin"
WORK="$CACHE/build"
LOG="$CACHE/build-$VERSION.log"
BINARIES=(kube-apiserver kube-controller-manager kubectl)

say() { printf '[controlplane] %s\n' "$*"; }
fail() { printf '[controlplane] FAILED: %s\n[controlplane] log: %s\n' "$1" "$LOG" >&2; tail -n 30 "$LOG" >&2 || true; exit 1; }

have_binaries() {
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  command -v etcd >/dev/null 2>&1
}

if have_binaries; then
  say "ready: $BIN (etcd: $(command -v etcd))"
  exit 0
fi

mkdir -p "$CACHE"
# One build at a time per cache: a concurrent `make controlplane` waits for the first, then takes the fast path.
exec 9>"$CACHE/build.lock"
if ! flock -n 9; then
  say "another build holds $CACHE/build.lock; waiting for it"
  flock 9
fi
if have_binaries; then
  say "ready: $BIN (etcd: $(command -v etcd))"
  exit 0
fi
: >"$LOG"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

install_packages() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update >>"$LOG" 2>&1 || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
    || fail "apt-get install ${missing[*]}"
}

# deb-src for the same mirror and suites the machine already uses, so `apt-get source` finds kubernetes.
enable_sources() {
  local src=/etc/apt/sources.list.d/gitapply-src.sources
  [ -f "$src" ] && return 0
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src" >/dev/null
  else
    grep -h '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $SUDO tee /etc/apt/sources.list.d/gitapply-src.list >/dev/null
  fi
  $SUDO apt-get update >>"$LOG" 2>&1 || fail "apt-get update (deb-src)"
}

install_packages etcd-server golang-go rsync dpkg-dev golang-github-modern-go-reflect2-dev openssl ca-certificates
have_binaries && { say "ready: $BIN"; exit 0; }

enable_sources
start=$(date +%s)
rm -rf "$WORK" && mkdir -p "$WORK/src"
say "fetching Debian's kubernetes source package"
(cd "$WORK/src" && apt-get source --download-only kubernetes >>"$LOG" 2>&1 && dpkg-source -x --skip-patches ./kubernetes_*.dsc tree >>"$LOG" 2>&1) \
  || fail "apt-get source kubernetes"
TREE="$WORK/src/tree"
# Debian calls it 1.20.5+really1.20.2; anything else is not the server the tests are written against.
head -n 1 "$TREE/debian/changelog" | grep -Eq '(really|\()1\.20\.2[^0-9]' \
  || fail "Debian's kubernetes source is not v1.20.2: $(head -n 1 "$TREE/debian/changelog")"
# --skip-patches: Debian's three patches only change how kubectl prints tables (long strings, terminal
# escapes); without them kubectl is upstream v1.20.2, the oracle the differential tests compare against.

# Go 1.18+ broke reflect2 v1.0.1 (SIGSEGV serving custom resources); use Debian's 1.0.2 sources instead.
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -d "$REFLECT2" ] || fail "reflect2 sources not found at $REFLECT2"
rm -rf "$TREE/vendor/github.com/modern-go/reflect2"
cp -r "$REFLECT2" "$TREE/vendor/github.com/modern-go/reflect2"
rm -f "$TREE/vendor/github.com/modern-go/reflect2/go.mod" "$TREE/vendor/github.com/modern-go/reflect2/go.sum"

mkdir -p "$WORK/gopath/src/k8s.io"
ln -sfn "$TREE" "$WORK/gopath/src/k8s.io/kubernetes"
say "building ${BINARIES[*]} (about 8–10 minutes on 2 cores)"
(
  cd "$WORK/gopath/src/k8s.io/kubernetes"
  export GOPATH="$WORK/gopath" GO111MODULE=off GOFLAGS="" CGO_ENABLED=0 GOCACHE="$WORK/gocache"
  export KUBE_GIT_VERSION="$VERSION" KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=debian
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kubectl"
) >>"$LOG" 2>&1 || fail "make WHAT=cmd/kube-apiserver,cmd/kube-controller-manager,cmd/kubectl"

OUT=$(find "$TREE/_output" -type d -path '*/bin' | head -n 1)
rm -rf "$BIN.partial" && mkdir -p "$BIN.partial"
for b in "${BINARIES[@]}"; do
  [ -x "$OUT/$b" ] || fail "the build produced no $b under $TREE/_output"
  cp "$OUT/$b" "$BIN.partial/$b"
done
# Check before publishing: a cache that takes the fast path must hold binaries that run.
"$BIN.partial/kubectl" version --client --short 2>>"$LOG" | tee -a "$LOG" | grep -x "Client Version: $VERSION" >/dev/null \
  || fail "the built kubectl does not run or is not $VERSION"
"$BIN.partial/kube-apiserver" --version 2>>"$LOG" | grep -x "Kubernetes $VERSION" >/dev/null \
  || fail "the built kube-apiserver does not run or is not $VERSION"
rm -rf "$BIN" && mv "$BIN.partial" "$BIN"
rm -rf "$WORK"
say "built in $(( $(date +%s) - start )) s: $BIN"
