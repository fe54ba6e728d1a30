#!/usr/bin/env bash
# make demo: gitapply's main job, end to end, on the embedded local cluster (no Kubernetes needed).
# A desired-state repository (examples/repo) goes through diff, apply, a change in git, a change made out of
# band in the cluster, the drift check, healing, a rollback to the first commit, a CRD too large for client-side
# apply, and the move of the whole app to server-side apply.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPO="$WORK/ops"
export GITAPPLY_LOCAL="$WORK/cluster.db" GITAPPLY_CACHE="$WORK/cache"

gitapply() { "$PY" -m gitapply "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ gitapply %s\n' "$*"; set +e; gitapply "$@"; code=$?; set -e; printf '(exit %s)\n' "$code"; }
commit() { git -C "$REPO" -c user.name=demo -c user.email=demo@example.com commit -qam "$1"; }

cp -r examples/repo "$REPO"
git -C "$REPO" init -q -b main
git -C "$REPO" add -A
commit "shop: first release"
FIRST=$(git -C "$REPO" rev-parse --short HEAD)

say "1. What would change? (a new cluster: everything is created)"
run diff "$REPO" --no-color
say "2. Apply it, read from the commit (no checkout), pruning what git drops"
run apply "$REPO" --prune
run apply "$REPO" --prune

say "3. A change in git: new image, one setting removed"
sed -i 's#web:1.4.2#web:1.5.0#' "$REPO/shop/web.yaml"
sed -i '/region: eu-west-1/d' "$REPO/shop/settings.yaml"
commit "shop: 1.5.0"
run diff "$REPO" --no-color
run drift "$REPO"

say "4. Apply it"
run apply "$REPO" --prune

say "5. Someone edits the cluster by hand: an image swapped, a limit added, replicas scaled"
"$PY" - <<'PYEOF'
import os
from gitapply.cluster.local import LocalCluster
from gitapply.model import ObjectKey, PatchType
cluster = LocalCluster(os.environ["GITAPPLY_LOCAL"], field_manager="kubectl-edit")  # recorded as kubectl edit records it
web = ObjectKey("apps", "v1", "Deployment", "shop", "web")
cluster.patch(web, {"spec": {"replicas": 7, "template": {"spec": {"containers": [
    {"name": "web", "image": "evil.example.com/miner:latest", "resources": {"limits": {"cpu": "4"}}}]}}}},
    PatchType.STRATEGIC)
print("patched deployment.apps/web -n shop (as kubectl edit would)")
PYEOF
run drift "$REPO" --fail-on drift

say "6. Heal: git wins again; the hand-added limit goes too; replicas stay the HPA's"
run apply "$REPO" --heal-unmanaged
run drift "$REPO"

say "7. Roll back to the first release by applying its commit"
run diff "$REPO" --rev "$FIRST" --no-color
run apply "$REPO" --rev "$FIRST"
run drift "$REPO" --rev "$FIRST"
say "8. A CRD too large for client-side apply (its last-applied record would pass the 256 KiB annotation limit)"
"$PY" - "$REPO/shop/gadgets-crd.json" <<'PYEOF'
import json, sys
properties = {f"setting{i:04d}": {"type": "string", "description": "A documented setting. " * 12} for i in range(1000)}
crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "gadgets.shop.example.com"},
       "spec": {"group": "shop.example.com", "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                    "type": "object", "properties": {"spec": {"type": "object", "properties": properties}}}}}]}}
with open(sys.argv[1], "w") as handle:
    json.dump(crd, handle)
print(f"wrote shop/gadgets-crd.json: {len(json.dumps(crd))} bytes")
PYEOF
git -C "$REPO" add -A
commit "shop: the gadgets CRD"
run apply "$REPO"
run diff "$REPO" --no-color

say "9. Move the whole app to server-side apply: ownership moves from the last-applied records to managedFields"
run apply "$REPO" --server-side
run drift "$REPO" --server-side
say "Done: the same commands work against a real cluster with --kubeconfig instead of GITAPPLY_LOCAL."
