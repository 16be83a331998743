#!/usr/bin/env bash
# tools/: `chartsync report duplicates` as a person runs it: a pair per
# block (score, evidence, detail; then each patient on a line of its
# own), --json, --csv (no cell a spreadsheet runs as a formula), --help
# documenting the evidence, thresholds and weights, and the exit codes
# (0 done, 1 bad usage).
# usage: test_report_duplicates_cli.sh CHARTSYNC
set -euo pipefail
chartsync=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CHARTSYNC_STORE="$tmp/store" CHARTSYNC_PASSPHRASE=pw CHARTSYNC_NEW_PASSPHRASE=pw
unset CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER
cs() { "$chartsync" "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
status() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; set -e; }

cs init --user maria >/dev/null
[ "$(status cs report duplicates)" = 0 ] || fail "an empty store: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "no pair in an empty store: $(cat "$tmp/out")"
grep -q "^0 likely duplicates among 0 patients" "$tmp/err" || fail "the count: $(cat "$tmp/err")"

smith=$(cs add patient name='Smith John' mrn=A-1 dob=1955-05-05)
john=$(cs add patient name='John Smith' mrn=A-2 dob=1955-05-05 phone='=2+5')
jose=$(cs add patient name='José  GARCÍA' mrn=B-1 dob=1990-09-09)
garcia=$(cs add patient name='jose garcia' mrn=B-2 dob=1990-09-09)
cs add patient name='Maria Lopez' mrn=C-1 dob=1990-09-09 >/dev/null

[ "$(status cs report --help)" = 0 ] || fail "report --help"
grep -q duplicates "$tmp/out" || fail "report --help lists duplicates"
[ "$(status cs report duplicates --help)" = 0 ] || fail "report duplicates --help"
for word in chart_number name_dob swapped_name phone member_id Jaro-Winkler 0.88 0.50 0.60 0.55; do
  grep -q -- "$word" "$tmp/out" || fail "--help documents $word"
done
[ "$(status cs report duplicates --json --csv)" = 1 ] || fail "--json and --csv is bad usage"
[ "$(status cs report duplicates --min-score 2)" = 1 ] || fail "a score above 1 is bad usage"
[ "$(status cs report duplicates --min-score x)" = 1 ] || fail "a score must be a number"
[ "$(status cs report duplicates extra)" = 1 ] || fail "an operand is bad usage"

[ "$(status cs report duplicates)" = 0 ] || fail "report duplicates: $(cat "$tmp/err")"
grep -q "^0.60  name_dob  the same date of birth, names alike (1.00)\$" "$tmp/out" ||
  fail "the accents pair first: $(cat "$tmp/out")"
grep -q "^0.55  swapped_name  " "$tmp/out" || fail "the swapped pair: $(cat "$tmp/out")"
grep -q "^    $jose  José  GARCÍA  born 1990-09-09  chart B-1  phone -  site -\$" "$tmp/out" ||
  fail "a side's line: $(cat "$tmp/out")"
grep -q "^    $garcia  jose garcia  " "$tmp/out" || fail "the other side: $(cat "$tmp/out")"
grep -q "^2 likely duplicates among 5 patients" "$tmp/err" || fail "the count: $(cat "$tmp/err")"
[ "$(status cs report duplicates --min-score 0.9)" = 0 ] || fail "--min-score"
grep -q swapped_name "$tmp/out" && fail "--min-score 0.9 leaves the swapped pair out"

[ "$(status cs report duplicates --json)" = 0 ] || fail "report duplicates --json"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const [a, b] = r.pairs;
  if (r.patients !== 5 || r.pairs.length !== 2) process.exit(1);
  if (a.evidence.join() !== "name_dob" || a.score < 0.59) process.exit(2);
  if (b.evidence.join() !== "swapped_name" || !(a.a.id < a.b.id)) process.exit(3);
  if (![b.a.id, b.b.id].includes(process.argv[2]) || b.a.dob !== "1955-05-05") process.exit(4);
  if (a.a.site !== "" || typeof a.detail !== "string") process.exit(5);' \
  "$tmp/out" "$smith" || fail "the JSON report: $(cat "$tmp/out")"

[ "$(status cs report duplicates --csv)" = 0 ] || fail "report duplicates --csv"
head -1 "$tmp/out" | grep -q "^score,evidence,a_id,a_name,a_dob,a_mrn,a_phone,a_site,b_id," ||
  fail "the CSV header: $(cat "$tmp/out")"
[ "$(wc -l < "$tmp/out")" = 3 ] || fail "a header and two rows: $(cat "$tmp/out")"
grep -q "\"'=2+5\"" "$tmp/out" || fail "a formula-like phone gets its apostrophe: $(cat "$tmp/out")"
grep -q "^0.55,swapped_name," "$tmp/out" || fail "the score a number: $(cat "$tmp/out")"
echo "report duplicates: ok"
