#!/usr/bin/env bash
# The installed bash completion, /usr/share/bash-completion/completions/chartsync,
# completes what a person types at a <TAB> in a plain bash: loaded the way a
# user's shell loads it (bash-completion's own loader, on demand, the first
# time `chartsync` is completed) when bash-completion is installed, else
# sourced directly; then a command, a subcommand and an option.
# usage: test_completion.sh   (after the package is installed)
set -uo pipefail
[ "${COMPLETION_TEST_INNER:-}" = 1 ] || {
  # a clean interactive-less bash of its own: no ~/.bashrc, no completions
  # the calling shell happened to have
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/nonexistent \
    COMPLETION_TEST_INNER=1 bash --norc --noprofile "$0" "$@"
}
fail() { echo "FAILED (test_completion): $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

file=/usr/share/bash-completion/completions/chartsync
[ -f "$file" ] || fail "$file is not installed"
dpkg -S "$file" >/dev/null 2>&1 || fail "$file is not the package's"
[ -x /usr/bin/chartsync ] || fail "/usr/bin/chartsync is not installed"

if [ -r /usr/share/bash-completion/bash_completion ]; then
  # shellcheck disable=SC1091
  source /usr/share/bash-completion/bash_completion
  ! complete -p chartsync >/dev/null 2>&1 || fail "chartsync's completion was there before it was asked for"
  # what bash-completion's default handler (complete -D) does at the first
  # <TAB> after a command it has no completion for yet
  if declare -F __load_completion >/dev/null; then
    __load_completion chartsync || fail "bash-completion's loader did not find $file"
  else
    _completion_loader chartsync
  fi
  how="loaded by bash-completion's own loader"
else
  # shellcheck disable=SC1090
  source "$file" || fail "cannot source $file"
  how="sourced directly (bash-completion is not installed)"
fi
complete -p chartsync 2>/dev/null | grep -q -- '-F _chartsync chartsync$' ||
  fail "after loading $file, chartsync's completion is not _chartsync: $(complete -p chartsync 2>&1)"
ok "the completion is $how"

. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../support" && pwd)/complete.sh"

# c 'COMMAND LINE' WANT...: a <TAB> at the end of the line (a trailing space
# starts a new, empty word) offers exactly the words WANT, in any order
c() {
  local line=$1 got want
  shift
  read -ra COMP_WORDS <<<"$line"
  [[ $line == *' ' ]] && COMP_WORDS+=("")
  got=$(complete_replies "$line" | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
  [ "$got" = "$want" ] || fail "'$line<TAB>' offers [${got% }], not [${want% }]"
  ok "'$line<TAB>' offers ${want% }"
}
c 'chartsync us' user
c 'chartsync report a' access archive
c 'chartsync add --p' --patient
echo "installed completion: ok"
