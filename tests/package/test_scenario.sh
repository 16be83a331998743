#!/usr/bin/env bash
# The installed package at work, as a clinic's IT person would use it: only
# /usr/bin/chartsync and /usr/bin/chartsync-archive-hook, never a build
# folder. A clinic's store with a service user and a patient; an archive made
# with `chartsync archive init`, whose pre-receive hook must be the installed
# chartsync-archive-hook, served by `git daemon` on 127.0.0.1 so that every
# push goes through that hook; an archivist's organisation that enrolls the
# clinic and a second clinic; the service user syncs the clinic's work, the
# second clinic receives the patient; plain git pushes that the hook must
# refuse are refused. Then the manual: `man chartsync` finds the installed
# page, and every installed page renders without a warning.
# usage: tests/package/test_scenario.sh   (after the package is installed;
# tests/package/run does both)
set -euo pipefail
# Only the system's folders: a build folder on PATH would test the build,
# not the package.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# the port helper (tests/support), found before this script changes folder
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/free-port.sh"
fail() { echo "FAILED (test_scenario): $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

[ "$(command -v chartsync)" = /usr/bin/chartsync ] ||
  fail "chartsync on PATH is /usr/bin/chartsync (found: $(command -v chartsync || echo none))"
dpkg -S /usr/bin/chartsync /usr/bin/chartsync-archive-hook >/dev/null 2>&1 ||
  fail "/usr/bin/chartsync and /usr/bin/chartsync-archive-hook belong to the installed package"
ok "chartsync is /usr/bin/chartsync, from the package ($(dpkg-query -W -f='${Version}' chartsync))"

work=$(mktemp -d /tmp/chartsync-package.XXXXXX)
daemon_pid=
cleanup() {
  [ -z "$daemon_pid" ] || kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
unset CHARTSYNC_STORE CHARTSYNC_USER CHARTSYNC_PASSPHRASE CHARTSYNC_PASSPHRASE_FILE
cd "$work"

# ---- a clinic's store: an admin, a service user, a patient ----
clinic() { CHARTSYNC_PASSPHRASE="maria's passphrase" chartsync --store "$work/clinic" --user maria "$@"; }
scanner() { CHARTSYNC_PASSPHRASE_FILE="$work/scanner.pass" chartsync --store "$work/clinic" --user scanner "$@"; }
clinic init --terminal front-desk >/dev/null || fail "chartsync init makes a store"
clinic user add --service scanner --passphrase-file "$work/scanner.pass" >/dev/null ||
  fail "user add --service makes a service user"
[ "$(stat -c %a "$work/scanner.pass")" = 600 ] || fail "the service's passphrase file is mode 0600"
# (output into a variable first: grep -q stops reading at the first match,
# and under pipefail the writer's SIGPIPE would fail the pipeline)
users=$(clinic user ls)
grep -Eq '^scanner +service' <<<"$users" || fail "user ls lists scanner as a service user: $users"
pat=$(clinic add patient "name=Ada Package" mrn=PKG-1 dob=1961-12-10) ||
  fail "the admin adds a patient"
shown=$(clinic show "${pat:0:8}")
grep -q 'Ada Package' <<<"$shown" || fail "the patient reads back: $shown"
ok "a store with a service user and a patient"

# ---- the archive: its hook is the installed program ----
mkdir "$work/srv"
made=$(chartsync archive init "$work/srv/archive.git") || fail "chartsync archive init"
grep -q '/usr/bin/chartsync-archive-hook' <<<"$made" ||
  fail "archive init says its hook runs /usr/bin/chartsync-archive-hook: $made"
grep -q "^exec '/usr/bin/chartsync-archive-hook'" "$work/srv/archive.git/hooks/pre-receive" ||
  fail "the archive's pre-receive hook runs /usr/bin/chartsync-archive-hook"
ok "archive init found /usr/bin/chartsync-archive-hook and made it the pre-receive hook"

# git daemon on 127.0.0.1, on a port nobody else uses (tests/support/free-port.sh)
listen_on_free_port "$work/daemon.log" git daemon --reuseaddr --export-all --enable=receive-pack \
    --listen=127.0.0.1 --port={PORT} --base-path="$work/srv" "$work/srv" ||
  fail "git daemon listens on a free port of 127.0.0.1: $(cat "$work/daemon.log")"
daemon_pid=$PORT_PID port=$PORT
url="git://127.0.0.1:$port/archive.git"
ok "git daemon serves the archive at $url"

# ---- the organisation: the archivist enrolls both clinics ----
archivist() { CHARTSYNC_PASSPHRASE="ann's passphrase" chartsync --store "$work/archivist" --user ann "$@"; }
second() { CHARTSYNC_PASSPHRASE="bo's passphrase" chartsync --store "$work/clinic-b" --user bo "$@"; }
archivist init --terminal archive-desk >/dev/null
archivist org init --archive "$url" --site "Central archive" >/dev/null ||
  fail "org init publishes the roster through the hook"
git --git-dir="$work/srv/archive.git" rev-parse -q --verify refs/chartsync/roster >/dev/null ||
  fail "the archive holds the roster after org init"
second init --terminal clinic-b-1 >/dev/null
archivist device enroll "$(clinic device request)" --site "Clinic A" --role clinic >/dev/null ||
  fail "the archivist enrolls clinic A"
archivist device enroll "$(second device request)" --site "Clinic B" --role clinic >/dev/null ||
  fail "the archivist enrolls clinic B"
archivist sync >/dev/null || fail "the archivist's sync publishes the enrollments"
clinic remote "$url" >/dev/null
second remote "$url" >/dev/null
ok "an organisation with two clinics, enrolled as README says"

# ---- sync: the service user sends, the second clinic receives ----
scanner sync >"$work/sync.out" 2>&1 || fail "the service user syncs clinic A: $(cat "$work/sync.out")"
device=$(clinic status --json | sed -n 's/.*"device":"\([0-9a-f]*\)".*/\1/p')
[ -n "$device" ] || fail "status --json names clinic A's device"
git --git-dir="$work/srv/archive.git" rev-parse -q --verify "refs/chartsync/devices/$device" \
  >/dev/null || fail "the archive holds clinic A's batch (refs/chartsync/devices/$device)"
ok "the service user's sync put clinic A's batch in the archive"
second sync >"$work/sync.out" 2>&1 || fail "clinic B syncs: $(cat "$work/sync.out")"
shown=$(second show "${pat:0:8}" 2>&1) || true
grep -q "Ada Package" <<<"$shown" || fail "clinic B holds the patient after its sync: $shown (sync: $(cat "$work/sync.out"))"
ok "clinic B pulled the patient through the archive"
if grep -rl 'Ada Package' "$work/srv"; then fail "the archive holds no plaintext"; fi
ok "the patient's name is nowhere in the archive in plaintext"

# ---- the hook really runs: pushes it must refuse are refused ----
git init -q "$work/other"
git -C "$work/other" -c user.name=x -c user.email=x@x.invalid commit -q --allow-empty -m x
if git -C "$work/other" push "$url" HEAD:refs/heads/main >"$work/push.out" 2>&1; then
  fail "the archive refuses a branch chartsync does not use"
fi
grep -q 'chartsync-archive-hook: refused refs/heads/main' "$work/push.out" ||
  fail "the refusal comes from the hook: $(cat "$work/push.out")"
if git -C "$work/other" push "$url" ":refs/chartsync/devices/$device" >"$work/push.out" 2>&1; then
  fail "the archive refuses to delete a device's history"
fi
grep -q 'chartsync-archive-hook: refused .*deleting a ref is not allowed' "$work/push.out" ||
  fail "the hook says a ref may not be deleted: $(cat "$work/push.out")"
git --git-dir="$work/srv/archive.git" rev-parse -q --verify "refs/chartsync/devices/$device" \
  >/dev/null || fail "clinic A's history is still in the archive"
ok "the installed hook refused a foreign branch and a deletion, and said why"

# ---- the manual ----
page=$(man -w chartsync) || fail "man -w chartsync finds a page"
[ "$(dpkg -S "$page" 2>/dev/null | cut -d: -f1)" = chartsync ] ||
  fail "man chartsync shows the package's page (found $page)"
ok "man chartsync finds $page"
pages=$(dpkg -L chartsync | grep '^/usr/share/man/man[0-9]/.') || fail "the package installs manual pages"
for p in $pages; do
  msgs=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null) ||
    fail "man renders $p"
  [ -z "$msgs" ] || fail "MANWIDTH=80 man --warnings -l $p is silent, but says: $msgs"
done
ok "MANWIDTH=80 man --warnings renders every installed page without a word ($(wc -w <<<"$pages") pages)"
echo "test_scenario: all checks passed"
