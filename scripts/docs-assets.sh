#!/usr/bin/env bash
# Assembles what GET /docs serves into $1 (default build/docs): our page and
# Swagger UI's bundle from the swagger-ui-dist npm package (installed from
# docs/package-lock.json). Without npm the gateway still serves /openapi.json
# and /docs explains what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/docs}
mkdir -p "$out"
dist=docs/node_modules/swagger-ui-dist
if [ ! -f "$dist/swagger-ui-bundle.js" ]; then
    if command -v npm >/dev/null 2>&1; then
        (cd docs && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            echo "docs-assets: npm ci failed; /docs will have no Swagger UI" >&2
    else
        echo "docs-assets: npm not found; /docs will have no Swagger UI" >&2
    fi
fi
cp docs/index.html docs/init.js "$out/"
if [ -f "$dist/swagger-ui-bundle.js" ]; then
    cp "$dist/swagger-ui-bundle.js" "$dist/swagger-ui.css" "$out/"
fi
