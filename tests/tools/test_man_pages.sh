#!/bin/bash
# The manual pages against the command line they describe.
#
#   test_man_pages.sh CHARTSYNC MANDIR
#
# CHARTSYNC is the build's binary, MANDIR the build folder the pages were
# rendered into (packaging/man). It fails when
#   (a) a command line of 'chartsync __complete' names no page, or its page
#       was not built;
#   (b) an option (--word) that 'chartsync CMD [SUB] --help' names, or that
#       the listing gives the command, is missing from that page's text;
#   (c) a page does not name its command lines ('chartsync user add' on
#       chartsync-store(1));
#   (d) 'MANWIDTH=80 man --warnings -l PAGE' prints anything on stderr;
#   (e) chartsync(1) lacks a command line of the listing.
# Every failure is listed before the test exits 1.
#
# Options and command lines are looked up in the rendered page as a reader
# sees it, not in the scdoc source (where markup such as *--store* or a
# line break could hide or fake a match), rendered at MANWIDTH=1000: man-db
# hyphenates and groff breaks lines after a '-', so at 80 columns
# '--passphrase-file' may come out as '--pass-' and 'phrase-file' on two
# lines; at 1000 columns no paragraph of these pages wraps at all. Check (d)
# renders at 80, the width a person reads them at.
set -u
bin=${1:?usage: test_man_pages.sh CHARTSYNC MANDIR}
mandir=${2:?usage: test_man_pages.sh CHARTSYNC MANDIR}
export LC_ALL=C.UTF-8 MANPAGER=cat PAGER=cat
unset MAN_KEEP_FORMATTING MANOPT
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

command -v man >/dev/null || { echo "FAIL: man (man-db) is not installed"; exit 1; }

# The page's text at 1000 columns, hyphens (U+2010, U+2212) as ASCII '-'.
render() {
	local page=$1 out=$tmp/$1.txt
	if [ ! -s "$out" ]; then
		MANWIDTH=1000 man -l "$mandir/$page" 2>/dev/null |
			sed 's/\xe2\x80\x90/-/g; s/\xe2\x88\x92/-/g' >"$out"
	fi
	printf '%s\n' "$out"
}

# 'chartsync-store(1)' -> 'chartsync-store.1'
page_file() { sed -E 's/^(.*)\(([0-9])\)$/\1.\2/' <<<"$1"; }

# A phrase present in a text as whole words ('code' is not 'codes').
has_words() { grep -qwF -- "$1" "$2"; }

"$bin" __complete >"$tmp/listing" || { echo "FAIL: chartsync __complete failed"; exit 1; }
[ -s "$tmp/listing" ] || { echo "FAIL: chartsync __complete printed nothing"; exit 1; }

# chartsync(1) is the overview every command line must appear on (e).
overview=chartsync.1
for p in chartsync.1 chartsync.7; do
	[ -s "$mandir/$p" ] || fail "$p was not built in $mandir (is scdoc installed?)"
done

# The listing's columns are tab-separated and may be empty: read them split
# at \037, since read would merge consecutive tabs (IFS whitespace).
tr '\t' '\037' <"$tmp/listing" >"$tmp/fields"
while IFS=$'\037' read -r cmdline subs opts page; do
	[ -n "$cmdline" ] || continue
	# (a) a page for every command line, and the page built
	if [ -z "$page" ]; then
		fail "'chartsync $cmdline' names no manual page in the listing"
		continue
	fi
	file=$(page_file "$page")
	if [ ! -s "$mandir/$file" ]; then
		fail "'chartsync $cmdline': its page $page was not built ($mandir/$file)"
		continue
	fi
	text=$(render "$file")

	# (c) the page names the command line
	has_words "chartsync $cmdline" "$text" ||
		fail "$page does not name 'chartsync $cmdline'"

	# (e) the overview lists it
	if [ -s "$mandir/$overview" ]; then
		has_words "$cmdline" "$(render "$overview")" ||
			fail "chartsync(1) does not list the command '$cmdline'"
	fi

	# (b) every option --help names, and every option the listing gives it.
	# --help itself is every command's (chartsync(1) says so, checked below).
	# shellcheck disable=SC2086 # the command line is words
	if ! "$bin" $cmdline --help >"$tmp/help" 2>&1 </dev/null; then
		fail "'chartsync $cmdline --help' failed"
	fi
	{
		grep -oE -- '--[a-z][a-z0-9-]*[a-z0-9]' "$tmp/help"
		tr ' ' '\n' <<<"$opts"
	} | grep -E '^--' | sort -u | while read -r opt; do
		[ "$opt" = --help ] && continue
		grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" "$text" ||
			echo "$page lacks $opt, which 'chartsync $cmdline' takes or its --help names"
	done >"$tmp/missing"
	while read -r line; do fail "$line"; done <"$tmp/missing"
done <"$tmp/fields"

if [ -s "$mandir/$overview" ]; then
	for opt in --help --store --user --version; do
		grep -qE -- "(^|[^a-z0-9-])$opt([^a-z0-9-]|\$)" "$(render "$overview")" ||
			fail "chartsync(1) lacks the global option $opt"
	done
fi

# (d) every page renders without a warning, and every source was built
shopt -s nullglob
pages=("$mandir"/*.[0-9])
[ ${#pages[@]} -gt 0 ] || fail "no page was built in $mandir"
for p in "${pages[@]}"; do
	MANWIDTH=80 man --warnings -l "$p" >/dev/null 2>"$tmp/warnings"
	if [ -s "$tmp/warnings" ]; then
		fail "$(basename "$p") renders with warnings:"
		sed 's/^/    /' "$tmp/warnings"
	fi
done

if [ "$failures" -gt 0 ]; then
	echo "$failures problem(s) with the manual pages"
	exit 1
fi
echo "ok: $(wc -l <"$tmp/listing") command lines, ${#pages[@]} pages, every option and command documented, no warnings"
