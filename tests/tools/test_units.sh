#!/usr/bin/env bash
# packaging/systemd: the units as this build installs them. The build folder
# (found above CHARTSYNC) is installed with `cmake --install --prefix` into a
# folder of this test's own, and the units put there are checked: they run
# the program installed beside them (PREFIX/bin/chartsync: the units are
# made from their templates *.in at install time, so a prefix of
# /usr/local gets /usr/local/bin/chartsync and the package's /usr gets
# /usr/bin/chartsync), the settings the issue names are there (the unit
# names, the store per instance, the service user, the passphrase
# credential, notify, reload by SIGHUP, restart on failure);
# `systemd-analyze security` puts both units at an exposure of 2.0 or lower;
# `systemd-analyze verify` finds nothing wrong with either (the manual
# pages they name are checked by the installed package's test,
# tests/package/test_units.sh); the sysusers.d and tmpfiles.d snippets parse
# and make the user and folders promised.
# usage: test_units.sh CHARTSYNC SOURCE_DIR
set -euo pipefail
chartsync=$(realpath "$1")
src=$2/packaging/systemd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
# units_verify, units_gate: the same checks tests/package/test_units.sh makes
. "$(dirname "${BASH_SOURCE[0]}")/../support/units-check.sh"

command -v systemd-analyze >/dev/null || { echo "SKIPPED: no systemd-analyze here"; exit 77; }

# the templates name the program through the install step's bin folder
for t in chartsync@.service.in chartsync.service.in; do
  [ -f "$src/$t" ] || fail "packaging/systemd/$t is missing"
  grep -qxF 'ExecStart=@CMAKE_INSTALL_FULL_BINDIR@/chartsync daemon' "$src/$t" ||
    fail "packaging/systemd/$t does not run @CMAKE_INSTALL_FULL_BINDIR@/chartsync daemon"
done

# the build folder this CHARTSYNC belongs to, installed under a prefix
build=$(dirname "$chartsync")
while [ "$build" != / ] && [ ! -f "$build/CMakeCache.txt" ]; do build=$(dirname "$build"); done
[ -f "$build/CMakeCache.txt" ] || fail "no build folder (CMakeCache.txt) above $chartsync"
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  fail "cmake --install $build --prefix $prefix: $(cat "$tmp/install.log")"
sys=$prefix/lib/systemd/system/chartsync@.service
usr=$prefix/lib/systemd/user/chartsync.service
[ -f "$sys" ] || fail "cmake --install put no chartsync@.service in PREFIX/lib/systemd/system"
[ -f "$usr" ] || fail "cmake --install put no chartsync.service in PREFIX/lib/systemd/user"
[ -x "$prefix/bin/chartsync" ] || fail "cmake --install put no PREFIX/bin/chartsync"
for u in "$sys" "$usr"; do
  ! grep -n '@[A-Za-z_]*@' "$u" || fail "$(basename "$u") keeps a template's @NAME@"
done

# ---- what the issue names, line by line ----
has() { # FILE LINE: the unit holds exactly this line
  grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks the line '$2'"
}
has "$sys" "Type=notify"
has "$sys" "User=_chartsync"
has "$sys" "StateDirectory=chartsync/%i"
has "$sys" "LoadCredential=passphrase:/etc/chartsync/%i.passphrase"
has "$sys" "ExecStart=$prefix/bin/chartsync daemon"
has "$sys" "ExecReload=/bin/kill -HUP \$MAINPID"
has "$sys" "Restart=on-failure"
for line in ProtectSystem=strict ProtectHome=read-only PrivateTmp=yes PrivateDevices=yes \
    NoNewPrivileges=yes CapabilityBoundingSet= SystemCallFilter=@system-service \
    MemoryDenyWriteExecute=yes; do
  has "$sys" "$line"
  has "$usr" "$line"
done
for u in "$sys" "$usr"; do
  grep -qx 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' "$u" ||
    fail "$(basename "$u") restricts address families to the issue's list"
done
has "$usr" "Type=notify"
has "$usr" "ExecStart=$prefix/bin/chartsync daemon"
has "$usr" "ExecReload=/bin/kill -HUP \$MAINPID"
has "$usr" "Restart=on-failure"
# the user unit uses the store the person's own commands use: a
# StateDirectory= would hand the daemon ~/.local/state/chartsync instead
! grep -q '^StateDirectory=' "$usr" || fail "the user unit must not move the store (StateDirectory=)"
! grep -q '^User=' "$usr" || fail "a user unit runs as its user (no User=)"
# WatchdogSec= only because the daemon sends WATCHDOG=1
grep -q '^WatchdogSec=' "$sys" || fail "the system unit sets WatchdogSec="

# ---- the security gate (threshold 20 is an exposure of 2.0) ----
units_gate "$sys"
units_gate "$usr"
units_gate "$usr" --user

# a unit that is not hardened fails the gate: the gate can fail
cat >"$tmp/bare.service" <<EOF
[Service]
ExecStart=$chartsync daemon
EOF
if XDG_RUNTIME_DIR=$tmp systemd-analyze security --offline=yes --threshold=20 \
     "$tmp/bare.service" >/dev/null 2>&1; then
  fail "the gate let an unhardened unit through"
fi

# ---- verify, on the installed units, which run the installed program ----
units_verify "$(dirname "$sys")/chartsync@demo.service" --man=no
units_verify "$usr" --user --man=no

# ---- the sysusers.d and tmpfiles.d snippets ----
sysusers=$src/chartsync.sysusers
tmpfiles=$src/chartsync.tmpfiles
grep -qE '^u[[:space:]]+_chartsync[[:space:]]+-[[:space:]]+"[^"]+"[[:space:]]+/var/lib/chartsync([[:space:]]|$)' \
  "$sysusers" || fail "chartsync.sysusers makes user and group _chartsync, home /var/lib/chartsync"
grep -qE '^d[[:space:]]+/etc/chartsync[[:space:]]+0700[[:space:]]+root[[:space:]]+root' "$tmpfiles" ||
  fail "chartsync.tmpfiles makes /etc/chartsync for root only"
grep -qE '^d[[:space:]]+/var/lib/chartsync[[:space:]]+0750[[:space:]]+_chartsync[[:space:]]+_chartsync' \
  "$tmpfiles" || fail "chartsync.tmpfiles makes /var/lib/chartsync 0750 _chartsync"
if command -v systemd-sysusers >/dev/null; then
  # parsed against an empty root: it would add the user and the group
  mkdir -p "$tmp/root/etc" "$tmp/root/usr/lib/sysusers.d"
  cp "$sysusers" "$tmp/root/usr/lib/sysusers.d/chartsync.conf"
  out=$(systemd-sysusers --root="$tmp/root" --dry-run 2>&1) ||
    fail "systemd-sysusers refuses chartsync.sysusers: $out"
  echo "$out" | grep -q "_chartsync" || fail "systemd-sysusers would not add _chartsync: $out"
fi
if command -v systemd-tmpfiles >/dev/null; then
  # applied to an empty root (as root only: it would set owners)
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$tmp/root/etc" "$tmp/root/var/lib" "$tmp/root/usr/lib/tmpfiles.d"
    cp "$tmpfiles" "$tmp/root/usr/lib/tmpfiles.d/chartsync.conf"
    printf '_chartsync:x:990:990::/var/lib/chartsync:/usr/sbin/nologin\n' >"$tmp/root/etc/passwd"
    printf '_chartsync:x:990:\n' >"$tmp/root/etc/group"
    out=$(systemd-tmpfiles --root="$tmp/root" --create 2>&1) ||
      fail "systemd-tmpfiles refuses chartsync.tmpfiles: $out"
    [ "$(stat -c '%a %u:%g' "$tmp/root/etc/chartsync")" = "700 0:0" ] ||
      fail "/etc/chartsync is $(stat -c '%a %u:%g' "$tmp/root/etc/chartsync")"
    [ "$(stat -c '%a %u:%g' "$tmp/root/var/lib/chartsync")" = "750 990:990" ] ||
      fail "/var/lib/chartsync is $(stat -c '%a %u:%g' "$tmp/root/var/lib/chartsync")"
  fi
fi
echo "units: ok"
