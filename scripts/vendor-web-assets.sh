#!/usr/bin/env bash
# Refreshes the front-end libraries embedded in the `tomoe` binary (crates/web/assets/vendor)
# from the npm registry. The page loads nothing from the internet: these copies are all it uses.
#
# Usage: scripts/vendor-web-assets.sh   (then commit crates/web/assets/vendor)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/crates/web/assets/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund --save-exact jquery@3.8.0 datatables.net@2.3.8 datatables.net-dt@2.3.8 >/dev/null
mkdir -p "$dest"
cp node_modules/jquery/dist/jquery.min.js "$dest/jquery.min.js"
cp node_modules/jquery/LICENSE.txt "$dest/LICENSE-jquery.txt"
cp node_modules/datatables.net/js/dataTables.min.js "$dest/dataTables.min.js"
cp node_modules/datatables.net/License.txt "$dest/LICENSE-datatables.txt"
cp node_modules/datatables.net-dt/css/dataTables.dataTables.min.css "$dest/dataTables.dataTables.min.css"
echo "jquery 3.8.0, datatables.net 2.3.8, datatables.net-dt 2.3.8 (npm)" > "$dest/VERSIONS"
echo "vendored into $dest"
