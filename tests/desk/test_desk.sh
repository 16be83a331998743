#!/usr/bin/env bash
# The archivists' desk through real stores, a real archive and a real
# browser. An organisation is built with the chartsync command: a bare
# archive, the archivist's store (ann, `org init`), two clinics enrolled
# (tom at clinic A, bo at clinic B), all synced. Both clinics set one
# patient's phone and address, each without seeing the other's, and sync:
# the record is under review at the archivist's. `chartsync desk` then serves ann's
# store, and tests/desk/desk.test.js (playwright-core driving Debian's
# chromium; installed by tools/dev/desk-deps) signs in, previews a side of
# the address with the keyboard, takes clinic B's phone by clicking, reads the history, the reports, and checks what must
# be refused. Back here, after sync: both clinics hold the value taken and
# nothing under review, the three stores' state hashes are equal, and the
# history page drew as many nodes as the record has changes.
# usage: test_desk.sh CHARTSYNC SOURCE_DIR ARTEFACT_DIR
# Screenshots of every page go to ARTEFACT_DIR (emptied first).
set -euo pipefail
chartsync=$1
src=$2
artefacts=$3
modules=$("$src/tools/dev/desk-deps")
export NODE_PATH="$modules/node_modules"

tmp=$(mktemp -d)
desk_pid=""
cleanup() {
  if [ -n "$desk_pid" ]; then kill "$desk_pid" 2>/dev/null || true; wait "$desk_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
unset CHARTSYNC_STORE CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER CHARTSYNC_PASSPHRASE
fail() { echo "test_desk: FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*" >&2; }
a() { CHARTSYNC_PASSPHRASE="ann's passphrase" "$chartsync" --store "$tmp/archivist" --user ann "$@"; }
ca() { CHARTSYNC_PASSPHRASE="tom's passphrase" "$chartsync" --store "$tmp/clinic-a" --user tom "$@"; }
cb() { CHARTSYNC_PASSPHRASE="bo's passphrase" "$chartsync" --store "$tmp/clinic-b" --user bo "$@"; }
state() { "$@" verify --json | sed -n 's/.*"state":"\([0-9a-f]*\)".*/\1/p'; }

# ---- the organisation ----
archive="$tmp/archive.git"
"$chartsync" archive init "$archive" >/dev/null
a init --terminal archive-desk >/dev/null
a org init --archive "$archive" --site "Central archive" >/dev/null
ca init --terminal exam-room-2 >/dev/null
cb init --terminal clinic-b-1 >/dev/null
a device enroll "$(ca device request)" --site "Clinic A" --role clinic >/dev/null
a device enroll "$(cb device request)" --site "Clinic B" --role clinic >/dev/null
ca remote "$archive"; cb remote "$archive"
a sync >/dev/null; ca sync >/dev/null; cb sync >/dev/null
pat=$(ca add patient "name=Ada Lovelace" mrn=A-1001 dob=1961-12-10 phone=555-0100)
ca sync >/dev/null; cb sync >/dev/null

# ---- the conflict: both clinics change the phone, neither seeing the other ----
# (the address too: a second conflict, for the page's keyboard)
ca set "$pat" phone=555-0101 "address=1 Left Lane"
cb set "$pat" phone=555-0199 "address=2 Right Road"
ca sync >/dev/null; cb sync >/dev/null; ca sync >/dev/null; a sync >/dev/null
a review | grep -q "^${pat:0:12} " || fail "the patient is under review at the archivist's"
ok "the patient is under review at the archivist's store"

# ---- the desk ----
# sessions end after one minute without a request (desk.idle), so the
# browser test can wait one out
a config desk.idle 1
mkfifo "$tmp/desk.out"
"$chartsync" --store "$tmp/archivist" desk --listen 127.0.0.1:0 >"$tmp/desk.out" \
  2>"$tmp/desk.err" &
desk_pid=$!
exec 3<"$tmp/desk.out"
url=""
if read -r -t 30 line <&3; then
  url=$(grep -Eo 'http://127\.0\.0\.1:[0-9]+/' <<<"$line" || true)
fi
[ -n "$url" ] || { cat "$tmp/desk.err" >&2; fail "chartsync desk printed its URL (got '${line:-}')"; }
ok "the desk serves $url"
# keep reading its output so it never blocks on a full pipe
cat <&3 >"$tmp/desk.log" &
exec 3<&-

rm -rf "$artefacts"
mkdir -p "$artefacts"
echo "test_desk: screenshots in $artefacts" >&2
status=0
result=$(DESK_URL="$url" DESK_ARTEFACTS="$artefacts" DESK_USER=ann \
  DESK_PASS="ann's passphrase" DESK_RECORD="$pat" DESK_FIELD=phone DESK_BASE=555-0100 \
  DESK_TAKE=555-0199 DESK_TAKE_WHO=bo DESK_TAKE_TERMINAL=clinic-b-1 DESK_TAKE_SITE="Clinic B" \
  DESK_OTHER=555-0101 DESK_OTHER_WHO=tom DESK_OTHER_TERMINAL=exam-room-2 \
  DESK_OTHER_SITE="Clinic A" DESK_KEY_FIELD=address DESK_IDLE_S=60 \
  timeout 600 node "$src/tests/desk/desk.test.js") || status=$?
result=$(tail -n 1 <<<"$result")

# the desk stops on SIGTERM with exit 0 (its sessions' events written)
kill -TERM "$desk_pid"
desk_status=0
wait "$desk_pid" || desk_status=$?
desk_pid=""
[ "$desk_status" = 0 ] || { cat "$tmp/desk.err" >&2; fail "chartsync desk exits 0 on SIGTERM (exit $desk_status)"; }
ok "chartsync desk exits 0 on SIGTERM"
[ "$status" = 0 ] || { cat "$tmp/desk.err" >&2; fail "the browser test (desk.test.js) failed: see its FAIL lines above"; }

# ---- the resolution, after sync ----
a sync >/dev/null; ca sync >/dev/null; cb sync >/dev/null
for who in ca cb; do
  [ "$($who review --json)" = "[]" ] || fail "nothing is under review at $who after sync ($($who review --json))"
  shown=$($who show "$pat")
  grep -Eq '^  phone +555-0199$' <<<"$shown" || fail "$who shows the phone taken (555-0199): $shown"
done
ok "both clinics hold 555-0199, nothing under review"
# reading wrote access events at the clinics: one more round, so every
# store holds every event
ca sync >/dev/null; cb sync >/dev/null; a sync >/dev/null; ca sync >/dev/null
sa=$(state a); sca=$(state ca); scb=$(state cb)
[ -n "$sa" ] && [ "$sa" = "$sca" ] && [ "$sa" = "$scb" ] ||
  fail "the three stores' state hashes are equal (archivist $sa, clinic A $sca, clinic B $scb)"
ok "the three stores' state hashes are equal ($sa)"

# ---- the history page drew one node per change ----
changes=$(a log "$pat" --json | node -e '
  let s = ""; process.stdin.on("data", (c) => { s += c; }).on("end", () => {
    const j = JSON.parse(s); const c = Array.isArray(j) ? j : j.changes;
    console.log(c.length); });')
nodes=$(node -e 'const r = JSON.parse(process.argv[1]); console.log(r.history_nodes)' "$result")
rows=$(node -e 'const r = JSON.parse(process.argv[1]); console.log(r.history_rows)' "$result")
[ "$nodes" = "$changes" ] && [ "$rows" = "$changes" ] ||
  fail "the history page shows every change: $nodes nodes, $rows rows, $changes changes"
ok "the history page drew $nodes nodes and $rows rows for $changes changes"
echo "test_desk: screenshots in $artefacts" >&2
