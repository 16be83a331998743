#!/usr/bin/env bash
# tools/: `chartsync report` and `chartsync export fhir` as a person runs
# them: findings one per line (kind, ids, detail, tab-separated), --json,
# the options' checks and exit codes (0 done, 1 bad usage, 2 refused).
# usage: test_reports_cli.sh CHARTSYNC
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
pat=$(cs add patient name='Ada Byron' mrn=A-1 dob=1961-12-10)
visit=$(cs add encounter --patient "$pat" date=1950-01-02)
cs add diagnosis --encounter "$visit" icd=E11.9 >/dev/null

[ "$(status cs report --help)" = 0 ] || fail "report --help"
grep -q consistency "$tmp/out" || fail "report --help lists consistency"
[ "$(status cs report)" = 1 ] || fail "report alone is bad usage"
[ "$(status cs report nonsense)" = 1 ] || fail "an unknown report is bad usage"
[ "$(status cs report consistency --help)" = 0 ] || fail "report consistency --help"
for kind in visit_without_note procedure_without_code code_without_procedure \
            medication_not_on_list visit_before_birth note_before_visit end_before_start \
            review_overdue unconfirmed; do
  grep -q "$kind" "$tmp/out" || fail "--help documents $kind"
done
[ "$(status cs report consistency --review-days=-3)" = 1 ] || fail "negative days are bad usage"
[ "$(status cs report consistency --confirm-days x)" = 1 ] || fail "days must be a number"

[ "$(status cs report consistency)" = 0 ] || fail "report consistency: $(cat "$tmp/err")"
printf 'visit_without_note\t%s\t' "$visit" > "$tmp/want"
grep -q "$(cat "$tmp/want")" "$tmp/out" || fail "a finding line: kind, id, detail"
grep -q "^visit_before_birth	$visit	visit on 1950-01-02 is before the birth date 1961-12-10\$" \
  "$tmp/out" || fail "visit_before_birth line: $(cat "$tmp/out")"
grep -q "^code_without_procedure	$visit " "$tmp/out" || fail "code_without_procedure names the visit first"
[ "$(wc -l < "$tmp/out")" = 3 ] || fail "three findings: $(cat "$tmp/out")"
[ "$(status cs report consistency --json)" = 0 ] || fail "report consistency --json"
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.findings.length !== 3 || r.counts.visit_before_birth !== 1 || r.visits !== 1) process.exit(1);' \
  "$tmp/out" || fail "the JSON report: $(cat "$tmp/out")"

[ "$(status cs report coding)" = 0 ] || fail "report coding"
grep -q "^queue: 0 visits waiting" "$tmp/out" || fail "report coding text: $(cat "$tmp/out")"
[ "$(status cs report coding --json)" = 0 ] || fail "report coding --json"
grep -q '"queue":{"length":0' "$tmp/out" || fail "report coding JSON: $(cat "$tmp/out")"

[ "$(status cs export)" = 1 ] || fail "export alone is bad usage"
[ "$(status cs export fhir)" = 1 ] || fail "export fhir needs a patient or --all"
[ "$(status cs export fhir --all "$pat")" = 1 ] || fail "a patient and --all is bad usage"
[ "$(status cs export fhir "$visit")" = 2 ] || fail "an encounter is not a patient"
grep -q "not a patient" "$tmp/err" || fail "says it is not a patient: $(cat "$tmp/err")"
[ "$(status cs export fhir 0000ffff)" = 2 ] || fail "no such record"
[ "$(status cs export fhir --all -o "$tmp/nodir/b.json")" = 2 ] || fail "an unwritable file"
[ ! -e "$tmp/nodir" ] || fail "nothing half-written"
[ "$(status cs export fhir "${pat:0:8}" -o "$tmp/b.json")" = 0 ] || fail "export -o: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] || fail "-o writes nothing to stdout"
ls "$tmp"/b.json.* >/dev/null 2>&1 && fail "no temporary file left behind"
grep -q '"resourceType":"Bundle"' "$tmp/b.json" || fail "the bundle is in the file"
echo "report and export commands: ok"
