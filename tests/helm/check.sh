#!/usr/bin/env bash
# Checks of the Helm chart and the plain manifests without a cluster (`make helm-check`).
# Needs helm in build/tools/bin (tests/tools/install-k8s-clients.sh) or $HELM, and Debian's
# /usr/bin/python3 with python3-yaml. See tests/helm/check.py for what is checked.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export HELM=${HELM:-$top/build/tools/bin/helm}
[ -x "$HELM" ] || "$top/tests/tools/install-k8s-clients.sh" >/dev/null
exec /usr/bin/python3 "$top/tests/helm/check.py"
