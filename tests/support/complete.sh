# tests/support/complete.sh - sourced by the completion tests (the build's
# and the installed package's): call chartsync's completion function as
# bash does at a <TAB>.
#
# complete_replies LINE: with COMP_WORDS already the words of LINE,
# complete its last word; print what _chartsync offers, sorted, one per
# line (empty replies left out).
complete_replies() {
  local line=$1
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _chartsync chartsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}
