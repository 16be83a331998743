# Sourced by tests/tools/test_units.sh (the units of a build) and
# tests/package/test_units.sh (the installed units): the two checks both make,
# kept in one place so that the build and the package are held to the same
# rule. The caller defines fail MESSAGE (exits) and sets tmp to a folder of
# its own (systemd-analyze wants an XDG_RUNTIME_DIR, which root may not have).

# units_verify UNIT [OPTION...]: `systemd-analyze OPTION... verify UNIT` has
# not a word to say (a template is verified through an instance:
# DIR/chartsync@demo.service). OPTION: --user for a user unit, --man=no
# where the manual pages are not installed.
units_verify() {
  local unit=$1 out
  shift
  out=$(XDG_RUNTIME_DIR=$tmp systemd-analyze "$@" verify "$unit" 2>&1) ||
    fail "systemd-analyze verify $unit: $out"
  [ -z "$out" ] || fail "systemd-analyze verify $unit complains: $out"
}

# units_gate UNIT [--user]: the security gate, an exposure of 2.0 or lower
# (threshold 20); prints the exposure, fails above it.
units_gate() {
  local unit=$1 out rc
  shift
  set +e
  out=$(XDG_RUNTIME_DIR=$tmp systemd-analyze "$@" security --offline=yes --threshold=20 \
        "$unit" 2>&1)
  rc=$?
  set -e
  echo "$out" | grep 'Overall exposure level' || fail "no exposure for $unit: $out"
  [ "$rc" = 0 ] || fail "$unit is exposed above 2.0: $out"
}
