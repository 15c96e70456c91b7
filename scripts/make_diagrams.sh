#!/usr/bin/env sh
# Regenerate docs/diagrams/<model>.png, the README's pictures, from each shipped model's own view.
# Run from anywhere; run it again after editing a model's diagram.
set -eu
cd "$(dirname "$0")/.."
mkdir -p docs/diagrams
for model in models/*.xmile; do
    python -m sdvag diagram "$model" --out "docs/diagrams/$(basename "$model" .xmile).png"
done
