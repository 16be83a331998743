#!/usr/bin/env bash
# tools/: README's "Setting up a real archive" on a plain ssh server, run
# as written: a throwaway user with git-shell as its login shell, the
# devices' enrollment lines in its authorized_keys, `chartsync archive
# init` run as that user, sshd on 127.0.0.1 (a free port, a private
# config), and an admin and two clinics syncing through
# ssh://USER@localhost:PORT/... . The archive's hook refuses what it must,
# a device whose line is not in authorized_keys is kept out, and the
# archive holds no plaintext. Needs root (useradd); skipped otherwise.
# usage: test_archive_ssh.sh CHARTSYNC CHARTSYNC_ARCHIVE_HOOK
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../support/free-port.sh"
if [ "$(id -u)" != 0 ]; then
  echo "skipped: needs root to make a throwaway user with git-shell as its login shell"
  exit 77
fi
for tool in /usr/sbin/sshd /usr/bin/git-shell ssh-keygen ssh-keyscan useradd userdel runuser; do
  command -v "$tool" >/dev/null ||
    { echo "FAILED: $tool is missing (tools/dev/deps installs openssh-server and git)" >&2; exit 1; }
done
tmp=$(mktemp -d)
chmod 755 "$tmp"
user="csgit$$"
srv="$tmp/srv-git"          # the git user's home, as /srv/git in README
sshd_pid=
made_user=
cleanup() {
  [ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || true
  [ -z "$made_user" ] || userdel "$user" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; [ ! -f "$tmp/sshd.log" ] || tail -20 "$tmp/sshd.log" >&2; exit 1; }

# the installed programs, where the git user can run them (chartsync
# archive init finds the hook beside chartsync, as /usr/bin holds both)
mkdir "$tmp/bin"
cp "$1" "$2" "$tmp/bin/"
chmod 755 "$tmp/bin" "$tmp/bin/"*
export PATH="$tmp/bin:$PATH"

# the devices: each its store; one HOME for their ssh known_hosts
export HOME="$tmp/home"
mkdir -p "$HOME/.ssh"
unset CHARTSYNC_STORE CHARTSYNC_USER CHARTSYNC_PASSPHRASE_FILE
a() { CHARTSYNC_PASSPHRASE=pa chartsync --store "$tmp/admin" --user ann "$@"; }
b() { CHARTSYNC_PASSPHRASE=pb chartsync --store "$tmp/clinic-a" --user bob "$@"; }
c() { CHARTSYNC_PASSPHRASE=pc chartsync --store "$tmp/clinic-b" --user cy "$@"; }
d() { CHARTSYNC_PASSPHRASE=pd chartsync --store "$tmp/stranger" --user dee "$@"; }
a init --terminal archive-desk >/dev/null
b init --terminal front-desk >/dev/null
c init --terminal clinic-b-1 >/dev/null
d init --terminal laptop >/dev/null

# ---- on the server (README: the commands as shown, with this test's names) ----
useradd --system --create-home --home-dir "$srv" --shell /usr/bin/git-shell "$user"
made_user=1
# sshd here runs without PAM, which refuses a locked account ('!'), as
# useradd makes it; with Debian's sshd (PAM) a locked account logs in by key
usermod -p '*' "$user"
install -d -m 700 -o "$user" -g "$user" "$srv/.ssh"
for dev in a b c; do
  echo "restrict $($dev device request)"
done >> "$srv/.ssh/authorized_keys"
chown "$user:$user" "$srv/.ssh/authorized_keys"
chmod 600 "$srv/.ssh/authorized_keys"
runuser -u "$user" -- chartsync archive init "$srv/clinic-archive.git" >/dev/null
[ "$(stat -c %U "$srv/clinic-archive.git/hooks/pre-receive")" = "$user" ] ||
  fail "the archive belongs to the git user"
[ "$(getent passwd "$user" | cut -d: -f7)" = /usr/bin/git-shell ] || fail "git-shell is the login shell"
# an existing bare repository (as a git server keeps them) gets the hook
runuser -u "$user" -- git init -q --bare "$srv/existing.git"
runuser -u "$user" -- chartsync archive install-hook "$srv/existing.git" >/dev/null
grep -q chartsync-archive-hook "$srv/existing.git/hooks/pre-receive" || fail "install-hook"
# the hook refuses a push that is not a device's signed batch, on the server too
git init -q "$tmp/forged"
git -C "$tmp/forged" -c user.name=x -c user.email=x@localhost commit -q --allow-empty -m forged
chmod -R a+rX "$tmp/forged"
! runuser -u "$user" -- git -c safe.directory='*' -C "$tmp/forged" push -q "$srv/clinic-archive.git" \
    HEAD:refs/chartsync/devices/feedfacefeedfacefeedfacefeedface 2>"$tmp/err" ||
  fail "the hook let an unsigned commit in"
grep -q 'chartsync-archive-hook: refused' "$tmp/err" || fail "the hook says why: $(cat "$tmp/err")"

# sshd on a free port of 127.0.0.1 (tests/support/free-port.sh: -p gives the
# port tried), its own host key and config
ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_ed25519"
cat > "$tmp/sshd_config" <<CONF
ListenAddress 127.0.0.1
HostKey $tmp/host_ed25519
PidFile $tmp/sshd.pid
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes yes
LogLevel VERBOSE
CONF
mkdir -p /run/sshd
listen_on_free_port "$tmp/sshd.log" /usr/sbin/sshd -D -e -p {PORT} -f "$tmp/sshd_config" ||
  fail "sshd would not listen on a free port of 127.0.0.1"
sshd_pid=$PORT_PID port=$PORT

# ---- on the devices ----
url="ssh://$user@localhost:$port$srv/clinic-archive.git"
ssh-keyscan -p "$port" localhost 2>/dev/null >> ~/.ssh/known_hosts
grep -q "^\[localhost\]:$port ssh-ed25519" ~/.ssh/known_hosts || fail "ssh-keyscan got the host key"
# the fingerprint the device got is the one the server shows
server_fp=$(ssh-keygen -lf "$tmp/host_ed25519.pub" | cut -d' ' -f2)
device_fp=$(ssh-keygen -lF "[localhost]:$port" -f ~/.ssh/known_hosts | grep -o 'SHA256:[^ ]*' | head -1)
[ -n "$server_fp" ] && [ "$server_fp" = "$device_fp" ] || fail "fingerprints: $server_fp $device_fp"
a org init --archive "$url" --site 'Central archive' >/dev/null || fail "org init over ssh"
a device enroll "$(b device request)" --site 'Clinic A' --role clinic >/dev/null
a device enroll "$(c device request)" --site 'Clinic B' --role clinic >/dev/null
b remote "$url" >/dev/null
c remote "$url" >/dev/null
a sync >/dev/null || fail "the admin syncs"
b sync >/dev/null || fail "clinic A syncs"
c sync >/dev/null || fail "clinic B syncs"
id=$(b add patient name='Rosa Marquez' dob=1966-04-02 mrn=SSH-1 | grep -o '[0-9a-f]\{32\}' | head -1)
[ -n "$id" ] || fail "clinic A adds a patient"
b sync >/dev/null || fail "clinic A sends the patient"
c sync >/dev/null || fail "clinic B receives"
# the output is read whole first: with pipefail, `grep -q` leaving at its
# match would fail the pipeline whenever show had a line left to write
shown=$(c show "$id") || fail "clinic B shows the patient"
grep -q 'Rosa Marquez' <<<"$shown" || fail "clinic B reads the patient clinic A typed"

# what the archive can see: no plaintext, the devices' ids, signed commits
! grep -r -q 'Rosa Marquez' "$srv/clinic-archive.git" || fail "the archive holds plaintext"
git --git-dir="$srv/clinic-archive.git" for-each-ref --format='%(refname)' |
  grep -q "refs/chartsync/devices/" || fail "the archive shows devices' refs"

# a device whose line is not in authorized_keys is kept out by sshd
d remote "$url" >/dev/null
set +e
d sync >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "a device not in authorized_keys: exit $rc"
grep -q "refused this device's SSH key" "$tmp/err" || fail "it is told: $(cat "$tmp/err")"

echo "ok: the archive on a plain ssh server, as README sets it up"
