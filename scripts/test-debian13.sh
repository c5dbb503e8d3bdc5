#!/usr/bin/env bash
# The README's test command (scripts/test.sh) in a Debian 13 "trixie" root
# (GStreamer 1.26), from a Debian 12 host; CI runs it after the host's run.
#
# The root is made with mmdebstrap from Debian's archive, with the packages
# of scripts/bootstrap.sh, and kept in $GST_SPICE_ROOT_CACHE (default
# /var/cache/gst-spice) under a name made of the suite and a hash of the
# package list: a second run reuses it, a changed list makes a new one.
# GST_SPICE_DEBIAN13_REFRESH=1 makes it anew.  The source tree is
# bind-mounted at /gst-spice in the root and built in ./build-debian13 (the
# host's ./build is never touched).  /proc, /sys, /dev, /dev/pts and
# /dev/shm are bind-mounted for the run and unmounted on exit (also on
# Ctrl-C).  The exit code is the suite's verdict; the last line counts the
# Debian 13 run's tests: "N passed, N failed, N skipped".
#
# Needs root (mmdebstrap, chroot, mounts); re-runs itself with sudo when
# not root.  Arguments go to scripts/test.sh (so to meson test).
# `test-debian13.sh --shell [COMMAND...]` runs COMMAND (or an interactive
# shell) in the root instead, in the mounted tree, to look into a failure.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
suite=trixie
builddir=build-debian13
cache=${GST_SPICE_ROOT_CACHE:-/var/cache/gst-spice}
mnt=/gst-spice

if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "error: $0 needs root (mmdebstrap, chroot, mount) and there is no sudo" >&2
    exit 1
  }
  exec sudo --preserve-env=GST_SPICE_ROOT_CACHE,GST_SPICE_DEBIAN13_REFRESH \
    "$0" "$@"
fi

if ! command -v mmdebstrap >/dev/null; then
  echo "==> Installing mmdebstrap (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends mmdebstrap
fi

# the packages: bootstrap.sh's (the same names on 12 and 13), plus what
# test.sh itself runs (python3 for the closing line)
read -r -a packages <<<"$("$top/scripts/bootstrap.sh" --list-packages)"
packages+=(python3)
key=$(printf '%s\n' "$suite" "${packages[@]}" | sha256sum | cut -c1-16)
root=$cache/$suite-$key

mkdir -p "$cache"
# one run at a time (held until exit): runs share the root, its mounts,
# and cleanup kills whatever runs in it
exec 9>"$cache/.lock"
flock 9

if [ -n "${GST_SPICE_DEBIAN13_REFRESH:-}" ] && [ -d "$root" ]; then
  echo "==> Removing the cached root $root (GST_SPICE_DEBIAN13_REFRESH)"
  rm -rf --one-file-system "$root"
fi
if [ ! -f "$root/.gst-spice-complete" ]; then
  rm -rf --one-file-system "$root" "$root.new"
  echo "==> Making a Debian 13 root with mmdebstrap in $root"
  start=$(date +%s)
  mmdebstrap --variant=apt --include="$(IFS=,; echo "${packages[*]}")" \
    "$suite" "$root.new"
  touch "$root.new/.gst-spice-complete"
  mv "$root.new" "$root"
  echo "mmdebstrap: $(($(date +%s) - start)) s"
  # roots of other package lists are not used any more
  for old in "$cache/$suite"-*; do
    [ "$old" = "$root" ] || [ ! -d "$old" ] || rm -rf --one-file-system "$old"
  done
else
  echo "==> Reusing the Debian 13 root $root"
fi

mounted=()
cleanup() {
  local rc=$? pid i
  trap - EXIT INT TERM
  # processes still running in the root (a Ctrl-C mid-test): ours, by pid
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] &&
      kill -KILL "$pid" 2>/dev/null || true
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" ||
      echo "warning: could not unmount ${mounted[i]}" >&2
  done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# mounts left by a run that was killed (SIGKILL: no cleanup), deepest first
for m in $(findmnt -rn -o TARGET | grep "^$root/" | sort -r || true); do
  umount "$m" 2>/dev/null || umount -l "$m" || true
done

bind() {
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  mounted+=("$root$2")
}
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
bind /dev/shm /dev/shm
bind "$top" "$mnt"

echo "==> Debian 13: $(chroot "$root" dpkg-query -W -f='GStreamer ${Version}' \
  libgstreamer1.0-0), $(chroot "$root" dpkg-query -W \
  -f='spice-client-glib ${Version}' libspice-client-glib-2.0-8)"
# In the background with `wait`: bash runs a trap only once the foreground
# command is over, and a SIGTERM to this script alone must clean up at
# once (cleanup kills what runs in the root).  stdin stays the terminal.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GST_SPICE_BUILDDIR="$builddir" \
    /bin/bash -c 'cd "$1" && shift && "$@"' bash "$mnt" "$@" <&0 &
  wait $!
}
rc=0
if [ "${1:-}" = "--shell" ]; then
  shift
  [ $# -gt 0 ] || set -- /bin/bash -i
  in_root "$@" || rc=$?
  exit $rc
fi
rm -f "$top/$builddir/meson-logs/testlog.json"   # no stale verdict
in_root scripts/test.sh "$@" || rc=$?

# build-debian13 belongs to whoever ran sudo
if [ -n "${SUDO_UID:-}" ] && [ -d "$top/$builddir" ]; then
  chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$top/$builddir" || true
fi
echo "==> Debian 13 (GStreamer 1.26) suite:"
python3 "$top/scripts/test-summary.py" "$top/$builddir/meson-logs/testlog.json"
exit $rc
