#!/usr/bin/env bash
# The installed chartsync@.service really runs the daemon, hardening and
# all: a real systemd (the installed /lib/systemd/systemd) is started as
# PID 1 of fresh pid/mount/uts/ipc/cgroup namespaces, so the machine's own
# init (systemd or not) is never asked, and nothing is left on it: /etc and
# /var/lib are overlays inside the namespace, and the units systemd sees
# are only the installed chartsync@.service (copied byte for byte) and a few
# empty targets (no udev, no journald, no getty).
#
# In there chartsync@e2e.service must start (Type=notify: READY=1 came),
# sign in with the passphrase systemd loaded from
# /etc/chartsync/e2e.passphrase, sync to a git daemon archive at
# git://localhost:PORT (127.0.0.1; "localhost" is also ::1 there, so
# the name resolves to two addresses and the first refuses: glibc's lookup
# and the fallback to the next address run under the unit's address
# family and system call filters), send the change waiting in the store,
# reload on `systemctl reload` and stop on `systemctl stop`.
#
# Then the user unit: a user manager (`systemd --user`, as user@.service
# runs it) for a person "ws" with a home in /home, and the installed
# chartsync.service started there must run the daemon on
# ~/.local/share/chartsync with the passphrase from
# ~/.config/chartsync/passphrase, sync through it, and answer that
# person's `chartsync status` on the control socket.
#
# usage: test_unit_run.sh   (as root; exit 77: skipped, with the reason)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../support/free-port.sh"
fail() { echo "FAILED: $*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (namespaces, mounts, a systemd of its own)"
for c in unshare nsenter git systemd-analyze; do
  command -v "$c" >/dev/null || skip "no $c here"
done
systemd=/lib/systemd/systemd
[ -x "$systemd" ] || skip "no $systemd here"
unit=
for d in /usr/lib/systemd/system /lib/systemd/system; do
  [ -f "$d/chartsync@.service" ] && { unit=$d/chartsync@.service; break; }
done
[ -n "$unit" ] || fail "chartsync@.service is not installed"
userunit=/usr/lib/systemd/user/chartsync.service
[ -f "$userunit" ] || fail "chartsync.service is not installed"
[ -x /usr/bin/chartsync ] || fail "/usr/bin/chartsync is not installed"
getent passwd _chartsync >/dev/null || fail "user _chartsync is missing"
# a cgroup2 hierarchy to give the inner systemd (its own subtree of it)
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cg=/sys/fs/cgroup
elif [ -d /sys/fs/cgroup/unified ] && [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ]; then
  cg=/sys/fs/cgroup/unified
else
  skip "no cgroup2 hierarchy here"
fi
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || skip "no overlay file system here"

tmp=$(mktemp -d)
mycg=$cg/chartsync-unit-test.$$
git_pid= ns_pid=
cleanup() {
  # the pid namespace dies with its PID 1, taking the service with it
  [ -z "$ns_pid" ] || kill -KILL "$ns_pid" 2>/dev/null || true
  [ -z "$git_pid" ] || kill "$git_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -d "$mycg" ] || break
    find "$mycg" -depth -type d -exec rmdir {} + 2>/dev/null && break
    sleep 0.5
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- a store, a service user, an organisation with its archive ----
cs() { CHARTSYNC_STORE=$tmp/store CHARTSYNC_PASSPHRASE=pw /usr/bin/chartsync "$@"; }
mkdir "$tmp/srv"
/usr/bin/chartsync archive init "$tmp/srv/archive.git" >/dev/null
# git daemon on a port nobody else uses (tests/support/free-port.sh), then
# until it serves the archive itself
listen_on_free_port "$tmp/git-daemon.log" git daemon --listen=127.0.0.1 --port={PORT} \
    --base-path="$tmp/srv" --export-all --enable=receive-pack --reuseaddr "$tmp/srv" ||
  fail "git daemon would not listen on a free port of 127.0.0.1: $(cat "$tmp/git-daemon.log")"
git_pid=$PORT_PID port=$PORT
served=
for _ in $(seq 50); do
  git ls-remote "git://127.0.0.1:$port/archive.git" >/dev/null 2>&1 && { served=1; break; }
  sleep 0.1
done
[ -n "$served" ] || fail "git daemon on 127.0.0.1:$port did not serve archive.git within 5 s: $(cat "$tmp/git-daemon.log")"
url=git://localhost:$port/archive.git
cs init --user admin >/dev/null
CHARTSYNC_NEW_PASSPHRASE=svcpw cs user add --service scanner >/dev/null
cs --user admin org init --archive "$url" >/dev/null
cs --user admin add patient name=Unit-Test mrn=U-1 dob=1960-01-01 >/dev/null
before=$(git -C "$tmp/srv/archive.git" for-each-ref)

# ---- what PID 1 of the namespaces runs before it becomes systemd ----
cat >"$tmp/inner.sh" <<'EOF'
#!/bin/bash
set -e
tmp=$1 unit=$2
mount --make-rprivate /
mount -t proc proc /proc
mount -t tmpfs -o mode=755 tmpfs /run
umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup 2>/dev/null || true
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for d in etc var/lib; do
  n=${d//\//_}
  mkdir -p "$tmp/ovl/$n/up" "$tmp/ovl/$n/work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$tmp/ovl/$n/up,workdir=$tmp/ovl/$n/work" "/$d"
done
# a person for the user unit, with a home of their own
mount -t tmpfs -o mode=755 tmpfs /home
echo 'ws:x:2999:2999:workstation:/home/ws:/bin/sh' >>/etc/passwd
echo 'ws:x:2999:' >>/etc/group
mkdir -p /home/ws && chown 2999:2999 /home/ws
# "localhost" resolves to two addresses; the archive listens on the second
echo "::1 localhost" >>/etc/hosts
mkdir -p -m 0700 /etc/chartsync
printf 'svcpw\n' >/etc/chartsync/e2e.passphrase
chmod 0600 /etc/chartsync/e2e.passphrase
mkdir -p /var/lib/chartsync
# made by root, as an admin would: the unit's StateDirectory= hands it over
cp -a "$tmp/store" /var/lib/chartsync/e2e
mkdir -p /run/e2e-units/chartsync@.service.d
cp "$unit" /run/e2e-units/chartsync@.service
# no journald in here: the service's output goes to a file
printf '[Service]\nStandardOutput=append:/run/chartsync-%%i.log\nStandardError=append:/run/chartsync-%%i.log\n' \
  >/run/e2e-units/chartsync@.service.d/log.conf
# what the system's own services make at boot and a user manager's
# namespaced services rely on
mkdir -p /run/systemd/unit-root
# a user manager for ws, as user@.service starts one (without PAM)
cat >/run/e2e-units/usermgr.service <<EOT
[Service]
User=ws
Type=notify
Environment=XDG_RUNTIME_DIR=/run/user/2999
ExecStartPre=+/bin/sh -c 'mkdir -p -m 0700 /run/user/2999 && chown ws:ws /run/user/2999'
ExecStart=/lib/systemd/systemd --user
Delegate=yes
EOT
for t in e2e sysinit basic shutdown multi-user network network-online; do
  printf '[Unit]\nDescription=%s (empty, for the test)\n' "$t" >"/run/e2e-units/$t.target"
done
# systemd makes / shared itself only outside a container; its credential
# mounts, made in a child namespace, must propagate back to it
mount --make-rshared /
export SYSTEMD_UNIT_PATH=/run/e2e-units container=chartsync-test
exec /lib/systemd/systemd --system --unit=e2e.target --log-target=kmsg --log-level=notice
EOF
chmod +x "$tmp/inner.sh"

mkdir "$mycg" 2>/dev/null || skip "cannot make a cgroup under $cg"
bash -c 'echo $$ >"$1/cgroup.procs" && exec unshare --pid --fork --mount --uts --ipc --cgroup "$2" "$3" "$4"' \
  _ "$mycg" "$tmp/inner.sh" "$tmp" "$unit" >"$tmp/ns.log" 2>&1 &
ns_pid=
for _ in $(seq 100); do
  ns_pid=$(pgrep -P $! -x systemd || true)
  [ -n "$ns_pid" ] && break
  kill -0 $! 2>/dev/null || break
  sleep 0.1
done
[ -n "$ns_pid" ] || skip "systemd would not start in fresh namespaces here: $(cat "$tmp/ns.log")"
inside() { nsenter -t "$ns_pid" -m -p "$@"; }
for _ in $(seq 100); do
  state=$(inside systemctl is-system-running 2>/dev/null || true)
  case "$state" in running | degraded) break ;; esac
  sleep 0.1
done
case "$state" in running | degraded) ;; *) skip "the namespaced systemd did not come up ($state)" ;; esac

log() { inside cat /run/chartsync-e2e.log 2>/dev/null || true; }
show() { inside systemctl show -p "$1" --value chartsync@e2e.service; }

# ---- start: READY=1 once the store is open ----
out=$(inside timeout 120 systemctl start chartsync@e2e.service 2>&1) ||
  fail "chartsync@e2e.service did not start: $out
$(inside systemctl status --no-pager -l chartsync@e2e.service 2>&1)
$(log)"
[ "$(show ActiveState)" = active ] || fail "not active: $(show ActiveState)"
[ "$(show User)" = _chartsync ] || fail "runs as $(show User)"
main=$(show MainPID)
[ "$(stat -c %U "/proc/$main")" = _chartsync ] 2>/dev/null ||
  [ "$(inside stat -c %U "/proc/$main")" = _chartsync ] || fail "the daemon is not _chartsync's"

# ---- it syncs through git://localhost: the waiting change reaches the archive ----
for _ in $(seq 300); do
  grep -q "sync: .* 1 out" <<<"$(log)" && break
  sleep 0.1
done
grep -q "sync: .* 1 out" <<<"$(log)" || fail "no sync sent the waiting change: $(log)"
after=$(git -C "$tmp/srv/archive.git" for-each-ref)
[ "$before" != "$after" ] || fail "the archive did not move"
case "$(show StatusText)" in *"last sync"*ok*) ;; *) fail "status says $(show StatusText)" ;; esac

# ---- a sync asked for by root through the control socket ----
out=$(inside env CHARTSYNC_STORE=/var/lib/chartsync/e2e timeout 60 chartsync sync 2>&1) ||
  fail "chartsync sync through the service: $out"
grep -q "synced by the service" <<<"$out" || fail "the sync was not the service's: $out"

# ---- reload and stop ----
inside timeout 30 systemctl reload chartsync@e2e.service || fail "reload failed: $(log)"
grep -q "reload: settings read again" <<<"$(log)" || fail "reload did not reach the daemon: $(log)"
[ "$(show NRestarts)" = 0 ] || fail "the service restarted: $(log)"
inside timeout 60 systemctl stop chartsync@e2e.service || fail "stop failed"
grep -q "stop: stopped" <<<"$(log)" || fail "the daemon did not stop cleanly: $(log)"
echo "the installed chartsync@.service runs the daemon, which syncs to $url: ok"

# ---- the user unit, under a user manager of its own ----
/usr/bin/chartsync archive init "$tmp/srv/ws.git" >/dev/null
wsurl=git://localhost:$port/ws.git
as_ws() {
  inside setpriv --reuid=2999 --regid=2999 --init-groups \
    env -i PATH=/usr/bin:/bin HOME=/home/ws USER=ws XDG_RUNTIME_DIR=/run/user/2999 "$@"
}
as_ws sh -c 'cd && umask 077 && mkdir -p .config/chartsync && printf "wspw\n" >.config/chartsync/passphrase' ||
  fail "cannot write ws's passphrase file"
as_ws sh -c 'cd && CHARTSYNC_PASSPHRASE=wspw chartsync init --user ws >/dev/null &&
  CHARTSYNC_PASSPHRASE=wspw chartsync org init --archive "$1" >/dev/null &&
  CHARTSYNC_PASSPHRASE=wspw chartsync add patient name=WS mrn=W-1 dob=1950-01-01 >/dev/null' _ "$wsurl" ||
  fail "cannot make ws's store"
wsbefore=$(git -C "$tmp/srv/ws.git" for-each-ref)
inside timeout 60 systemctl start usermgr.service || skip "(the system unit passed) a user manager would not start here"
out=$(as_ws timeout 120 systemctl --user start chartsync.service 2>&1) ||
  fail "the user unit did not start: $out
$(as_ws systemctl --user status --no-pager -l chartsync.service 2>&1)"
[ "$(as_ws systemctl --user show -p ActiveState --value chartsync.service)" = active ] ||
  fail "the user unit is not active"
out=$(as_ws sh -c 'cd && timeout 60 chartsync sync' 2>&1) || fail "ws's sync through the user unit: $out"
grep -q "synced by the service" <<<"$out" || fail "ws's sync was not the service's: $out"
[ "$wsbefore" != "$(git -C "$tmp/srv/ws.git" for-each-ref)" ] || fail "ws's archive did not move"
out=$(as_ws sh -c 'cd && CHARTSYNC_PASSPHRASE=wspw chartsync status' 2>&1) || fail "ws's status: $out"
grep -q "service:  running, pid .*, as ws" <<<"$out" || fail "the user unit's daemon did not answer status: $out"
as_ws timeout 60 systemctl --user stop chartsync.service || fail "the user unit would not stop"
echo "the installed chartsync.service runs the daemon on ws's store, which syncs to $wsurl: ok"
