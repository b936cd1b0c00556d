#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
#
# 1. installs what the tests need when it is missing (Debian: redis-server, chromium; PyPI:
#    pyarrow, duckdb, hats, lsdb, pyvo for the cross-reading checks; npm: playwright-core for the browser test,
#    from tests/browser/package-lock.json);
# 2. cargo fmt --check, cargo clippy -D warnings;
# 3. every test (cargo-nextest when present, else cargo test), then doc tests.
#
# The build goes to a shared target directory outside the clone (CARGO_TARGET_DIR, default
# /var/tmp/tomoe-target) so repeated runs reuse it: a cold debug build takes ~6 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tomoe-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
apt_missing=()
command -v redis-server >/dev/null 2>&1 || apt_missing+=(redis-server)
[ -x /usr/bin/chromium ] || apt_missing+=(chromium)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "installing: ${apt_missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${apt_missing[@]}"
fi

# Python packages for the cross-checks that read our files as users would.
py_missing=()
for mod in pyarrow duckdb hats lsdb pyvo; do
  python3 -c "import $mod" >/dev/null 2>&1 || py_missing+=("$mod")
done
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "installing (pip): ${py_missing[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${py_missing[@]}"
fi

# The browser test's driver (headless Debian chromium through playwright-core).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "installing (npm): playwright-core"
  npm ci --prefix tests/browser --no-audit --no-fund --silent
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  # Doc tests first, so the run closes on nextest's summary of every test.
  cargo test --workspace --locked --doc
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
