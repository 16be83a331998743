#!/usr/bin/env bash
# tools/: `chartsync desk` over real HTTP (curl against the real binary on
# a store made with the CLI): the headers every response carries, the Host
# check, sign-in (a wrong passphrase and a service user refused; the
# cookie's flags), the CSRF token of a POST, sign-out, unknown paths, the
# --listen check and the exit codes, SIGTERM.
# usage: test_desk_http.sh CHARTSYNC
set -euo pipefail
chartsync=$1
tmp=$(mktemp -d)
desk_pid=
cleanup() {
  [ -z "$desk_pid" ] || kill "$desk_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
export CHARTSYNC_STORE="$tmp/store" CHARTSYNC_PASSPHRASE=pw
unset CHARTSYNC_PASSPHRASE_FILE CHARTSYNC_USER
cs() { "$chartsync" "$@"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
status() { set +e; "$@" >"$tmp/out" 2>"$tmp/err"; echo $?; set -e; }

cs init --user maria >/dev/null
CHARTSYNC_NEW_PASSPHRASE=svcpw cs user add --service scanner >/dev/null
export CHARTSYNC_USER=maria

# ---- the command line ----
[ "$(status cs desk --help)" = 0 ] || fail "desk --help"
grep -q -- "--listen" "$tmp/out" || fail "--help documents --listen"
grep -q "desk.idle" "$tmp/out" || fail "--help documents desk.idle"
for addr in 0.0.0.0:0 192.168.1.5:80 '[::]:0' example.org:80 127.0.0.1 localhost:x 127.0.0.1:70000; do
  # refused before the store is touched: a missing store still gives 1
  [ "$(status cs --store "$tmp/none" desk --listen "$addr")" = 1 ] ||
    fail "--listen $addr is bad usage: $(cat "$tmp/err")"
  grep -q "the desk listens only on this computer (127.0.0.1, ::1 or localhost)" "$tmp/err" ||
    fail "--listen $addr says why: $(cat "$tmp/err")"
done
[ "$(status cs desk --nonsense)" = 1 ] || fail "an unknown option is bad usage"
[ "$(status cs --store "$tmp/none" desk --listen 127.0.0.1:0)" = 2 ] ||
  fail "a store that is not there is exit 2"
grep -q "none" "$tmp/err" || fail "the missing store is named: $(cat "$tmp/err")"

# desk.idle: whole minutes from 1 to 1440
for bad in 0 -5 abc 1441 15m ''; do
  [ "$(status cs config desk.idle -- "$bad")" = 2 ] || fail "desk.idle '$bad' is refused"
  grep -q "desk.idle takes a whole number of minutes" "$tmp/err" || fail "desk.idle says why: $(cat "$tmp/err")"
done
[ "$(status cs config desk.idle)" = 0 ] && grep -qx 15 "$tmp/out" || fail "desk.idle defaults to 15"
[ "$(status cs config desk.idle 30)" = 0 ] || fail "desk.idle 30 is taken"

# ---- serving ----
"$chartsync" desk --listen 127.0.0.1:0 >"$tmp/desk.out" 2>"$tmp/desk.err" &
desk_pid=$!
for _ in $(seq 100); do
  grep -q 'http://' "$tmp/desk.out" 2>/dev/null && break
  kill -0 "$desk_pid" 2>/dev/null || fail "the desk stopped: $(cat "$tmp/desk.err")"
  sleep 0.1
done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$tmp/desk.out") || fail "no URL: $(cat "$tmp/desk.out")"
port=${url#http://127.0.0.1:}
port=${port%/}
[ "$port" -gt 0 ] || fail "port 0 gave the port bound: $url"

# curl -s -D headers -o body [options] PATH: prints the status code
req() {
  local path=$1
  shift
  curl -s -o "$tmp/body" -D "$tmp/head" -w '%{http_code}' "$@" "$url${path#/}"
}
header() { grep -i "^$1:" "$tmp/head" | tr -d '\r'; }
has_headers() {
  header Cache-Control | grep -qx 'Cache-Control: no-store' || fail "$1: Cache-Control"
  header Referrer-Policy | grep -qx 'Referrer-Policy: no-referrer' || fail "$1: Referrer-Policy"
  header X-Content-Type-Options | grep -qx 'X-Content-Type-Options: nosniff' ||
    fail "$1: X-Content-Type-Options"
  header Content-Security-Policy | grep -qxF "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'" ||
    fail "$1: Content-Security-Policy: $(header Content-Security-Policy)"
  header Server-Timing | grep -qE '^Server-Timing: page;dur=[0-9.]+$' || fail "$1: Server-Timing"
}

[ "$(req /signin)" = 200 ] || fail "GET /signin"
has_headers /signin
grep -q '<form id="signin" method="post" action="/signin">' "$tmp/body" || fail "form#signin"
grep -q 'name="passphrase" type="password"' "$tmp/body" || fail "a password input"
grep -q '<html lang="en">' "$tmp/body" || fail "html lang"
grep -q '<link rel="stylesheet" href="/static/desk.css">' "$tmp/body" || fail "the style sheet"
[ "$(req /static/desk.js)" = 200 ] || fail "GET /static/desk.js"
has_headers /static/desk.js
header Content-Type | grep -q 'text/javascript' || fail "desk.js is JavaScript"
grep -q 'sendBeacon' "$tmp/body" || fail "desk.js is the desk's script"
[ "$(req /static/nothing.js)" = 404 ] || fail "an unknown asset is 404"

# the Host header: the desk's own names only
[ "$(req /signin -H "Host: localhost:$port")" = 200 ] || fail "Host localhost:PORT is the desk"
[ "$(req /signin -H 'Host: attacker.example')" = 421 ] || fail "a foreign Host is 421"
has_headers "the 421"
grep -q 'form' "$tmp/body" && fail "a foreign Host gets no page"
[ "$(req /signin -H "Host: attacker.example:$port")" = 421 ] || fail "a foreign name on our port is 421"

# no session: pages send to /signin
[ "$(req /review)" = 303 ] || fail "/review without a session"
header Location | grep -qx 'Location: /signin' || fail "/review goes to /signin: $(header Location)"

# a wrong passphrase, an unknown user, a service user: refused, no cookie
[ "$(req /signin --data-urlencode user=maria --data-urlencode passphrase=wrong)" = 403 ] ||
  fail "a wrong passphrase is refused"
grep -q 'class="error" role="alert">The user name or the passphrase is wrong' "$tmp/body" ||
  fail "says the name or passphrase is wrong"
header Set-Cookie | grep -q . && fail "no cookie after a wrong passphrase"
# what was typed comes back escaped: HTML, control characters, bidi overrides
evil=$(printf '"><script>alert(1)</script>\xe2\x80\xae\x1b[2J')
[ "$(req /signin --data-urlencode "user=$evil" -d passphrase=pw)" = 403 ] || fail "a strange name is refused"
grep -qF 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\u{202e}\x1b[2J"' "$tmp/body" ||
  fail "the name typed comes back escaped: $(grep -o 'value="[^>]*>' "$tmp/body")"
grep -q '<script>alert' "$tmp/body" && fail "no script from the name typed"
[ "$(req /signin -d user=nobody -d passphrase=pw)" = 403 ] || fail "an unknown user is refused"
header Set-Cookie | grep -q . && fail "no cookie for an unknown user"
[ "$(req /signin -d user=scanner -d passphrase=svcpw)" = 403 ] || fail "a service user is refused"
grep -q 'class="error"' "$tmp/body" && grep -q 'service user' "$tmp/body" ||
  fail "says a service user cannot sign in: $(grep error "$tmp/body")"
header Set-Cookie | grep -q . && fail "no cookie for a service user"
# a sign-in forged from another site's page
[ "$(req /signin -H 'Origin: http://attacker.example' -d user=maria -d passphrase=pw)" = 403 ] ||
  fail "a sign-in from another origin is refused"
header Set-Cookie | grep -q . && fail "no cookie for a sign-in from another origin"
[ "$(req /signin -H 'Sec-Fetch-Site: cross-site' -d user=maria -d passphrase=pw)" = 403 ] ||
  fail "a sign-in another site's page sent is refused"
header Set-Cookie | grep -q . && fail "no cookie for a cross-site sign-in"

# sign-in
[ "$(req /signin -d user=maria -d passphrase=pw)" = 303 ] || fail "sign-in: $(cat "$tmp/body")"
header Location | grep -qx 'Location: /review' || fail "sign-in goes to /review"
cookie=$(header Set-Cookie)
# the cookie's name holds the port: two desks on one computer (a browser
# keeps cookies per host, not per port) do not sign each other out
echo "$cookie" | grep -qE "^Set-Cookie: chartsync_desk_$port=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict\$" ||
  fail "the session cookie: $cookie"
token=$(echo "$cookie" | sed -E 's/^Set-Cookie: chartsync_desk_[0-9]+=([0-9a-f]+);.*/\1/')
jar=(-H "Cookie: chartsync_desk_$port=$token")
[ "$(req /review -H "Cookie: chartsync_desk=$token")" = 303 ] ||
  fail "the cookie without the port names no session here"

# a page with the session (the 404 page: the others are not this test's)
[ "$(req /no/such/page "${jar[@]}")" = 404 ] || fail "an unknown path is 404"
has_headers "the 404 page"
grep -q '<p class="error" role="alert">' "$tmp/body" || fail "the 404 page says it"
grep -q '<p id="who">Signed in as <strong>maria</strong>' "$tmp/body" || fail "#who names maria"
grep -q '<form id="signout" method="post" action="/signout">' "$tmp/body" || fail "form#signout"
for link in /review /reports/access /reports/consistency /reports/coding /reports/sync; do
  grep -q "<a href=\"$link\">" "$tmp/body" || fail "the nav links $link"
done
csrf=$(grep -o '<meta name="csrf" content="[0-9a-f]*">' "$tmp/body" | grep -oE '[0-9a-f]{64}') ||
  fail "the csrf meta tag"
[ "$(req / "${jar[@]}")" = 303 ] && header Location | grep -qx 'Location: /review' ||
  fail "/ goes to /review"
[ "$(req /signin "${jar[@]}")" = 303 ] || fail "/signin when signed in goes on to /review"
[ "$(req /signout "${jar[@]}")" = 405 ] || fail "GET /signout is not a form"

# a POST without the CSRF token, or with another: 403, and the session lives on
[ "$(req /signout "${jar[@]}" -X POST)" = 403 ] || fail "a POST without csrf is 403"
has_headers "the 403"
header Set-Cookie | grep -q . && fail "a refused sign-out clears no cookie"
# another token: the last digit changed (to 1 when it was 0)
other=${csrf%?}0; [ "$other" = "$csrf" ] && other=${csrf%?}1
[ "$(req /signout "${jar[@]}" -d "csrf=$other")" = 403 ] ||
  fail "a POST with a wrong csrf is 403"
[ "$(req /signout "${jar[@]}" -d "csrf=$token")" = 403 ] ||
  fail "the cookie's token is not the csrf token"
[ "$(req /leave "${jar[@]}" -H 'Sec-Fetch-Site: cross-site' -d "csrf=$csrf" -d view=00)" = 403 ] ||
  fail "a POST another site's page sent is 403, with the token too"
[ "$(req /no/such/page "${jar[@]}")" = 404 ] || fail "the session still works after the 403s"
grep -q 'id="who"' "$tmp/body" || fail "still signed in after the 403s"

# a page another page sent the browser to, or fetched: refused, a GET too
# (a page on another port of this computer is the same site, so the cookie
# goes with it, and a record's page writes an access event in maria's name)
for site in same-site cross-site; do
  [ "$(req /review "${jar[@]}" -H "Sec-Fetch-Site: $site")" = 403 ] ||
    fail "a GET with Sec-Fetch-Site: $site is 403: $(cat "$tmp/body")"
  has_headers "the 403 of a GET from another page"
  grep -q 'queue' "$tmp/body" && fail "no queue for Sec-Fetch-Site: $site"
  grep -q "the desk opens only from its own pages" "$tmp/body" || fail "the 403 says why: $(cat "$tmp/body")"
  [ "$(req /static/desk.css -H "Sec-Fetch-Site: $site")" = 200 ] ||
    fail "the assets are served to any page (Sec-Fetch-Site: $site)"
done
for site in same-origin none; do
  [ "$(req /no/such/page "${jar[@]}" -H "Sec-Fetch-Site: $site")" = 404 ] ||
    fail "a GET with Sec-Fetch-Site: $site is served"
done

# HEAD: the assets only; a page's HEAD would keep a view no beacon ever
# leaves, written as an access event when the session ends
hpat=$(cs add patient name=Head-request mrn=HEAD-1)
head_events=$(cs report access | grep -c 'desk history' || true)
[ "$(req "/record/$hpat" "${jar[@]}" -I)" = 405 ] || fail "HEAD of a page is 405"
has_headers "the 405 of a HEAD"
[ "$(req /static/desk.js -I)" = 200 ] || fail "HEAD of an asset is served"

# a form beyond the desk's ceiling
head -c 70000 /dev/zero | tr '\0' a >"$tmp/big"
[ "$(req /leave "${jar[@]}" -d "csrf=$csrf" --data-urlencode "view@$tmp/big")" = 413 ] ||
  fail "a field over 64 KiB is 413"
# a NUL byte (%00) in a form field or a query argument: said as what it is
[ "$(req /leave "${jar[@]}" -d "csrf=$csrf" -d 'view=a%00b')" = 400 ] ||
  fail "a form field with a NUL byte is 400"
grep -q 'a form field holds a NUL byte' "$tmp/body" || fail "says the field holds a NUL byte: $(cat "$tmp/body")"
grep -q 'larger than the desk takes' "$tmp/body" && fail "a NUL byte is not a form too large"
[ "$(req '/review?patient=a%00b' "${jar[@]}")" = 400 ] || fail "a query argument with a NUL byte is 400"
grep -q 'a form field holds a NUL byte' "$tmp/body" || fail "says the argument holds a NUL byte"

# the desk's own form as a browser sends it under no-referrer (Origin:
# null), and as multipart
[ "$(req /leave "${jar[@]}" -H 'Origin: null' -H 'Sec-Fetch-Site: same-origin' -d "csrf=$csrf" -d view=00)" = 204 ] ||
  fail "a same-origin POST with Origin null is taken"
[ "$(req /leave "${jar[@]}" -H "Origin: http://127.0.0.1:$port" -F "csrf=$csrf" -F view=00)" = 204 ] ||
  fail "a multipart form with the token is taken"
[ "$(req /leave "${jar[@]}" -F "csrf=0$csrf" -F view=00)" = 403 ] ||
  fail "a multipart form with a wrong token is 403"

# /leave of a view never held: nothing to write
[ "$(req /leave "${jar[@]}" -d "csrf=$csrf" -d view=00)" = 204 ] || fail "/leave is 204"

# sign-out with the token: the cookie cleared, the session gone
[ "$(req /signout "${jar[@]}" -d "csrf=$csrf")" = 303 ] || fail "sign-out"
header Location | grep -qx 'Location: /signin' || fail "sign-out goes to /signin"
header Set-Cookie | grep -q "^Set-Cookie: chartsync_desk_$port=;.*Max-Age=0" || fail "sign-out clears the cookie"
[ "$(req /review "${jar[@]}")" = 303 ] || fail "the old cookie opens nothing"
header Location | grep -qx 'Location: /signin' || fail "the old cookie goes to /signin"
[ "$(cs report access | grep -c 'desk history' || true)" = "$head_events" ] ||
  fail "the HEAD of a page left no access event behind: $(cs report access)"

# SIGTERM: a clean stop
kill -TERM "$desk_pid"
set +e
wait "$desk_pid"
rc=$?
set -e
desk_pid=
[ "$rc" = 0 ] || fail "SIGTERM stops the desk with 0, not $rc: $(cat "$tmp/desk.err")"

# a hang-up (the desk's terminal closed) and a quit stop the desk the
# clean way too: the page a person still has open is recorded as an access
# event, not lost with a process killed
pat=$(cs add patient name=Hang-up mrn=HUP-1)
for sig in HUP QUIT; do
  "$chartsync" desk --listen 127.0.0.1:0 >"$tmp/desk.out" 2>"$tmp/desk.err" &
  desk_pid=$!
  for _ in $(seq 100); do
    grep -q 'http://' "$tmp/desk.out" 2>/dev/null && break
    sleep 0.1
  done
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$tmp/desk.out") || fail "no URL: $(cat "$tmp/desk.err")"
  [ "$(req /signin -d user=maria -d passphrase=pw)" = 303 ] || fail "sign-in before SIG$sig"
  token=$(header Set-Cookie | sed -E 's/^Set-Cookie: [a-z_0-9]+=([0-9a-f]+);.*/\1/')
  cname=$(header Set-Cookie | sed -E 's/^Set-Cookie: ([a-z_0-9]+)=.*/\1/')
  before=$(cs report access | grep -c 'desk history' || true)
  [ "$(req "/record/$pat" -H "Cookie: $cname=$token")" = 200 ] || fail "/record/ID before SIG$sig"
  grep -q '<body data-view="[0-9a-f]\{64\}">' "$tmp/body" || fail "the history page holds a view"
  kill -"$sig" "$desk_pid"
  set +e
  wait "$desk_pid"
  rc=$?
  set -e
  desk_pid=
  [ "$rc" = 0 ] || fail "SIG$sig stops the desk with 0, not $rc: $(cat "$tmp/desk.err")"
  after=$(cs report access | grep -c 'desk history' || true)
  [ "$after" = $((before + 1)) ] ||
    fail "the page open at SIG$sig is recorded: $(cs report access) $(cat "$tmp/desk.err")"
done

# an access event the store cannot take when its page is left (its write
# lock held past the wait, as by a long sync) is kept and written once the
# store takes it, and the desk's terminal says so; one still not written
# when the desk stops is printed there, not dropped in silence
history_events() { cs report access | grep -c 'desk history' || true; }
"$chartsync" desk --listen 127.0.0.1:0 >"$tmp/desk.out" 2>"$tmp/desk.err" &
desk_pid=$!
for _ in $(seq 100); do
  grep -q 'http://' "$tmp/desk.out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$tmp/desk.out") || fail "no URL: $(cat "$tmp/desk.err")"
[ "$(req /signin -d user=maria -d passphrase=pw)" = 303 ] || fail "sign-in for the busy store"
cname=$(header Set-Cookie | sed -E 's/^Set-Cookie: ([a-z_0-9]+)=.*/\1/')
token=$(header Set-Cookie | sed -E 's/^Set-Cookie: [a-z_0-9]+=([0-9a-f]+);.*/\1/')
jar=(-H "Cookie: $cname=$token")
[ "$(req "/record/$pat" "${jar[@]}")" = 200 ] || fail "/record/ID for the busy store"
view=$(grep -oE 'data-view="[0-9a-f]{64}"' "$tmp/body" | grep -oE '[0-9a-f]{64}')
csrf=$(grep -o '<meta name="csrf" content="[0-9a-f]*">' "$tmp/body" | grep -oE '[0-9a-f]{64}')
before=$(history_events)
exec 9>"$CHARTSYNC_STORE/lock"
flock 9 # the store's write lock, as a sync holds it: the leave waits it out
[ "$(req /leave "${jar[@]}" -d "csrf=$csrf" -d "view=$view")" = 204 ] || fail "/leave of a busy store"
grep -q "the access event of maria's page /record/$pat (open from .* UTC to .* UTC) could not be recorded yet; the desk keeps it" "$tmp/desk.err" ||
  fail "the desk's terminal says the event waits: $(cat "$tmp/desk.err")"
exec 9>&-
for _ in $(seq 150); do
  grep -q "is recorded now" "$tmp/desk.err" && break
  sleep 0.1
done
grep -q "the access event of maria's page /record/$pat (open from .* to .*) is recorded now" "$tmp/desk.err" ||
  fail "the kept event is written once the store takes it: $(cat "$tmp/desk.err")"
[ "$(history_events)" = $((before + 1)) ] || fail "the kept event is in the access report: $(cs report access)"
# the store busy when the desk stops: the last try fails, and says so
[ "$(req "/record/$pat" "${jar[@]}")" = 200 ] || fail "/record/ID again"
exec 9>"$CHARTSYNC_STORE/lock"
flock 9
kill -TERM "$desk_pid"
set +e
wait "$desk_pid"
rc=$?
set -e
desk_pid=
exec 9>&-
[ "$rc" = 0 ] || fail "the desk stops with 0 on a busy store, not $rc"
grep -q "the access event of maria's page /record/$pat (open from .*) is NOT recorded: the desk stops without it; note by hand" "$tmp/desk.err" ||
  fail "the desk's terminal names the event it could not record: $(cat "$tmp/desk.err")"
[ "$(history_events)" = $((before + 1)) ] || fail "nothing more was written: $(cs report access)"

# an address that cannot be bound (taken by a desk already there): 2;
# that desk signs a person out after desk.idle minutes without use
cs config desk.idle 1
"$chartsync" desk --listen 127.0.0.1:0 >"$tmp/desk.out" 2>"$tmp/desk.err" &
desk_pid=$!
for _ in $(seq 100); do
  grep -q 'http://' "$tmp/desk.out" 2>/dev/null && break
  sleep 0.1
done
taken=$(grep -o '127\.0\.0\.1:[0-9]*' "$tmp/desk.out")
[ "$(status cs desk --listen "$taken")" = 2 ] || fail "a taken port is exit 2"
grep -q "cannot listen on '$taken'" "$tmp/err" || fail "says the port is taken: $(cat "$tmp/err")"
url="http://$taken/"
[ "$(req /signin -d user=maria -d passphrase=pw)" = 303 ] || fail "sign-in on the second desk"
cname=$(header Set-Cookie | sed -E 's/^Set-Cookie: ([a-z_0-9]+)=.*/\1/')
[ "$cname" = "chartsync_desk_${taken#127.0.0.1:}" ] || fail "the second desk's cookie names its port: $cname"
token=$(header Set-Cookie | sed -E 's/^Set-Cookie: [a-z_0-9]+=([0-9a-f]+);.*/\1/')
jar=(-H "Cookie: $cname=$token")
[ "$(req /no/such/page "${jar[@]}")" = 404 ] && grep -q 'id="who"' "$tmp/body" ||
  fail "signed in on the second desk"
sleep 61
code=$(req /review "${jar[@]}")
[ "$code" = 303 ] || fail "after desk.idle the session is over: $code $(cat "$tmp/head" "$tmp/desk.err")"
header Location | grep -qx 'Location: /signin?expired=1' || fail "sent to /signin?expired=1: $(header Location)"
[ "$(req "/signin?expired=1" "${jar[@]}")" = 200 ] || fail "/signin?expired=1"
grep -q 'You were signed out after 1 minute without use' "$tmp/body" ||
  fail "the sign-in page says why: $(cat "$tmp/body")"
kill -INT "$desk_pid"
set +e
wait "$desk_pid"
rc=$?
set -e
desk_pid=
[ "$rc" = 0 ] || fail "SIGINT stops the desk with 0, not $rc"
echo "ok"
