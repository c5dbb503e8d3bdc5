#!/usr/bin/env bash
# Shared by the README's two commands: installs the Debian packages that
# are missing (apt-get, as root), then configures and builds in ./build
# ($GST_SPICE_BUILDDIR when set: scripts/test-debian13.sh builds in
# build-debian13).  The same package names on Debian 12 and 13.
# `bootstrap.sh --list-packages` prints the list and does nothing else.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

packages=(
  meson ninja-build pkg-config gcc
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-plugins-base-apps
  libspice-client-glib-2.0-dev libspice-server-dev
  valgrind openssl
  gstreamer1.0-gl libegl-dev libgles-dev libgl-dev libdrm-dev
  libegl-mesa0 libgl1-mesa-dri
  libgstreamer-plugins-bad1.0-dev gstreamer1.0-plugins-bad
  libgstrtspserver-1.0-dev
)

if [ "${1:-}" = "--list-packages" ]; then
  echo "${packages[@]}"
  exit 0
fi
builddir=${GST_SPICE_BUILDDIR:-build}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "==> Installing missing Debian packages with apt-get (as root): ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "error: not root and no sudo; install these packages first: ${missing[*]}" >&2
    exit 1
  fi
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$builddir/build.ninja" ]; then
  echo "==> Configuring (meson setup $builddir)"
  meson setup "$builddir"
fi
echo "==> Building (ninja -C $builddir)"
ninja -C "$builddir"
