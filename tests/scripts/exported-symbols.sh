#!/bin/sh
# exported-symbols.sh NM PLUGIN.so...: each plugin's dynamic symbol table
# defines gst_plugin_NAME_get_desc, and nothing but that and
# gst_plugin_NAME_register (the two GST_PLUGIN_DEFINE exports).
# Allowed too: __bss_start, _edata and _end, the section bounds GNU ld
# defines itself and exports from a library when a library it links
# against exports them (libgstgl-1.0, libgstcuda-1.0 and libGL do, so
# spicegpu has them; only a version script on the link would drop them).
nm=$1
shift
rc=0
for lib in "$@"; do
  syms=$("$nm" -D --defined-only "$lib" | awk '{print $NF}') || exit 1
  echo "$lib:"
  echo "$syms" | sed 's/^/  /'
  echo "$syms" | grep -Eq '^gst_plugin_[a-z0-9_]+_get_desc$' || {
    echo "error: $lib does not export its plugin descriptor" >&2
    rc=1
  }
  extra=$(echo "$syms" | grep -Ev '^(gst_plugin_[a-z0-9_]+_(get_desc|register)|__bss_start|_edata|_end)$')
  if [ -n "$extra" ]; then
    echo "error: $lib exports $(echo "$extra" | wc -l) symbols besides the plugin descriptor:" >&2
    echo "$extra" | sed 's/^/  /' >&2
    rc=1
  fi
done
exit $rc
