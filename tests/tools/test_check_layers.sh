#!/usr/bin/env bash
# tools/dev/check-layers fails when ARCHITECTURE.md's picture and the code
# part: an arrow the build has and the table lacks, a table whose arrows
# run in a circle, an include with no arrow under it, a library's header
# in a module the table does not give it.
set -euo pipefail
top=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { # name, sed expression on the table, text the complaint must hold
  sed "$2" "$top/ARCHITECTURE.md" >"$work/$1.md"
  if CHARTSYNC_ARCHITECTURE="$work/$1.md" "$top/tools/dev/check-layers" "$build" \
       >"$work/$1.out" 2>&1; then
    echo "FAIL $1: check-layers passed a wrong picture" >&2; exit 1
  fi
  grep -qF "$3" "$work/$1.out" ||
    { echo "FAIL $1: no complaint naming '$3':" >&2; cat "$work/$1.out" >&2; exit 1; }
  echo "ok $1"
}
check missing_arrow 's#^\(client/bench *| chs_client_bench *| \)client/store client/util#\1client/store#' \
  "client/bench (chs_client_bench): ARCHITECTURE.md draws arrows to"
check extra_arrow 's#^\(sync/git *| chs_sync_git *| \)crypto#\1client/store crypto#' \
  "arrows run in a circle"
check upward_include 's#^\(sync  *| chs_sync  *| \)sync/git crypto#\1crypto#' \
  "sync/sync.h includes sync/git/git.h: sync has no arrow down to sync/git"
check library_not_owned 's#^\(sync/git .*| \)LIBGIT2 \(LIBSSH2 ZLIB\)$#\1\2#' \
  "does not own LIBGIT2"
check libssh2_not_owned 's#^\(sync/git .*| LIBGIT2 \)LIBSSH2 ZLIB$#\1ZLIB#' \
  "does not own LIBSSH2"
# the picture as it is passes
"$top/tools/dev/check-layers" "$build" >/dev/null
echo "ok as-is"
