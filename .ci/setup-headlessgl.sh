#!/usr/bin/env bash
# Makes the `gl` module (headless WebGL, used by @prune/gpujs in `headlessgl` mode) work
# inside this workspace.
#
# How to call it:
#   - AFTER `pnpm install --frozen-lockfile` (it needs node_modules to find gpu.js's `gl`):
#       pnpm install --frozen-lockfile
#       bash .ci/setup-headlessgl.sh
#   - as root (or with sudo available) on Debian/Ubuntu: it installs missing apt packages.
#   - then run every test that may use headlessgl under a virtual display:
#       PRUNE_REQUIRE_HEADLESSGL=1 xvfb-run -a npx vitest run ...
#     (gl draws through GLX, so it needs an X display; `xvfb-run -a` provides one.)
#
# What it does, idempotently:
#   1. installs the Debian packages the build and the display need, if any is missing;
#   2. if `gl` does not load and create a context under Xvfb, restores a cached build (keyed
#      by gl version, Node ABI, platform) or rebuilds it from source with node-gyp (about
#      5 minutes on 2 cores) and caches the result;
#   3. checks that `gl` loads and creates a WebGL context under `xvfb-run -a`.
# Exits non-zero with a message saying what failed.
#
# Why not at `pnpm install` time: pnpm-workspace.yaml allows gl's install script, but on a
# machine without these packages (or without the Node headers at hand) it fails, and as an
# optional dependency of gpu.js that failure only skips it; `pnpm install` still succeeds
# and the headlessgl mode reports itself unavailable. This script is the step that makes
# it available.
#
# Environment:
#   PRUNE_GL_CACHE   cache folder for the built module
#                    (default: ${XDG_CACHE_HOME:-$HOME/.cache}/prune-headlessgl)
#   npm_config_nodedir  Node headers for node-gyp (default: /usr when /usr/include/node
#                    has node.h, as with Debian's nodejs; else node-gyp's own choice)
set -euo pipefail

log() { printf '[setup-headlessgl] %s\n' "$*"; }
fail() { printf '[setup-headlessgl] ERROR: %s\n' "$*" >&2; exit 1; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --- 1. Debian packages --------------------------------------------------------------------
PACKAGES=(libxi-dev libglu1-mesa-dev libglew-dev pkg-config libx11-dev libxext-dev
  mesa-common-dev xvfb xauth libgl1-mesa-dri g++ make python3)
missing=()
for p in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  command -v apt-get >/dev/null || fail "missing packages (${missing[*]}) and no apt-get; install them by hand"
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || fail "missing packages (${missing[*]}); run as root or install them by hand"
    SUDO=sudo
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || fail "apt-get update failed"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
else
  log "Debian packages already installed"
fi

# --- 2. locate gl as gpu.js resolves it ---------------------------------------------------
GL_DIR="$(node -e '
  const { createRequire } = require("node:module");
  const path = require("node:path");
  try {
    const gpujs = require.resolve("gpu.js/package.json", { paths: [process.argv[1]] });
    const req = createRequire(gpujs);
    console.log(path.dirname(req.resolve("gl/package.json")));
  } catch { process.exit(1); }
' "$ROOT/packages/gpujs")" || fail "gpu.js or its optional dependency gl is not in node_modules; run 'pnpm install --frozen-lockfile' first"
GL_VERSION="$(node -p 'require(process.argv[1] + "/package.json").version' "$GL_DIR")"
log "gl $GL_VERSION at $GL_DIR"

# Loads gl and creates a 1x1 WebGL context on the current display; prints the renderer.
probe_gl() {
  xvfb-run -a node -e '
    const createContext = require(process.argv[1]);
    const gl = createContext(1, 1, { preserveDrawingBuffer: true });
    if (!gl) { console.error("gl loaded but created no WebGL context"); process.exit(2); }
    console.log(gl.getParameter(gl.VERSION) + " / " + gl.getParameter(gl.RENDERER));
    gl.getExtension("STACKGL_destroy_context")?.destroy();
  ' "$GL_DIR" 2>&1
}

# --- 3. restore, or build, the native module ---------------------------------------------
ABI="$(node -p 'process.versions.modules')"
CACHE_ROOT="${PRUNE_GL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prune-headlessgl}"
CACHE_DIR="$CACHE_ROOT/gl-$GL_VERSION-node-abi$ABI-$(uname -s)-$(uname -m)"
RELEASE_DIR="$GL_DIR/build/Release"

if out="$(probe_gl)"; then
  log "gl already works: $out"
  exit 0
fi

if [[ -f "$CACHE_DIR/webgl.node" ]]; then
  log "restoring the cached gl build from $CACHE_DIR"
  mkdir -p "$RELEASE_DIR"
  cp -a "$CACHE_DIR/." "$RELEASE_DIR/"
  if out="$(probe_gl)"; then
    log "gl works (cached build): $out"
    exit 0
  fi
  log "the cached build does not load ($out); rebuilding"
fi

if [[ -z "${npm_config_nodedir:-}" && -f /usr/include/node/node.h ]]; then
  export npm_config_nodedir=/usr
fi
NODE_GYP="$(node -p 'require.resolve("node-gyp/bin/node-gyp.js", { paths: [process.argv[1]] })' "$GL_DIR")" \
  || fail "node-gyp (a dependency of gl) is missing from node_modules"
JOBS="$(nproc 2>/dev/null || echo 2)"
log "building gl from source with node-gyp (nodedir=${npm_config_nodedir:-default}, $JOBS jobs; takes minutes)"
BUILD_LOG="$(mktemp -t gl-build.XXXXXX.log)"
start=$SECONDS
if ! (cd "$GL_DIR" && node "$NODE_GYP" rebuild --jobs "$JOBS") >"$BUILD_LOG" 2>&1; then
  tail -n 40 "$BUILD_LOG" >&2
  fail "building gl failed (full log: $BUILD_LOG)"
fi
log "built gl in $((SECONDS - start)) s"

out="$(probe_gl)" || { printf '%s\n' "$out" >&2; fail "gl was built but cannot create a WebGL context under xvfb-run"; }
log "gl works: $out"

# Cache the native outputs (the addon and any shared libraries it was linked with).
if mkdir -p "$CACHE_DIR" 2>/dev/null; then
  find "$RELEASE_DIR" -maxdepth 1 -type f \( -name '*.node' -o -name '*.so' -o -name '*.so.*' \) \
    -exec cp -a {} "$CACHE_DIR/" \; && log "cached the build in $CACHE_DIR"
fi
