# Sourced by the shell tests (tests/package/*.sh, tests/tools/test_archive_ssh.sh)
# that start a server of their own on 127.0.0.1: one way to get it a port
# nobody else uses, on a machine where other tests and programs hold ports.
# Guessing a port and checking that nothing answers there leaves a race
# (another program can take it before ours binds), so the server itself is
# the check: it is started on a port, and the port is ours only when that
# server is still running and answers there; if it exited (the port was
# taken) or never answered, it is stopped and another port is tried.
# Needs nothing but bash (/dev/tcp): no python3 on a fresh Debian.
#
#   listen_on_free_port LOG CMD ARG...
#     runs CMD ARG... in the background, every "{PORT}" in its arguments
#     replaced by the port tried, its output (stdout and stderr) in LOG.
#     On success sets PORT and PORT_PID (the server's pid, a child of the
#     calling shell: call it directly, not in $(...)) and returns 0; after
#     20 ports, or 5 s without an answer on each, it returns 1 with LOG
#     left as the last server wrote it.

port_answers() { # PORT: something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

listen_on_free_port() {
  local log=$1 try i a pid
  shift
  local args=()
  PORT= PORT_PID=
  for try in $(seq 20); do
    local port=$((20000 + RANDOM % 40000))
    # taken for certain: not worth starting a server
    port_answers "$port" && continue
    args=()
    for a in "$@"; do args+=("${a//\{PORT\}/$port}"); done
    "${args[@]}" >"$log" 2>&1 &
    pid=$!
    for i in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      if port_answers "$port"; then
        # still ours once it answered (not another program's that took the
        # port while ours failed to bind and is exiting)
        kill -0 "$pid" 2>/dev/null || break
        PORT=$port PORT_PID=$pid
        return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  return 1
}
