#!/usr/bin/env bash
# The installed package's systemd side, as root after
# `apt-get install ./chartsync_*.deb`: the units are where systemd reads
# them, `systemd-analyze verify` has nothing to say about them (it checks
# that /usr/bin/chartsync exists and that the manual pages they name are
# installed), the security gate passes on the installed files, and the
# package's postinst made the system user and the folders.
# usage: test_units.sh   (exit 77: skipped, with the reason)
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
# units_verify, units_gate: the same checks tests/tools/test_units.sh makes
. "$(dirname "${BASH_SOURCE[0]}")/../support/units-check.sh"

command -v systemd-analyze >/dev/null || { echo "SKIPPED: no systemd-analyze here"; exit 77; }
[ -x /usr/bin/chartsync ] || fail "/usr/bin/chartsync is not installed"

find_unit() { # NAME DIR...: the first installed copy
  local name=$1 d
  shift
  for d in "$@"; do
    [ -f "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  return 1
}
sys=$(find_unit chartsync@.service /usr/lib/systemd/system /lib/systemd/system) ||
  fail "chartsync@.service is not in /usr/lib/systemd/system"
usr=$(find_unit chartsync.service /usr/lib/systemd/user) ||
  fail "chartsync.service is not in /usr/lib/systemd/user"
dpkg -S "$sys" >/dev/null 2>&1 || fail "$sys is not the package's"
dpkg -S "$usr" >/dev/null 2>&1 || fail "$usr is not the package's"
# made from the templates for prefix /usr: the program the package installs
for u in "$sys" "$usr"; do
  grep -qxF 'ExecStart=/usr/bin/chartsync daemon' "$u" || fail "$u does not run /usr/bin/chartsync daemon"
done
[ -f /usr/lib/sysusers.d/chartsync.conf ] || fail "/usr/lib/sysusers.d/chartsync.conf is missing"
[ -f /usr/lib/tmpfiles.d/chartsync.conf ] || fail "/usr/lib/tmpfiles.d/chartsync.conf is missing"

# ---- systemd-analyze verify: not a word (the template through an instance) ----
units_verify "$(dirname "$sys")/chartsync@demo.service"
units_verify "$usr" --user

# ---- the security gate on what was installed ----
units_gate "$sys"
units_gate "$usr" --user

# ---- the user and the folders the postinst made ----
pw=$(getent passwd _chartsync) || fail "the package did not make user _chartsync"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[ "$home" = /var/lib/chartsync ] || fail "_chartsync's home is $home"
[ "$uid" -lt 1000 ] || fail "_chartsync is not a system user (uid $uid)"
case "$shell" in */nologin | */false) ;; *) fail "_chartsync can log in (shell $shell)" ;; esac
[ "$(getent group _chartsync | cut -d: -f3)" = "$gid" ] ||
  fail "_chartsync's group is not _chartsync"
[ "$(stat -c '%a %U:%G' /etc/chartsync)" = "700 root:root" ] ||
  fail "/etc/chartsync is $(stat -c '%a %U:%G' /etc/chartsync), not 700 root:root"
[ "$(stat -c '%a %U:%G' /var/lib/chartsync)" = "750 _chartsync:_chartsync" ] ||
  fail "/var/lib/chartsync is $(stat -c '%a %U:%G' /var/lib/chartsync)"
echo "installed units: ok"
