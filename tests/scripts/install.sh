#!/bin/sh
# install.sh BUILD_DIR PREFIX PLUGINS_DIR HELPER_DIR WITH_SERVER PLUGIN...
# `meson install` into a fresh DESTDIR, then the installed tree as a user
# meets it: gst-inspect-1.0 finds each PLUGIN there (GST_PLUGIN_PATH on the
# DESTDIR's plugin folder), and the installed spicesrc runs against the
# test server with the installed client helper (found relative to the
# plugin: nothing of the build tree is used).
set -eu
build=$1 prefix=$2 plugins=$3 helper=$4 with_server=$5
shift 5

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" >"$dest/install.log" 2>&1 || {
  cat "$dest/install.log" >&2
  exit 1
}
pdir=$dest$prefix/$plugins
hpath=$dest$prefix/$helper/gst-spice-client
echo "installed:"
(cd "$dest" && find . -type f ! -name install.log | sort | sed 's/^/  /')
[ -x "$hpath" ] || { echo "error: no helper at $hpath" >&2; exit 1; }

unset GST_SPICE_CLIENT_HELPER GST_PLUGIN_PATH
export GST_PLUGIN_PATH_1_0="$pdir"
export GST_REGISTRY_1_0="$dest/registry.bin"
for plugin in "$@"; do
  out=$(gst-inspect-1.0 "$plugin") || {
    echo "error: gst-inspect-1.0 $plugin failed with GST_PLUGIN_PATH=$pdir" >&2
    exit 1
  }
  file=$(printf '%s\n' "$out" | awk '$1 == "Filename" {print $2}')
  echo "$plugin: $file"
  [ "$file" = "$pdir/libgst$plugin.so" ] || {
    echo "error: $plugin was loaded from '$file', not from $pdir" >&2
    exit 1
  }
done
gst-inspect-1.0 spicesrc >/dev/null

log=$dest/launch.log
GST_DEBUG=spicesession:4 GST_DEBUG_NO_COLOR=1 "$with_server" --size 320x240 -- \
  sh -c 'exec gst-launch-1.0 spicesrc uri="$SPICE_URI" audio=false ! fakesink num-buffers=10' \
  >"$log" 2>&1 || {
  cat "$log" >&2
  echo "error: the installed spicesrc did not play" >&2
  exit 1
}
grep "client helper" "$log" | sed 's/.*spicesession/spicesession/'
grep -q "client helper $hpath started" "$log" || {
  echo "error: the installed plugin did not start the installed helper $hpath" >&2
  exit 1
}
