#!/usr/bin/env bash
# tools/: the desk's review pages over real HTTP (curl against the real
# binary), on conflicts two clinics made and synced through a real
# archive: the queue and its filters, a record's candidates with the value
# both sides started from, a merge group shown and taken together, a
# removal against an edit, choices refused before anything is shown as
# signable (400), a record changed between the preview and the click
# (409, nothing written), a form check refusing a typed value at the
# preview and at signing (400, nothing written), and what was signed read
# back by the CLI.
# usage: test_desk_review.sh CHARTSYNC
set -euo pipefail
chartsync=$1
tmp=$(mktemp -d)
desk_pid=
cleanup() {
  [ -z "$desk_pid" ] || kill "$desk_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
unset CHARTSYNC_STORE CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER CHARTSYNC_PASSPHRASE
fail() { echo "FAILED: $*" >&2; exit 1; }
a() { CHARTSYNC_PASSPHRASE="ann pw" "$chartsync" --store "$tmp/archivist" --user ann "$@"; }
ca() { CHARTSYNC_PASSPHRASE="tom pw" "$chartsync" --store "$tmp/clinic-a" --user tom "$@"; }
cb() { CHARTSYNC_PASSPHRASE="bo pw" "$chartsync" --store "$tmp/clinic-b" --user bo "$@"; }
state() { "$@" verify --json | sed -n 's/.*"state":"\([0-9a-f]*\)".*/\1/p'; }

# ---- an organisation; two clinics edit the same records at once ----
"$chartsync" archive init "$tmp/archive.git" >/dev/null
a init --terminal archive-desk >/dev/null
a org init --archive "$tmp/archive.git" --site "Central archive" >/dev/null
ca init --terminal exam-room-2 >/dev/null
cb init --terminal clinic-b-1 >/dev/null
a device enroll "$(ca device request)" --site "Clinic A" --role clinic >/dev/null
a device enroll "$(cb device request)" --site "Clinic <B>" --role clinic >/dev/null
ca remote "$tmp/archive.git"; cb remote "$tmp/archive.git"
a sync >/dev/null; ca sync >/dev/null; cb sync >/dev/null
pat=$(ca add patient "name=Ada <script>alert(1)</script>" mrn=A-1001 phone=555-0100)
med=$(ca add medication --patient "$pat" name=lisinopril dose=10 unit=mg route=oral frequency=daily)
note=$(ca add note --patient "$pat" "text=to be removed")
ca sync >/dev/null; cb sync >/dev/null
ca set "$pat" phone=555-0101
cb set "$pat" phone=555-0199
ca set "$med" dose=20
cb set "$med" dose=5 unit=ml
ca rm "$note"
cb set "$note" "text=edited instead"
ca sync >/dev/null; cb sync >/dev/null; ca sync >/dev/null; a sync >/dev/null
[ "$(a review | grep -c 'under review')" = 3 ] || fail "three records under review: $(a review)"

# ---- the desk, signed in as the archivist ----
CHARTSYNC_PASSPHRASE="ann pw" "$chartsync" --store "$tmp/archivist" --user ann desk \
  --listen 127.0.0.1:0 >"$tmp/desk.out" 2>"$tmp/desk.err" &
desk_pid=$!
for _ in $(seq 100); do
  grep -q 'http://' "$tmp/desk.out" 2>/dev/null && break
  kill -0 "$desk_pid" 2>/dev/null || fail "the desk stopped: $(cat "$tmp/desk.err")"
  sleep 0.1
done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$tmp/desk.out") || fail "no URL"
# req PATH [curl options]: the status code; the page in $tmp/body
req() {
  local path=$1
  shift
  curl -s -b "$tmp/jar" -c "$tmp/jar" -o "$tmp/body" -w '%{http_code}' "$@" "$url${path#/}"
}
body() { cat "$tmp/body"; }
has() { grep -qF -- "$1" "$tmp/body" || fail "$2: no '$1' in $(body)"; }
lacks() { ! grep -qF -- "$1" "$tmp/body" || fail "$2: '$1' is there"; }
[ "$(req /signin -d user=ann --data-urlencode 'passphrase=ann pw')" = 303 ] || fail "sign-in"
[ "$(req /review)" = 200 ] || fail "the queue"
csrf=$(grep -o 'name="csrf" content="[0-9a-f]*"' "$tmp/body" | sed 's/.*content="//;s/"$//')
[ -n "$csrf" ] || fail "the page carries its CSRF token"
# post PATH FIELD=VALUE...: a form with the CSRF token
post() {
  local path=$1 args=() f
  shift
  for f in "$@"; do args+=(--data-urlencode "$f"); done
  req "$path" --data-urlencode "csrf=$csrf" "${args[@]}"
}
# the change ids of the candidates of FIELD on the page in $tmp/body, in order
cands() { grep -o "name=\"take\\.$1\" value=\"[0-9a-f]*\"" "$tmp/body" | sed 's/.*value="//;s/"$//'; }
heads() { grep -o 'name="heads" value="[0-9a-f,]*"' "$tmp/body" | sed 's/.*value="//;s/"$//'; }

# ---- the queue and its filters ----
[ "$(req /review)" = 200 ] || fail "the queue"
[ "$(grep -c 'class="queue-item"' "$tmp/body")" = 3 ] || fail "the queue lists the three: $(body)"
for r in "$pat" "$med" "$note"; do has "data-record=\"$r\"" "the queue lists $r"; has "href=\"/review/$r\"" "links $r"; done
has "Clinic &lt;B&gt;" "a site's name is escaped"
lacks "Clinic <B>" "no site's name goes out raw"
count() { req "/review?$1" >/dev/null; grep -c 'class="queue-item"' "$tmp/body" || true; }
[ "$(count type=note)" = 1 ] || fail "type=note keeps the note"
[ "$(count "patient=${pat:0:8}")" = 3 ] || fail "the patient's prefix keeps its records"
[ "$(count patient=ffffffff)" = 0 ] || fail "another patient's prefix keeps none"
[ "$(count 'site=Clinic+A')" = 3 ] || fail "a site where candidates were made keeps them"
[ "$(count 'site=Central+archive')" = 0 ] || fail "a site with no candidates keeps none"

# ---- a record's candidates ----
[ "$(req "/review/${pat:0:8}")" = 200 ] || fail "the patient's review page"
has 'section class="conflict" tabindex="0" data-field="phone"' "a section per field under review"
grep '<p class="base">' "$tmp/body" | grep '555-0100' >/dev/null || fail "the value both sides started from"
[ "$(cands phone | wc -l)" = 2 ] || fail "two candidates, each with a take button"
[ "$(grep -c 'class="signature sig-ok"' "$tmp/body")" = 2 ] || fail "both signatures valid, on the roster"
lacks 'class="skew"' "no clock ahead here"
has 'class="site">Clinic A<' "a candidate's site"
has 'name="typed.phone"' "a typed value"
has 'table id="context"' "the rest of the record"
lacks '<script>alert' "the record's text is escaped"
has '&lt;script&gt;alert(1)&lt;/script&gt;' "the name is shown, escaped"
take=$(cands phone | head -1)
other=$(cands phone | tail -1)

# ---- choices refused before anything is offered to sign ----
[ "$(post "/review/$pat/preview" "take.name=$take")" = 400 ] || fail "a field not under review"
has "is not under review" "says which"
[ "$(post "/review/$pat/preview" "take.phone=${take:0:12}")" = 400 ] || fail "a short change id"
med_change=$( (req "/review/$med" >/dev/null; cands dose | head -1) )
[ "$(post "/review/$pat/preview" "take.phone=$med_change")" = 400 ] || fail "another record's change"
has "is not one of the candidates" "says which"
[ "$(post "/review/$pat/preview")" = 400 ] || fail "nothing chosen"
[ "$(post "/review/$pat/preview" typed=phone typed.phone=)" = 400 ] || fail "an empty typed value"
[ "$(post "/review/$pat/preview" typed=phone $'typed.phone=5\e[2J')" = 400 ] || fail "a control character"

# ---- the preview; a record changed meanwhile is not signed over ----
[ "$(post "/review/$pat/preview" "take.phone=$take")" = 200 ] || fail "the preview"
has 'id="change-preview"' "#change-preview"
has 'form id="confirm"' "form#confirm"
has 'id="sign"' "button#sign"
seen=$(heads)
[ "$seen" = "$(printf '%s\n' "$take" "$other" | sort | paste -sd,)" ] || fail "the heads it resolves: $seen"
lacks "winner" "nothing is called a winner"
a review resolve "${pat:0:8}" phone=555-0142 >/dev/null
before=$(state a)
[ "$(post "/review/$pat/resolve" "take.phone=$take" "heads=$seen")" = 409 ] || fail "changed meanwhile"
has 'id="changed-meanwhile"' "#changed-meanwhile"
has "href=\"/review/$pat\"" "a link back"
[ "$(state a)" = "$before" ] || fail "nothing was written"
# (outputs read whole first: grep -q ending a pipe early is a SIGPIPE under pipefail)
shown=$(a show "${pat:0:8}")
grep -Eq '^  phone +555-0142$' <<<"$shown" || fail "the other settlement stands: $shown"

# ---- a merge group: the regimen's fields settle together ----
[ "$(req "/review/$med")" = 200 ] || fail "the medication's review page"
has 'class="merge-group" data-group="regimen"' "the regimen shown as one group"
has 'data-field="unit"' "unit under review with dose"
five=$(grep -B1 '<p class="value">5</p>' "$tmp/body" | grep -o 'data-change="[0-9a-f]*"' | head -1 | sed 's/.*="//;s/"$//')
[ -n "$five" ] || fail "the candidate that set dose 5"
[ "$(post "/review/$med/preview" "take.dose=$five")" = 200 ] || fail "the regimen's preview"
has 'data-field="unit"><strong>unit</strong>: set to <span class="value">ml</span>' "unit taken along with dose"
seen=$(heads)
[ "$(post "/review/$med/resolve" "take.dose=$five" "heads=$seen")" = 200 ] || fail "signing the regimen"
has 'id="resolved"' "#resolved"
has "no longer under review" "read again, settled"
has "href=\"/record/$med\"" "a link to its history"
shown=$(a show "${med:0:8}")
grep -Eq '^  dose +5$' <<<"$shown" && grep -Eq '^  unit +ml$' <<<"$shown" || fail "dose 5 ml: $shown"

# ---- a removal against an edit; a typed value refused when signed ----
[ "$(req "/review/$note")" = 200 ] || fail "the note's review page"
has 'data-field="(removal)"' "the removal under review"
rm_change=$(grep -B1 'remove the record' "$tmp/body" | grep -o 'data-change="[0-9a-f]*"' | head -1 | sed 's/.*="//;s/"$//')
[ -n "$rm_change" ] || fail "the removing candidate"
[ "$(post "/review/$note/preview" "take.(removal)=$rm_change" typed.text=x)" = 400 ] ||
  fail "a removal taken with values"
[ "$(post "/review/$note/preview" "take.(removal)=$rm_change")" = 200 ] || fail "the removal's preview"
has "removed" "says the record is removed"
seen=$(heads)
before=$(state a)
[ "$(post "/review/$note/resolve" "take.(removal)=$rm_change" "typed.text=" "heads=$seen")" = 200 ] ||
  fail "signing the removal"
has 'id="resolved"' "#resolved"
queue=$(a review)
! grep -q "${note:0:12}" <<<"$queue" || fail "the note is settled: $queue"
shown=$(a show "${note:0:8}" 2>&1 || true)
grep -qi "removed" <<<"$shown" || fail "the note is removed: $shown"

# a typed value the field's form refuses: said at the preview already,
# and at signing (a form posted by hand), nothing written
a sync >/dev/null; ca sync >/dev/null; cb sync >/dev/null
ca set "$pat" "address=1 Main St"; cb set "$pat" "address=2 High St"
ca sync >/dev/null; cb sync >/dev/null; ca sync >/dev/null; a sync >/dev/null
long=$(printf 'x%.0s' $(seq 600))
[ "$(post "/review/$pat/preview" typed=address "typed.address=$long")" = 400 ] || fail "a long typed value refused at the preview"
has "the limit is 500" "the form check's message at the preview"
[ "$(post "/review/$pat/preview" typed=address "typed.address=3 Low St")" = 200 ] || fail "a typed value previewed"
seen=$(heads)
before=$(state a)
[ "$(post "/review/$pat/resolve" "typed.address=$long" "heads=$seen")" = 400 ] || fail "refused when signed"
has "the limit is 500" "the form check's message"
[ "$(state a)" = "$before" ] || fail "nothing was written"

# one parser for a record's address: an id in capitals is the same record
[ "$(req "/review/${pat^^}")" = 200 ] || fail "/review/ID in capitals"
has 'data-field="address"' "the record under review, asked for in capitals"
[ "$(req "/record/${pat^^}")" = 200 ] || fail "/record/ID in capitals"
echo "ok"
