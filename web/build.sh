#!/usr/bin/env bash
# The 3D viewer report.html embeds (alphafold_msa/results/html_report.py), from the npm registry at the versions
# package-lock.json pins: 3Dmol.js's minified build and its licence into alphafold_msa/results/assets/.
#
#     bash web/build.sh
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund
assets=../alphafold_msa/results/assets
cp node_modules/3dmol/build/3Dmol-min.js "$assets/3Dmol-min.js"
{ cat node_modules/3dmol/LICENSE; echo; cat node_modules/3dmol/build/3Dmol-min.js.LICENSE.txt; } > "$assets/3Dmol-LICENSE.txt"
echo "web/build.sh: 3Dmol.js $(node -p 'require("./node_modules/3dmol/package.json").version') into $assets"
