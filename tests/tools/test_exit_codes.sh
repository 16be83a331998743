#!/usr/bin/env bash
# tools/: one exit-code rule for every command (tools/cli.h, README):
#   1  a malformed command line: an unknown option, command, kind or setting
#      KEY, a missing argument, an option's value of the wrong form;
#   2  input refused (a record's values, an id that matches nothing, a
#      setting's value, a file that cannot be read) or an operation that failed;
# and in either case a message on stderr. Each line below is one case: the
# exit code wanted, then the command line.
# usage: test_exit_codes.sh CHARTSYNC
set -euo pipefail
chartsync=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CHARTSYNC_STORE="$tmp/store" CHARTSYNC_PASSPHRASE=pw CHARTSYNC_NEW_PASSPHRASE=pw
unset CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER
failures=0
cases=0

# run ARGS...: one case, chartsync ARGS with no terminal; its exit status
# in $got, its output in $tmp/out and $tmp/err.
run() {
  cases=$((cases + 1))
  set +e
  "$chartsync" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  got=$?
  set -e
}

# t CODE ARGS...: run chartsync ARGS; want exit CODE and a "chartsync: ..."
# message on stderr.
t() {
  local want=$1
  shift
  run "$@"
  if [ "$got" != "$want" ]; then
    echo "FAILED: chartsync $* exited $got, wanted $want; stderr: $(head -c 300 "$tmp/err")" >&2
    failures=$((failures + 1))
  elif ! grep -q '^chartsync: ..' "$tmp/err"; then
    echo "FAILED: chartsync $* exited $got with no message on stderr" >&2
    failures=$((failures + 1))
  fi
}

"$chartsync" init --user maria >/dev/null
pat=$("$chartsync" add patient name='Ada Byron' mrn=A-1 dob=1961-12-10)
visit=$("$chartsync" add encounter --patient "$pat" date=2024-03-15)
printf 'code,description,fee,effective\n99213,visit,125.00,2024-01-01\n' > "$tmp/fees.csv"
mkdir "$tmp/full" && touch "$tmp/full/x"
none=0000ffff   # an id prefix that matches nothing

# the command itself
t 1 --bogus status
t 1 --store
t 1 bogus
# init
t 1 init --bogus
t 1 init --terminal
t 1 init extra --store "$tmp/new"
t 2 init --store "$tmp/new" --terminal $'desk\x1b]0;owned\x07'
# add, set, rm
t 1 add --bogus patient name=x
t 1 add
t 1 add patient --patient
t 1 add patient name
t 2 add patient name=Bob mrn=B-1 dob=not-a-date
t 2 add bogus-type name=x
t 1 set --bogus "$pat" name=x
t 1 set
t 1 set "$pat"
t 2 set "$pat" dob=1961-13-45
t 2 set "$none" name=x
t 1 rm --bogus "$pat"
t 1 rm
t 1 rm "$pat" "$visit"
t 2 rm "$none"
# show, ls, log, open, cat
t 1 show --bogus "$pat"
t 1 show
t 2 show "$none"
t 1 ls --bogus
t 1 ls --patient
t 1 ls --unconfirmed patient
t 2 ls bogus-type
t 2 ls --patient "$none"
t 1 log --bogus "$pat"
t 1 log
t 2 log "$none"
t 1 open --bogus "$pat"
t 1 open
t 2 open "$none"
t 1 cat --bogus "$pat"
t 1 cat
t 2 cat "$none"
# import, attach
t 1 import --bogus x
t 1 import
t 2 import "$tmp/no-such-file"
t 1 attach --bogus "$pat" "$tmp/fees.csv"
t 1 attach "$pat"
t 1 attach "$pat" "$tmp/fees.csv" --title
t 2 attach "$pat" "$tmp/no-such-file"
# review
t 1 review --bogus
t 1 review bogus
t 1 review resolve "$pat"
t 1 review resolve "$pat" name
t 2 review resolve "$pat" name=x
# patient
t 1 patient bogus
t 1 patient merge "$pat"
t 1 patient merge "$pat" "$visit" --bogus
t 1 patient unmerge "$pat" "$visit" extra
t 2 patient merge "$pat" "$pat"
t 2 patient merge "$pat" "$visit"
t 2 patient unmerge "$pat" "$visit"
t 1 patient distinct "$pat"
t 1 patient distinct "$pat" "$visit" --frob
t 2 patient distinct "$pat" "$visit"
# confirm, code, fees, codes
t 1 confirm --bogus "$pat"
t 1 confirm
t 1 confirm "$pat" --note
t 2 confirm "$none"
t 1 code --bogus queue
t 1 code
t 1 code bogus
t 1 code send
t 2 code send "$none"
t 1 fees --bogus import "$tmp/fees.csv"
t 1 fees
t 1 fees bogus "$tmp/fees.csv"
t 1 fees import "$tmp/fees.csv" --site $'two\nlines'
t 2 fees import "$tmp/no-such-file"
t 1 codes --bogus import x
t 1 codes import
t 1 codes import "$tmp/fees.csv" --system bogus
t 2 codes import "$tmp/no-such-file"
# export
t 1 export bogus
t 1 export claims --bogus --since 2024-01-01
t 1 export claims
t 1 export claims --since
t 1 export claims --since not-a-date
t 1 export claims --since 2024-02-30
t 1 export claims --since 2024-01-01T09:30Z
t 2 export claims --since 2024-01-01 --csv "$tmp/no-such-dir/claims.csv"
t 1 export fhir --bogus "$pat"
t 1 export fhir
t 2 export fhir "$none"
# report
t 1 report bogus
t 1 report access --bogus
t 1 report access --until
t 1 report access --since not-a-date
t 1 report access --since 2024-02-30
t 1 report access --until 2024-01-01T25:00Z
t 2 report access --patient "$none"
t 1 report consistency --bogus
t 1 report consistency --review-days
t 1 report consistency --review-days many
t 1 report consistency --confirm-days=-3
t 1 report coding --bogus
t 1 report coding extra
t 1 report duplicates --bogus
t 1 report duplicates extra
t 1 report duplicates --min-score
t 1 report duplicates --min-score 0
t 1 report duplicates --min-score 1.5
t 1 report duplicates --min-score high
t 1 report duplicates --json --csv
# verify, status, config, check, passwd
t 1 verify --bogus
t 1 verify extra
t 1 fields --bogus
t 1 fields extra
t 2 verify --store "$tmp/no-such-store"
t 1 status --bogus
t 1 status extra
t 2 status --store "$tmp/no-such-store"
t 1 config --bogus
t 1 config
t 1 config bogus.key
t 1 config bogus.key value
t 1 config terminal.name a b
t 2 config terminal.name $'desk\x1b[2J'
t 1 check --bogus
t 1 check extra
t 2 check --store "$tmp/no-such-store"
t 1 passwd --bogus
t 1 passwd extra
t 1 rekey --bogus
t 1 rekey extra
# backup, restore
t 1 backup
t 1 backup --bogus "$tmp/b"
t 1 backup "$tmp/b" extra
t 1 backup "$tmp/b" --keep
t 1 backup "$tmp/b" --keep many
t 1 backup "$tmp/b" --keep 0
t 2 backup "$tmp/b" --store "$tmp/no-such-store"
t 2 backup "$tmp/no-such-folder/b"
t 1 restore
t 1 restore "$tmp/b"
t 1 restore --bogus "$tmp/b" "$tmp/r"
t 1 restore "$tmp/b" "$tmp/r" extra
t 2 restore "$tmp/no-such-backups" "$tmp/r"
t 2 restore "$tmp/b" "$CHARTSYNC_STORE"
t 1 user rm --bogus tom
t 1 user rm
t 2 passwd --store "$tmp/no-such-store"
# user
t 1 user --bogus ls
t 1 user
t 1 user bogus
t 1 user add
t 1 user rm a b
t 2 user rm nobody
t 1 user add --service
t 1 user add --service a b
t 1 user add --service --admin scanner
t 1 user rm --service scanner
t 1 user ls --service
t 1 user add --passphrase-file
t 1 user add --passphrase-file '' --service scanner
t 1 user add --passphrase-file "$tmp/svc.pass" bob
printf 'open to all\n' > "$tmp/open.pass" && chmod 644 "$tmp/open.pass"
t 2 user add --service scanner --passphrase-file "$tmp/open.pass"
t 2 user add --service 'bad name' --passphrase-file "$tmp/svc.pass"
t 2 user add --service scanner --passphrase-file "$tmp/no-such-folder/svc.pass"
# a service user: syncs and takes in scans, never reads or changes a chart
"$chartsync" user add --service scanner --passphrase-file "$tmp/svc.pass" >/dev/null
CHARTSYNC_PASSPHRASE_FILE="$tmp/svc.pass" t 2 --user scanner show "$pat"
CHARTSYNC_PASSPHRASE_FILE="$tmp/svc.pass" t 2 --user scanner ls --patient "$pat"
CHARTSYNC_PASSPHRASE_FILE="$tmp/svc.pass" t 2 --user scanner open "$pat"
CHARTSYNC_PASSPHRASE_FILE="$tmp/svc.pass" t 2 --user scanner set "$pat" name=Eve
CHARTSYNC_PASSPHRASE_FILE="$tmp/svc.pass" t 2 --user scanner user add --service s2
# sync, remote, device, org, archive
t 1 sync --bogus
t 1 sync extra
t 2 sync
t 1 remote --bogus
t 1 remote a b
t 2 remote --store "$tmp/no-such-store"
t 1 device --bogus list
t 1 device
t 1 device bogus
t 1 device enroll
t 1 device enroll ssh-ed25519-x --site a
t 1 device enroll ssh-ed25519-x --site a --role nurse
t 1 device enroll ssh-ed25519-x --site '' --role clinic
t 2 device revoke "$none"
t 1 org --bogus init
t 1 org
t 1 org init
t 1 org init --archive "$tmp/a.git" --site ''
t 1 archive --bogus init x
t 1 archive
t 1 archive bogus x
t 1 archive init
t 2 archive init "$tmp/full"
t 1 device list --admin
t 1 device enroll ssh-ed25519-x --admin --site a
# Each command takes the options its --help names and no other: an option
# another command takes is refused, not ignored (ids that match nothing, so
# a command that wrongly went on would change nothing).
# u OPTION ARGS...: want exit 1 and "unknown option 'OPTION'".
u() {
  local opt=$1
  shift
  run "$@"
  if [ "$got" != 1 ] || ! grep -q "^chartsync: unknown option '$opt'" "$tmp/err"; then
    echo "FAILED: chartsync $* exited $got, wanted 1 and \"unknown option '$opt'\"; stderr: $(head -c 300 "$tmp/err")" >&2
    failures=$((failures + 1))
  fi
}
u --take rm "$none" --take "$none"
u --json rm "$none" --json
u --full add bogus-type name=x --full
u --unset add bogus-type --unset name
u --title set "$none" --title x
u --take show "$none" --take "$none"
u --unconfirmed log "$none" --unconfirmed
u --encounter cat "$none" --encounter "$none"
u --patient verify --patient "$none"
u --patient import "$tmp/no-such-file" --patient "$none"
u --take review show "$none" --take "$none"
u --json review resolve "$none" --json
u --take review --take "$none"
u --csv confirm "$none" --csv "$tmp/claims.csv"
u --system confirm "$none" --system cpt
u --note code queue --note x
u --since fees import "$tmp/no-such-file" --since 2024-01-01
u --modifier fees import "$tmp/no-such-file" --modifier 25
u --site codes import "$tmp/no-such-file" --site Main
u --cpt export claims --since 2024-01-01 --cpt 99213
u --json export claims --since 2024-01-01 --json
u --all report coding --all
u --list status --list
u --out org init --out "$tmp/kit"
# each verb of user, device and code its own table: another verb's option
# is unknown for this one, and the message says which verb takes it
# (h TEXT: the last case's message says TEXT)
h() {
  cases=$((cases + 1))
  grep -qF -- "$1" "$tmp/err" ||
    { echo "FAILED: wanted \"$1\" in: $(head -c 300 "$tmp/err")" >&2; failures=$((failures + 1)); }
}
u --admin user ls --admin
h "unknown option '--admin' for 'user ls'; --admin goes with 'user add'"
u --service user rm nobody --service
h "--service goes with 'user add'"
u --passphrase-file user ls --passphrase-file "$tmp/svc.pass"
u --rekey user add nobody --rekey
h "--rekey goes with 'user rm'"
u --json user add nobody --json
h "--json goes with 'user ls'"
u --site device list --site X
h "unknown option '--site' for 'device list'; --site goes with 'device enroll'"
u --role device request --role clinic
u --admin device revoke "$none" --admin
u --json device enroll ssh-ed25519-x --site a --role clinic --json
h "--json goes with 'device request' and 'device list'"
u --json device allowed-signers --json
u --cpt code queue --cpt 1
h "unknown option '--cpt' for 'code queue'; --cpt goes with 'code assign'"
u --icd code send "$none" --icd A01
u --modifier code done "$none" --modifier 25
u --json code send "$none" --json
h "--json goes with 'code queue' and 'code assign'"
# options before the verb, and a value that looks like a verb, are read
# with the verb's table
u --admin user --store "$tmp/ls" --admin ls
u --cpt code --store queue --cpt 1 queue

# The other way round, for every command line the program has ('chartsync
# __complete': COMMAND[ SUB], its subcommands, the options its table
# takes): every option its --help's usage lines name is taken (getopt does
# not call it unknown), and every option its table takes is named in its
# --help. Run where no store exists, so a command that starts stops there.
while IFS= read -r entry; do
  key=${entry%%$'\t'*}
  rest=${entry#*$'\t'}
  subs=${rest%%$'\t'*}
  rest=${rest#*$'\t'}
  opts=${rest%%$'\t'*}
  opts=${opts//=/} # '=' marks an option that takes a value
  # shellcheck disable=SC2086
  help=$("$chartsync" $key --help 2>&1)
  # the usage lines (up to the first blank line), one per "chartsync ..."
  # with its continuation lines, each without what precedes the command
  usage=$(printf '%s\n' "$help" |
    awk 'NF == 0 { exit } /chartsync / { sub(/^.*chartsync /, ""); printf "\n%s", $0; next }
         { printf " %s", $0 } END { print "" }')
  named=""
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    read -ra w <<<"$line"
    case "$key" in
    *' '*) [ "${w[0]} ${w[1]-}" = "$key" ] || continue ;;
    *) [ "${w[0]}" = "$key" ] || continue
       # a line of one of its subcommands is that subcommand's
       [[ -n "${w[1]-}" && " $subs " == *" ${w[1]} "* ]] && continue ;;
    esac
    named+=" $(grep -oE -- '--[a-z][a-z-]*' <<<"$line" | tr '\n' ' ' || true)"
  done <<<"$usage"
  for opt in $named; do
    cases=$((cases + 1))
    if [[ " $opts " != *" $opt "* ]]; then
      echo "FAILED: 'chartsync $key --help' names $opt, which 'chartsync __complete' does not list for it" >&2
      failures=$((failures + 1))
    fi
    # shellcheck disable=SC2086
    env -u CHARTSYNC_PASSPHRASE -u CHARTSYNC_NEW_PASSPHRASE CHARTSYNC_STORE="$tmp/no-store" \
      timeout 20 "$chartsync" $key "$opt" </dev/null >/dev/null 2>"$tmp/err" || true
    if grep -q "unknown option" "$tmp/err"; then
      echo "FAILED: 'chartsync $key --help' names $opt, but 'chartsync $key $opt' says: $(head -c 200 "$tmp/err")" >&2
      failures=$((failures + 1))
    fi
  done
  for opt in $opts; do
    case "$opt" in --store | --user | --help) continue ;; esac
    cases=$((cases + 1))
    if ! grep -qE -- "$opt([^a-z-]|\$)" <<<"$help"; then
      echo "FAILED: 'chartsync $key' takes $opt, which its --help does not name" >&2
      failures=$((failures + 1))
    fi
  done
done < <("$chartsync" __complete)

# admin devices: a billing office cannot be one (refused, nothing saved)
export CHARTSYNC_STORE="$tmp/adm"
"$chartsync" init --user maria >/dev/null
"$chartsync" org init --archive "$tmp/none.git" --site Central >/dev/null 2>&1
"$chartsync" init --user maria --store "$tmp/adm2" >/dev/null
req=$("$chartsync" device request --store "$tmp/adm2")
t 2 device enroll "$req" --site Billing --role billing --admin
cases=$((cases + 1))
if ! "$chartsync" device enroll "$req" --site 'Clinic E' --role clinic --admin \
     >/dev/null 2>&1 || [ "$("$chartsync" device list | grep -c '  admin$')" != 2 ]; then
  echo "FAILED: device enroll --admin: device list does not show two admin devices" >&2
  failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
  echo "$failures of $cases cases failed" >&2
  exit 1
fi
echo "exit codes: $cases cases ok"
