#!/usr/bin/env bash
# The Debian package, end to end: `make deb`, its contents, `dpkg -i`, the
# installed unit (systemd-analyze verify and security), the man page
# (renders without warnings, lists every flag --help lists and no other),
# the installed binary (started directly on a free 127.0.0.1 port, since
# systemd is not PID 1 here; its system calls checked against the unit's
# SystemCallFilter=), then `dpkg --purge` and nothing left behind.
#
# It installs into this machine, so it runs as root only (CI is root);
# elsewhere it says so and fails, unless SKIP_DEB=1. It refuses to run over
# an installed sessions-lite: the purge at the end would remove it and its
# /etc/default/sessions-lite. Every step is bounded with `timeout`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  if [ "${SKIP_DEB:-}" = 1 ]; then
    echo "deb: skipped (not root, SKIP_DEB=1)"
    exit 0
  fi
  echo "deb: this test installs a package and must run as root (SKIP_DEB=1 skips it)" >&2
  exit 1
fi

name=sessions-lite
bin=/usr/bin/$name
man_page=/usr/share/man/man1/$name.1.gz
unit=/usr/lib/systemd/system/$name.service
defaults=/etc/default/$name
installed_files=("$bin" "$man_page" "$unit" "$defaults" "/usr/share/doc/$name/copyright")

failures=0
fail() {
  echo "deb: FAIL: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "deb: ok: $*"; }

for tool in dpkg-deb systemd-analyze man groff zcat curl strace readelf pgrep; do
  command -v "$tool" >/dev/null || { echo "deb: $tool is missing (make deps)" >&2; exit 1; }
done
if dpkg-query -W "$name" >/dev/null 2>&1; then
  echo "deb: $name is installed already (or its conffiles are); this test would purge it: dpkg --purge $name first" >&2
  exit 1
fi
for path in "${installed_files[@]}"; do
  if [ -e "$path" ]; then
    echo "deb: $path exists and belongs to no package; move it away first" >&2
    exit 1
  fi
done

work=$(mktemp -d)
server_pid=
installed=no
cleanup() {
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  if [ "$installed" = yes ]; then timeout 120 dpkg --purge "$name" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- build -----------------------------------------------------------------
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
deb=target/debian/${name}_${version}_${arch}.deb
rm -f "$deb"
timeout 600 make --no-print-directory deb
[ -f "$deb" ] || { echo "deb: make deb did not produce $deb" >&2; exit 1; }
pass "built $deb ($(stat -c %s "$deb") bytes)"

# --- contents --------------------------------------------------------------
dpkg-deb -c "$deb" > "$work/contents"
expect_entry() { # mode path
  if grep -qE "^$1 0/0 +[0-9]+ [0-9-]+ [0-9:]+ \.$2\$" "$work/contents"; then
    pass "contains $2 ($1)"
  else
    fail "the package has no $2 with mode $1"
  fi
}
expect_entry -rwxr-xr-x "$bin"
expect_entry -rw-r--r-- "$man_page"
expect_entry -rw-r--r-- "$unit"
expect_entry -rw------- "$defaults"
[ "$(dpkg-deb -f "$deb" Package)" = "$name" ] || fail "Package is not $name"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is not $version"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture is not $arch"
dpkg-deb -f "$deb" Depends | grep -q 'libc6' || fail "Depends does not name libc6"
dpkg-deb -I "$deb" conffiles > "$work/conffiles"
if grep -qx "$defaults" "$work/conffiles"; then pass "$defaults is a conffile"; else fail "$defaults is not a conffile"; fi

# --- install ---------------------------------------------------------------
installed=yes
# Slim images tell dpkg to skip man pages and docs (path-exclude in
# /etc/dpkg/dpkg.cfg.d/); ours are part of what is tested, so take them.
timeout 120 dpkg -i --path-include="/usr/share/man/man1/$name.1.gz" \
  --path-include="/usr/share/doc/$name/*" "$deb"
for path in "${installed_files[@]}"; do
  [ -e "$path" ] || fail "$path is not installed"
done
if readelf -S "$bin" | grep -q '\.symtab'; then fail "$bin is not stripped"; else pass "$bin is stripped"; fi
[ "$(stat -c %a "$defaults")" = 600 ] || fail "$defaults is not mode 600"
if grep -q '^[A-Z]' "$defaults"; then fail "$defaults sets something: its defaults must all be commented out"; fi
# Each SESSIONS_LITE_ARGS example in it is accepted by the binary.
examples=0
while IFS= read -r line; do
  args=${line#\#SESSIONS_LITE_ARGS=}
  args=${args#\"}
  args=${args%\"}
  # shellcheck disable=SC2086 # split at white space, as systemd's $VAR does
  if timeout 10 "$bin" $args --help >/dev/null 2>"$work/example.err"; then
    examples=$((examples + 1))
  else
    fail "$defaults example refused: $args: $(cat "$work/example.err")"
  fi
done < <(grep '^#SESSIONS_LITE_ARGS=' "$defaults")
if [ "$examples" -gt 0 ]; then pass "$examples SESSIONS_LITE_ARGS examples accepted"; fi

# --- the unit --------------------------------------------------------------
# verify exits 0 even for unknown keys and bad values: any line about our
# unit is a failure. (It also checks that the man page of Documentation=
# exists and that ExecStart= is executable.)
timeout 60 systemd-analyze verify "$unit" > "$work/verify" 2>&1 || fail "systemd-analyze verify exited $?"
if grep -q "$name" "$work/verify"; then
  fail "systemd-analyze verify warns about the unit:"
  sed 's/^/    /' "$work/verify" >&2
else
  pass "systemd-analyze verify $unit"
fi
# The offline score is the unit's own; README states it (1.1 when written).
exposure_max=1.5
timeout 60 systemd-analyze security --offline=true "$unit" > "$work/security" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security")
if [ -z "$score" ]; then
  fail "systemd-analyze security --offline=true printed no score:"
  sed 's/^/    /' "$work/security" >&2
elif awk -v score="$score" -v max="$exposure_max" 'BEGIN { exit !(score <= max) }'; then
  pass "systemd-analyze security --offline=true: exposure $score (at most $exposure_max)"
else
  fail "exposure $score is over $exposure_max:"
  grep '✗' "$work/security" >&2 || true
fi
echo "deb: systemd-analyze security $name.service (needs systemd as PID 1; not checked):"
timeout 60 systemd-analyze security "$name.service" 2>&1 | tail -n 3 | sed 's/^/    /' || true

# --- the man page ----------------------------------------------------------
MANWIDTH=80 timeout 60 man --warnings -l "$man_page" 2>"$work/man.warnings" > "$work/man.txt"
zcat "$man_page" | timeout 60 groff -ww -z -man 2>>"$work/man.warnings"
if [ -s "$work/man.warnings" ]; then
  fail "the man page renders with warnings:"
  sed 's/^/    /' "$work/man.warnings" >&2
else
  pass "the man page renders without warnings ($(wc -l < "$work/man.txt") lines)"
fi
[ "$(man -w "$name" 2>/dev/null)" = "$man_page" ] || fail "man -w $name is not $man_page"
zcat "$man_page" | grep -q "^\.TH SESSIONS-LITE 1 [0-9-]* \"$name $version\"" \
  || fail "the man page's .TH line does not say $name $version"
# Every flag of every --help is in the page, written with \- (ASCII: a
# plain - renders as U+2010 and cannot be copied into a shell).
{
  timeout 10 "$bin" --help
  for command in run tail ls; do timeout 10 "$bin" "$command" --help; done
} | grep -oE '(^|[][ ,|])--?[a-z][a-z0-9-]*' | sed 's/^[][ ,|]*//' | sort -u > "$work/help.flags"
[ -s "$work/help.flags" ] || fail "no flags found in --help"
missing=0
while IFS= read -r flag; do
  if ! grep -qE -- "(^|[^a-z0-9-])${flag}([^a-z0-9-]|\$)" "$work/man.txt"; then
    fail "--help lists $flag but the man page does not"
    missing=$((missing + 1))
  fi
done < "$work/help.flags"
[ "$missing" != 0 ] || pass "the man page has all $(wc -l < "$work/help.flags") flags of --help"
# ... and documents no flag that --help lacks: the tags of its flag lists.
zcat "$man_page" | awk 'tag { print; tag = 0 } /^\.TP/ { tag = 1 }' \
  | grep -oE '\\-(\\-)?[a-z][a-z0-9\\-]*' | sed 's/\\-/-/g' | sort -u > "$work/man.flags"
# -h is accepted everywhere (the server, run, tail, ls) but --help only
# lists --help.
while IFS= read -r flag; do
  [ "$flag" = -h ] || grep -qx -- "$flag" "$work/help.flags" \
    || fail "the man page documents $flag, which no --help lists"
done < "$work/man.flags"

# --- the installed binary --------------------------------------------------
# wait_exit PID: true once PID has exited (or is a zombie), within 10 s.
wait_exit() {
  local state
  for _ in $(seq 1 100); do
    state=$(sed -n 's/^[0-9]* ([^)]*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    if [ -z "$state" ] || [ "$state" = Z ]; then return 0; fi
    sleep 0.1
  done
  return 1
}
# start_server LOG [WRAPPER...]: starts the installed server on a free port
# (port 0) and reads the port from its first line, within 10 s.
start_server() {
  local log=$1
  shift
  # A clean environment, as systemd gives a service.
  env -i PATH=/usr/bin:/bin "$@" "$bin" --listen 127.0.0.1:0 > "$log" 2>&1 &
  server_pid=$!
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$log")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "deb: the installed server did not start:" >&2
  cat "$log" >&2
  return 1
}
start_server "$work/server.log"
health=$(curl -sS --max-time 5 "http://127.0.0.1:$port/health")
case $health in
  *'"status":"ok"'*"\"version\":\"$version\""*) pass "installed $bin answers /health on port $port" ;;
  *) fail "/health answered: $health" ;;
esac
kill -TERM "$server_pid"
status=0
wait_exit "$server_pid" || fail "the server did not stop within 10 s of SIGTERM"
wait "$server_pid" || status=$?
server_pid=
if [ "$status" = 0 ]; then pass "stopped by SIGTERM, exit 0"; else fail "exit $status after SIGTERM"; fi

# The unit's SystemCallFilter= can only bite under systemd; here, the
# system calls the server makes (start-up, requests, /metrics' reads of
# /proc, a stop) must all be in
# what the unit allows: its allow lists minus its deny lists.
# systemd-analyze syscall-filter @group prints the group's name, then its
# members indented (system calls and groups); the depth is bounded.
expand_syscalls() { # depth, groups or names -> one system call a line
  local depth=$1 item entry
  shift
  [ "$depth" -lt 8 ] || { echo "deb: system call groups nest too deep" >&2; return 1; }
  for item in "$@"; do
    case $item in
      @*)
        for entry in $(systemd-analyze syscall-filter "$item" | sed -n 's/^ \{2,\}\([@a-z_0-9-]*\)$/\1/p'); do
          expand_syscalls $((depth + 1)) "$entry"
        done
        ;;
      *) echo "$item" ;;
    esac
  done
}
allow=() deny=()
while IFS= read -r value; do
  case $value in
    '~'*) read -ra words <<< "${value#\~}"; deny+=("${words[@]}") ;;
    *) read -ra words <<< "$value"; allow+=("${words[@]}") ;;
  esac
done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
expand_syscalls 0 "${allow[@]}" | sort -u > "$work/allowed"
expand_syscalls 0 "${deny[@]}" | sort -u > "$work/denied"
comm -23 "$work/allowed" "$work/denied" > "$work/permitted"
start_server "$work/traced.log" strace -f -qq -o "$work/strace"
tracer_pid=$server_pid
server_pid=$(pgrep -P "$tracer_pid" -x "$name" || true)
base="http://127.0.0.1:$port"
created=$(curl -sS --max-time 5 -X POST "$base/sessions" -d '{"appname":"deb","mode":"test"}')
id=$(printf '%s' "$created" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
if [ -n "$id" ]; then
  curl -sS --max-time 5 --data-binary $'one\ntwo\n' "$base/sessions/$id/log" >/dev/null
  curl -sS --max-time 5 "$base/sessions/$id/log?format=text" > "$work/log.txt"
  grep -q 'two' "$work/log.txt" || fail "the traced server lost a line: $(cat "$work/log.txt")"
  curl -sS --max-time 5 -X DELETE "$base/sessions/$id" >/dev/null
else
  fail "POST /sessions answered: $created"
fi
for path in / /metrics /openapi.json; do
  curl -sS --max-time 5 -o /dev/null "$base$path"
done
if [ -n "$server_pid" ]; then kill -TERM "$server_pid"; else fail "no server under strace"; fi
server_pid=$tracer_pid
wait_exit "$tracer_pid" || fail "the traced server did not stop within 10 s"
wait "$tracer_pid" || true
server_pid=
sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' "$work/strace" | sort -u > "$work/used"
refused=$(comm -23 "$work/used" "$work/permitted" | tr '\n' ' ')
if [ ! -s "$work/used" ]; then
  fail "strace recorded no system call"
elif [ -n "$refused" ]; then
  fail "the server makes system calls the unit's SystemCallFilter= refuses: $refused"
else
  pass "all $(wc -l < "$work/used") system calls the server made are in the unit's SystemCallFilter="
fi

# --- purge -----------------------------------------------------------------
timeout 120 dpkg --purge "$name"
installed=no
left=0
for path in "${installed_files[@]}"; do
  if [ -e "$path" ]; then
    fail "$path is still there after dpkg --purge"
    left=1
  fi
done
if dpkg-query -W "$name" >/dev/null 2>&1; then
  fail "dpkg still lists $name after the purge"
  left=1
fi
[ "$left" != 0 ] || pass "purged; nothing left"

if [ "$failures" != 0 ]; then
  echo "deb: $failures failure(s)" >&2
  exit 1
fi
echo "deb: all checks passed"
