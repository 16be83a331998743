#!/usr/bin/env bash
# Removing the package (tests/package/run runs this last; it leaves the
# package removed and purged). A store in /var/lib/chartsync and a passphrase
# file in /etc/chartsync stand for a clinic's data: `dpkg -r chartsync` must
# take away every file `dpkg -L` listed (and each folder no other package
# owns) and leave them byte for byte; `dpkg --purge chartsync` must say what
# it leaves and why, and still leave them. Patient data is never deleted by a
# package tool. An instance the admin enabled stays enabled through both,
# and the messages say that disabling it is the admin's to do.
# usage: tests/package/removal.sh   (as root, with the package installed)
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fail() { echo "FAILED (removal): $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

[ "$(dpkg-query -W -f='${Status}' chartsync 2>/dev/null)" = "install ok installed" ] ||
  fail "chartsync is installed before the removal test"
name="package-test-$$"
store="/var/lib/chartsync/$name"
pass="/etc/chartsync/$name.passphrase"
work=$(mktemp -d)
# an instance the admin enabled, as `systemctl enable chartsync@NAME` links it
wants=/etc/systemd/system/multi-user.target.wants
link="$wants/chartsync@$name.service"
made_wants=
[ -d "$wants" ] || { mkdir -p "$wants"; made_wants=1; }
trap 'rm -rf "$work" "$store" "$pass"; rm -f "$link"; [ -z "$made_wants" ] || rmdir "$wants" 2>/dev/null || true' EXIT

# a store as a service's would be: made by the installed chartsync, owned by
# the system user when there is one
mkdir -p /var/lib/chartsync /etc/chartsync
CHARTSYNC_PASSPHRASE=pw chartsync --store "$store" init --user maria >/dev/null ||
  fail "the installed chartsync makes a store in /var/lib/chartsync"
CHARTSYNC_PASSPHRASE=pw chartsync --store "$store" --user maria add patient "name=Left Alone" mrn=KEEP-1 \
  >/dev/null || fail "the store takes a patient"
CHARTSYNC_PASSPHRASE=pw chartsync --store "$store" --user maria user add --service svc \
  --passphrase-file "$pass" >/dev/null || fail "a service user's passphrase file in /etc/chartsync"
! getent passwd _chartsync >/dev/null || chown -R _chartsync:_chartsync "$store"
snapshot() {
  (cd /var/lib/chartsync && find "$name" -printf '%p %m %u %s\n' -type f -exec sha256sum {} + | sort)
  sha256sum "$pass"
}
before=$(snapshot)
unit=$(dpkg -L chartsync | grep '/systemd/system/chartsync@\.service$' | head -1)
[ -n "$unit" ] || fail "the package installs chartsync@.service"
ln -s "$unit" "$link"

# no installed chartsync program may still run from files about to go (a
# test's leftover); a build folder's chartsync is none of this test's business
running=$(for p in /proc/[0-9]*; do
  case "$(readlink "$p/exe" 2>/dev/null)" in
    /usr/bin/chartsync|/usr/bin/chartsync-archive-hook) printf '%s ' "${p#/proc/}" ;;
  esac
done)
[ -z "$running" ] || fail "no installed chartsync process runs before the removal (pids: $running)"

# what the package installed, and which of its folders other packages share
dpkg -L chartsync | sort -u >"$work/listed"
while read -r path; do
  [ "$path" = /. ] && continue
  if [ -d "$path" ] && [ ! -L "$path" ]; then
    owners=$(dpkg -S "$path" 2>/dev/null | sed 's/: .*//' | tr ',' '\n' | tr -d ' ' | grep -v '^$' | sort -u)
    [ "$owners" = chartsync ] || continue
  fi
  echo "$path"
done <"$work/listed" >"$work/must_go"
grep -qx /usr/bin/chartsync "$work/must_go" || fail "dpkg -L chartsync lists /usr/bin/chartsync"

dpkg -r chartsync >"$work/remove.out" 2>&1 || { cat "$work/remove.out" >&2; fail "dpkg -r chartsync"; }
left=()
while read -r path; do
  if [ -e "$path" ] || [ -L "$path" ]; then left+=("$path"); fi
done <"$work/must_go"
[ ${#left[@]} = 0 ] || fail "dpkg -r removes everything the package installed; still there: ${left[*]}"
ok "dpkg -r removed all $(wc -l <"$work/must_go") files and folders of its own that dpkg -L listed"
[ "$(snapshot)" = "$before" ] || fail "dpkg -r leaves the store in $store and $pass as they were"
ok "dpkg -r left the store in /var/lib/chartsync and the passphrase file in /etc/chartsync untouched"
# the admin's enable link stays (their configuration), and dpkg -r says so
[ -L "$link" ] || fail "dpkg -r leaves the admin's link $link"
for says in "chartsync@$name" 'systemctl disable chartsync@NAME'; do
  grep -qF "$says" "$work/remove.out" ||
    fail "dpkg -r's message names '$says': $(cat "$work/remove.out")"
done
ok "dpkg -r left the enabled chartsync@$name enabled, and said that disabling it is the admin's to do"

dpkg --purge chartsync >"$work/purge.out" 2>&1 || { cat "$work/purge.out" >&2; fail "dpkg --purge chartsync"; }
cat "$work/purge.out"
for says in /var/lib/chartsync /etc/chartsync 'Patient data is never deleted by a package tool' \
    'systemctl disable chartsync@NAME'; do
  grep -qF "$says" "$work/purge.out" || fail "dpkg --purge's message names '$says'"
done
ok "dpkg --purge says what it leaves and why"
[ "$(snapshot)" = "$before" ] || fail "dpkg --purge leaves the store in $store and $pass as they were"
ok "dpkg --purge left the store and the passphrase file untouched"
status=$(dpkg-query -W -f='${db:Status-Status}' chartsync 2>/dev/null || echo not-installed)
[ "$status" = not-installed ] || fail "after the purge, dpkg knows chartsync as not installed (status: $status)"
ok "chartsync is purged"
