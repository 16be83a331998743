#!/usr/bin/env bash
# tools/: values kept out of argv (README, 'chartsync add --help'):
# FIELD=@FILE and FIELD=@- (standard input) in add, set and review resolve
# (and attach --title, confirm --note),
# one trailing newline dropped, a file too large or holding a NUL byte
# refused and named; FIELD=@@TEXT for a value that starts with '@'.
# usage: test_field_files.sh CHARTSYNC
set -euo pipefail
chartsync=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CHARTSYNC_STORE="$tmp/store" CHARTSYNC_PASSPHRASE=pw
unset CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER
cs() { "$chartsync" "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
status() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; set -e; }
field() { cs show --json "$1" | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  process.stdout.write(String(r.fields[process.argv[1]]))' "$2"; }

cs init --user maria >/dev/null
export CHARTSYNC_USER=maria
printf 'Ada Byron\n' > "$tmp/name"
pat=$(cs add patient name=@"$tmp/name" mrn=@@A-1 dob=1961-12-10 </dev/null)
[ "$(field "$pat" name)" = 'Ada Byron' ] || fail "add name=@FILE, newline dropped: $(field "$pat" name)"
[ "$(field "$pat" mrn)" = '@A-1' ] || fail "mrn=@@A-1 is the value @A-1: $(field "$pat" mrn)"

printf 'Ada King\r\n' | cs set "$pat" name=@-
[ "$(field "$pat" name)" = 'Ada King' ] || fail "set name=@- from standard input, CR LF dropped"
cs set "$pat" 'name:="@home"'
[ "$(field "$pat" name)" = '@home' ] || fail "FIELD:=JSON is taken as it is"

visit=$(cs add encounter --patient "$pat" date=2024-03-15)
printf 'line one\nline two\n\n' > "$tmp/note"
note=$(cs add note --encounter "$visit" date=2024-03-15 text=@"$tmp/note")
[ "$(field "$note" text; echo '|')" = $'line one\nline two\n|' ] || fail "a note's lines kept, one newline dropped"

# refused, and the store unchanged
before=$(cs verify)
[ "$(status cs set "$pat" name=@"$tmp/missing")" = 2 ] || fail "a missing file is refused"
grep -q "cannot read '$tmp/missing' for field 'name'" "$tmp/err" || fail "names the file: $(cat "$tmp/err")"
head -c 1100000 /dev/zero | tr '\0' x > "$tmp/big"
[ "$(status cs set "$pat" name=@"$tmp/big")" = 2 ] || fail "a file over 1 MiB is refused"
grep -q "'$tmp/big' for field 'name' is larger than 1 MiB" "$tmp/err" || fail "names the limit: $(cat "$tmp/err")"
printf 'a\0b' > "$tmp/nul"
[ "$(status cs set "$pat" name=@"$tmp/nul")" = 2 ] || fail "a NUL byte is refused"
grep -q "NUL" "$tmp/err" || fail "says why: $(cat "$tmp/err")"
[ "$(status cs set "$pat" name=@- mrn=@- </dev/null)" = 1 ] || fail "@- twice is bad usage"
[ "$(status cs set "$pat" name=@)" = 1 ] || fail "@ with no file is bad usage"
[ "$(cs verify)" = "$before" ] || fail "a refused value changed the store"
[ "$(field "$pat" name)" = '@home' ] || fail "the name is unchanged"

# the options that give a record's text take them too: attach --title,
# confirm --note
printf 'intake form\n' | cs attach "$pat" "$tmp/name" --title @- >/dev/null
# read whole first: with pipefail, `grep -q` leaving at its match would
# fail the pipeline whenever ls had a line left to write
listed=$(cs ls --patient "$pat")
grep -q 'intake form' <<<"$listed" || fail "attach --title @-: $listed"
CHARTSYNC_NEW_PASSPHRASE=pw2 cs user add bob >/dev/null
printf 'checked at the desk\n' > "$tmp/confirm-note"
CHARTSYNC_PASSPHRASE=pw2 cs --user bob confirm "$pat" --note @"$tmp/confirm-note" >/dev/null
shown=$(cs show "$pat")
grep -q "confirmed by bob at .*: checked at the desk\$" <<<"$shown" ||
  fail "confirm --note @FILE: $shown"
[ "$(status cs confirm "$pat" --note @"$tmp/missing")" = 2 ] || fail "confirm --note of a missing file"

# review resolve reads values the same way (the record need not be under
# review for the value to be read: the refusal comes after)
[ "$(status cs review resolve "$pat" name=@"$tmp/missing")" = 2 ] || fail "review resolve reads @FILE"
grep -q "cannot read '$tmp/missing'" "$tmp/err" || fail "review resolve names the file: $(cat "$tmp/err")"
echo "values from files: ok"
