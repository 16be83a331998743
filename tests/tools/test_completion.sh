#!/usr/bin/env bash
# packaging/completion: the bash completion generated from `chartsync
# __complete` completes what a user types: commands, subcommands, the
# options of the command line typed so far (never another command's),
# folders for --store, files for the options and operands that take one.
# Each case sets COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT as bash
# does at a <TAB>, calls the completion function and compares COMPREPLY.
# Then every option the program lists is held to the completion's idea of
# whether it takes a value (the listing does not say): `chartsync KEY
# OPTION` must say it needs one exactly when the completion thinks so.
# usage: test_completion.sh CHARTSYNC COMPLETION-FILE
set -uo pipefail
chartsync=$(realpath "$1")
completion=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0

fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}

# as a user's shell has it, when the package bash-completion is installed
if [ -r /usr/share/bash-completion/bash_completion ]; then
  # shellcheck disable=SC1091
  source /usr/share/bash-completion/bash_completion
fi
# shellcheck disable=SC1090
source "$completion" || { echo "FAILED: cannot source $completion" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/../support/complete.sh"
complete -p chartsync | grep -q -- '-F _chartsync chartsync$' ||
  fail "the completion does not register _chartsync for chartsync"

# files and folders to complete, in a folder of their own
mkdir "$tmp/files" "$tmp/files/data-a" "$tmp/files/data-b" "$tmp/files/my dir"
touch "$tmp/files/data.csv" "$tmp/files/notes.txt" "$tmp/files/my notes.txt"
cd "$tmp/files" || exit 1

# c 'COMMAND LINE' WANT...: complete at the end of the line (a trailing
# space: a new, empty word); want exactly the words WANT (in any order).
c() {
  local line=$1
  shift
  read -ra COMP_WORDS <<<"$line"
  [[ $line == *' ' ]] && COMP_WORDS+=("")
  complete_words "$line" "$@"
}

# cq 'COMMAND LINE' 'WORD' WANT...: complete WORD, typed after the line as
# it is on the command line (quoted, or with a backslash before a space):
# bash gives the completion that text, quotes and all, as one word.
cq() {
  local line=$1
  read -ra COMP_WORDS <<<"$line"
  COMP_WORDS+=("$2")
  line="$line $2"
  shift 2
  complete_words "$line" "$@"
}

# complete_words LINE WANT...: call the completion for COMP_WORDS, the
# words of LINE, at its last word, and compare what it offers with WANT.
complete_words() {
  local line=$1 got want
  shift
  cases=$((cases + 1))
  got=$(complete_replies "$line" | tr '\n' '|')
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' '|')
  [ "$got" = "$want" ] || fail "'$line<TAB>' gave [${got%|}], wanted [${want%|}]"
}

# the commands: every one the program lists, never the hidden __complete
commands=$("$chartsync" __complete | cut -f1 | grep -v ' ')
[ "$(echo "$commands" | wc -l)" -gt 30 ] || fail "chartsync __complete lists too few commands"
# shellcheck disable=SC2086
c 'chartsync ' $commands
c 'chartsync __' # nothing
c 'chartsync re' rekey remote report restore review
c 'chartsync st' status
# subcommands and verbs
c 'chartsync report a' access archive
c 'chartsync user ' add ls rm
c 'chartsync code a' assign
c 'chartsync export ' claims fhir
# options of the command line typed so far, not another command's
c 'chartsync add --p' --patient
c 'chartsync add --t' # no --take, no --title: those are review's and attach's
c 'chartsync rm ID --' --store --user --help
c 'chartsync review resolve ID --t' --take
c 'chartsync review show ID --t' # --take is resolve's
# each verb of user, device and code: its own options, never another verb's
c 'chartsync user ls --' --json --store --user --help
c 'chartsync user add --' --admin --service --passphrase-file --store --user --help
c 'chartsync user rm NAME --' --rekey --store --user --help
c 'chartsync user --' --store --user --help
c 'chartsync device list --s' --store # --site is enroll's
c 'chartsync device enroll REQ --s' --site --store
c 'chartsync device revoke ID --' --store --user --help
c 'chartsync code queue --c' # --cpt is assign's
c 'chartsync code assign V --c' --cpt
c 'chartsync code send V --' --store --user --help
c 'chartsync report access --u' --user --until
c 'chartsync report access --csv --j' --json # --csv here is a switch
# global options, before the command
c 'chartsync --' --store --user --help --version
c 'chartsync --store data-a --user maria st' status
# --store takes a folder; FILE options and file operands a file name
c 'chartsync --store d' data-a data-b
c 'chartsync ls --store d' data-a data-b
c 'chartsync export claims --since 2024-01-01 --csv d' data-a data-b data.csv
c 'chartsync user add --service scanner --passphrase-file n' notes.txt
c 'chartsync import n' notes.txt
c 'chartsync fees import d' data-a data-b data.csv
c 'chartsync backup ' data-a data-b 'my dir'
# a name with a space, typed with a backslash or in quotes (closed or not)
cq 'chartsync --store' 'my\ d' 'my dir'
cq 'chartsync --store' '"my d' 'my dir'
cq 'chartsync --store' "'my d" 'my dir'
cq 'chartsync --store' '"my dir"' 'my dir'
cq 'chartsync ls --store' 'my\ d' 'my dir'
cq 'chartsync backup' 'my\ d' 'my dir'
cq 'chartsync import' 'my\ n' 'my notes.txt'
cq 'chartsync import' '"my n' 'my notes.txt'
cq 'chartsync user add --service scanner --passphrase-file' 'my\ ' 'my dir' 'my notes.txt'
cq 'chartsync --store' 'my\ x' # nothing there
cq 'chartsync import' '"$HOME' # a $ is itself, never expanded
cq 'chartsync import' '`echo my`' # nothing is run
# values nothing can guess (an id, a name), and fixed lists of values
c 'chartsync show d' # an id, not a file
c 'chartsync add note --patient ' # an id, not an option
c 'chartsync --user ' # a user's name
c 'chartsync device enroll REQ --site Main --role ' clinic billing archivist
c 'chartsync codes import data.csv --system h' hcpcs
c 'chartsync bogus --' # not a command
# --store=DIR, split at '=' as bash's COMP_WORDBREAKS does
cases=$((cases + 1))
COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
COMP_WORDS=(chartsync --store '=' d)
COMP_CWORD=3
COMP_LINE='chartsync --store=d'
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_chartsync chartsync d =
got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
[ "$got" = "data-a data-b " ] || fail "'chartsync --store=d<TAB>' gave [$got], wanted [data-a data-b]"
# and whole, when COMP_WORDBREAKS lacks '=': the reply holds the option
cases=$((cases + 1))
COMP_WORDBREAKS=$' \t\n"\'><;|&(:'
COMP_WORDS=(chartsync --store=d)
COMP_CWORD=1
COMPREPLY=()
_chartsync chartsync --store=d chartsync
got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
[ "$got" = "--store=data-a --store=data-b " ] ||
  fail "'chartsync --store=d<TAB>' (no '=' in COMP_WORDBREAKS) gave [$got], wanted [--store=data-a --store=data-b]"

# Every option of every command line: the completion completes a value
# for it exactly when the listing marks it as taking one ('=', which is
# getopt's own has_arg; test_exit_codes.sh runs every option against the
# program).
checked=0
while IFS=$'\n' read -r entry; do
  key=${entry%%$'\t'*}
  rest=${entry#*$'\t'}
  rest=${rest#*$'\t'}
  opts=${rest%%$'\t'*}
  for opt in $opts; do
    [ "$opt" = --help ] && continue
    checked=$((checked + 1))
    kind=$(_chartsync_value "$key" "${opt%=}")
    if [[ $opt == *= && -z $kind ]]; then
      fail "'chartsync $key ${opt%=}' takes a value, but the completion offers the next word as an option or operand"
    elif [[ $opt != *= && -n $kind ]]; then
      fail "'chartsync $key $opt' takes no value, but the completion completes one ($kind)"
    fi
  done
done < <("$chartsync" __complete)
[ "$checked" -gt 100 ] || fail "only $checked options checked against the program"

if [ "$failures" -gt 0 ]; then
  echo "$failures of $((cases + checked)) cases failed" >&2
  exit 1
fi
echo "completion: $cases cases and $checked options ok"
