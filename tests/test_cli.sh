#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Goal: the logstore CLI works as a user runs it. Method: run the binary
# (argument 1) on temporary logs and check its output, its exit codes
# (0 done, 1 error, 2 usage) and the files it leaves: every subcommand
# and its --help, bad arguments, a missing directory, a corrupt segment
# (verify names segment and offset), a torn tail (repair saves the cut
# bytes), damage before the tail (repair refuses without --force), a
# read-only directory, the read-only commands beside a running writer,
# and tail -f seeing entries another process appends. Waits have
# generous limits and only bound a wait for an expected line: nothing
# passes or fails on timing.
# Usage: test_cli.sh PATH_TO_LOGSTORE
set -u
bin=$1
tmp=$(mktemp -d)
chmod 755 "$tmp" # the read-only test runs as another user
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
checks=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# run EXPECTED_RC ARGS...: runs the CLI, output in $tmp/out and $tmp/err.
run() {
	want=$1
	shift
	checks=$((checks + 1))
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	got=$?
	if [ "$got" != "$want" ]; then
		fail "logstore $*: exit $got, expected $want; stderr: $(cat "$tmp/err")"
	fi
}

# has FILE PATTERN: the file has a line matching the (grep -E) pattern.
has() {
	checks=$((checks + 1))
	grep -Eq -- "$2" "$1" || fail "$(basename "$1") lacks /$2/: $(head -c 600 "$1")"
}

# lines FILE N
lines() {
	checks=$((checks + 1))
	n=$(wc -l <"$1")
	[ "$n" -eq "$2" ] || fail "$(basename "$1") has $n lines, expected $2"
}

# wait_for FILE PATTERN: up to 60 s for a line to appear.
wait_for() {
	i=0
	while [ $i -lt 600 ]; do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "no /$2/ in $(basename "$1") after 60 s: $(cat "$1")"
	return 1
}

# Byte offset of the end of the records of the only segment of a log.
records_end() {
	"$bin" ls --json "$1" | sed 's/.*"bytes":\([0-9]*\).*/\1/' |
		awk '{print $1 + 4096}'
}

# poke FILE OFFSET TEXT: overwrite bytes in place.
poke() {
	printf '%s' "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

seg1=00000000000000000001.seg

# ---- help and usage ----
run 0 --help
has "$tmp/out" '^  tail '
for c in ls cat tail append verify repair retain rm-segment stat bench demo; do
	run 0 "$c" --help
	has "$tmp/out" "usage: logstore $c"
done
run 0 help cat
has "$tmp/out" 'usage: logstore cat'
run 2
run 2 frobnicate
has "$tmp/err" "unknown command 'frobnicate'"
run 2 cat
has "$tmp/err" 'cat needs a directory'
run 2 cat --bogus "$tmp/x"
has "$tmp/err" "unknown option '--bogus'"
run 2 cat --from-time yesterday "$tmp/x"
has "$tmp/err" "--from-time: 'yesterday'"
run 2 cat --format octal "$tmp/x"
run 2 cat --count "$tmp/x"
run 2 ls "$tmp/a" "$tmp/b"
run 2 retain "$tmp/x"
has "$tmp/err" 'needs --older-than'
run 2 retain --older-than 5 "$tmp/x"
run 2 tail --timeout 1s "$tmp/x"
run 2 rm-segment "$tmp/x"
run 2 bench --seconds 0 "$tmp/x"

# ---- missing directory ----
for c in ls cat tail verify stat; do
	run 1 "$c" "$tmp/missing"
	has "$tmp/err" "$tmp/missing: No such file or directory"
done
run 1 retain --older-than 1d "$tmp/missing"
has "$tmp/err" "$tmp/missing"
[ ! -e "$tmp/missing" ] || fail "retain created a missing directory"
run 1 append "$tmp/missing/deeper/log"
has "$tmp/err" "$tmp/missing/deeper/log"

# ---- append, cat, ls ----
log=$tmp/log
printf 'alpha\nbeta\n\tgamma\\\n' >"$tmp/in"
checks=$((checks + 1))
"$bin" append -v "$log" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" ||
	fail "append: $(cat "$tmp/err")"
printf '1\n2\n3\n' | cmp -s - "$tmp/out" || fail "append -v printed $(cat "$tmp/out")"
printf 'x' | "$bin" append --raw "$log" >/dev/null 2>&1 || fail "append --raw"
run 0 cat "$log"
lines "$tmp/out" 4
has "$tmp/out" '^1 [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z alpha$'
has "$tmp/out" '^3 [^ ]+ \\tgamma\\\\$'
has "$tmp/out" '^4 [^ ]+ x$'
run 0 cat --format hex --time ns "$log"
has "$tmp/out" '^2 [0-9]+ 62657461$'
run 0 cat --format base64 --from-seq 2 --count 1 "$log"
lines "$tmp/out" 1
has "$tmp/out" '^2 [^ ]+ YmV0YQ==$'
run 0 cat --json "$log"
has "$tmp/out" '^\{"seq":3,"time":"[^"]+Z","time_ns":[0-9]+,"len":7,"text":"\\tgamma\\\\"\}$'
t2=$("$bin" cat --time ns --from-seq 2 -n 1 "$log" | cut -d' ' -f2)
run 0 cat --from-time "$t2" "$log"
lines "$tmp/out" 3
has "$tmp/out" '^2 '
rfc=$("$bin" cat --from-seq 3 -n 1 "$log" | cut -d' ' -f2)
run 0 cat --from-time "$rfc" "$log"
lines "$tmp/out" 2
has "$tmp/out" '^3 '
# The same instant written with a +01:00 offset (GNU date formats it).
secs=$(echo "$t2" | sed 's/.........$//')
frac=$(echo "$t2" | sed 's/.*\(.........\)$/\1/')
plus1=$(date -u -d "@$((secs + 3600))" +%Y-%m-%dT%H:%M:%S).$frac+01:00
run 0 cat --from-time "$plus1" "$log"
lines "$tmp/out" 3
has "$tmp/out" '^2 '
run 2 cat --from-time 2026-02-30T00:00:00Z "$log"
run 2 cat --from-time 2026-01-01T00:00:00.1234567891Z "$log"
run 0 ls "$log"
lines "$tmp/out" 2
has "$tmp/out" "^$seg1 .* 1 +4 +4 "
run 0 ls --json "$log"
has "$tmp/out" '"first_seq":1,"last_seq":4,"entries":4,'
run 0 tail -n 2 "$log"
lines "$tmp/out" 2
has "$tmp/out" '^3 '
run 0 stat "$log"
has "$tmp/out" '^entries +4 '
has "$tmp/out" '^seq +1 \.\. 4$'
run 0 verify "$log"
has "$tmp/out" 'OK: 1 segments, 4 entries'
run 0 stat --prometheus "$log"
has "$tmp/out" '^# TYPE logstore_entries_appended_total counter$'
has "$tmp/out" '^# TYPE logstore_commit_latency_seconds histogram$'
has "$tmp/out" '^logstore_commit_latency_seconds_count 0$'
has "$tmp/out" '^logstore_log_entries 4$'
has "$tmp/out" '^logstore_log_segments 1$'

# ---- bytes that are not text ----
bin_log=$tmp/binary
printf 'a\377\000\342\202\254"' | "$bin" append --raw "$bin_log" >/dev/null 2>&1 ||
	fail "append --raw of binary bytes"
run 0 cat "$bin_log"
has "$tmp/out" '^1 [^ ]+ a\\xff\\x00\\xe2\\x82\\xac"$'
run 0 cat --json "$bin_log"
has "$tmp/out" '"len":7,"text":"a\\u00ff\\u0000€\\""\}$'
run 0 cat --json --format base64 "$bin_log"
has "$tmp/out" '"base64":"Yf8A4oKsIg=="\}$'

# ---- the read-only commands beside a running writer ----
mkfifo "$tmp/fifo"
"$bin" append "$log" <"$tmp/fifo" >"$tmp/writer.out" 2>&1 3>&- &
writer=$!
pids="$pids $writer"
exec 3>"$tmp/fifo" # the writer now has its stdin open
echo "while-writing" >&3
i=0
while [ $i -lt 600 ] && ! "$bin" cat "$log" 2>/dev/null | grep -q while-writing; do
	sleep 0.1
	i=$((i + 1))
done
run 0 cat "$log"
has "$tmp/out" '^5 [^ ]+ while-writing$'
run 0 ls "$log"
run 0 verify "$log"
run 0 stat "$log"
run 0 tail -n 1 "$log"
has "$tmp/out" 'while-writing'
run 1 retain --older-than 1d "$log"
has "$tmp/err" 'locked by another writer'
run 1 repair "$log"
has "$tmp/err" 'locked by another writer'
echo "a second writer" | "$bin" append "$log" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "a second append did not fail"
has "$tmp/err" "$log: open: log is locked by another writer"

# ---- tail -f sees entries another process appends ----
# fd 3 closed in the follower, or the writer would never see EOF.
"$bin" tail -f -n 1 "$log" >"$tmp/follow" 2>&1 3>&- &
follower=$!
pids="$pids $follower"
wait_for "$tmp/follow" '^5 [^ ]+ while-writing$' # it follows from here
echo "followed-1" >&3
wait_for "$tmp/follow" '^6 [^ ]+ followed-1$'
echo "followed-2" >&3
wait_for "$tmp/follow" '^7 [^ ]+ followed-2$'
exec 3>&- # the writer reads EOF, syncs and exits
wait "$writer" || fail "writer exited $?: $(cat "$tmp/writer.out")"
printf 'after-writer\n' | "$bin" append "$log" >/dev/null 2>&1 || fail "append after"
wait_for "$tmp/follow" '^8 [^ ]+ after-writer$'
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null
lines "$tmp/follow" 4
run 0 tail -f --timeout 100ms -n 1 "$log"
has "$tmp/out" '^8 '

# ---- a read-only directory ----
ro=$tmp/ro
mkdir "$ro"
cp -p "$log"/* "$ro"/
chmod 555 "$ro"
chmod 444 "$ro"/*
as_user() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	# root writes anywhere; read as nobody to see what a user sees.
	as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
fi
checks=$((checks + 1))
as_user "$bin" cat "$ro" >"$tmp/ro.out" 2>"$tmp/ro.err" ||
	fail "cat of a read-only directory: $(cat "$tmp/ro.err")"
lines "$tmp/ro.out" 8
as_user "$bin" verify "$ro" >/dev/null 2>"$tmp/ro.err" || fail "verify read-only: $(cat "$tmp/ro.err")"
as_user "$bin" ls "$ro" >/dev/null 2>"$tmp/ro.err" || fail "ls read-only: $(cat "$tmp/ro.err")"
echo nope | as_user "$bin" append "$ro" >/dev/null 2>"$tmp/ro.err"
[ $? -eq 1 ] || fail "append to a read-only directory did not exit 1"
has "$tmp/ro.err" "$ro.*(Permission denied|Read-only)"
chmod 755 "$ro"

# ---- verify: a corrupt segment ----
multi=$tmp/multi
"$bin" demo "$multi" --entries 3000 --threads 2 >"$tmp/demo.out" 2>&1 ||
	fail "demo: $(cat "$tmp/demo.out")"
run 0 verify "$multi"
has "$tmp/out" 'OK: 2 segments, 6000 entries'
cp "$multi/$seg1" "$tmp/seg1.bak"
poke "$multi/$seg1" 4200 "XXXXXXXX"
run 1 verify "$multi"
has "$tmp/err" "$multi/$seg1 offset [0-9]+: (checksum mismatch|record)"
run 1 cat "$multi"
has "$tmp/err" "$seg1 offset"
cp "$tmp/seg1.bak" "$multi/$seg1"
run 0 verify -q "$multi"
lines "$tmp/out" 0

# ---- retain and rm-segment ----
run 1 rm-segment "$multi" 00000000000000999999.seg
has "$tmp/err" 'no such segment'
last=$("$bin" ls --json "$multi" | tail -n 1 | sed 's/.*"name":"\([^"]*\)".*/\1/')
run 1 rm-segment "$multi" "$last"
has "$tmp/err" 'active'
cp -r "$multi" "$tmp/multi2"
run 0 rm-segment "$multi" "$seg1"
has "$tmp/out" 'removed the segment'
[ ! -e "$multi/$seg1" ] || fail "rm-segment left the file"
run 0 retain --older-than 1h "$tmp/multi2"
has "$tmp/out" 'removed 0 segments'
run 0 retain --older-than 0s "$tmp/multi2"
has "$tmp/out" 'removed 1 segments'
run 0 ls --json "$tmp/multi2"
lines "$tmp/out" 1

# ---- repair: a torn tail, then damage before the tail ----
torn=$tmp/torn
seq 1 50 | "$bin" append "$torn" >/dev/null 2>&1 || fail "append 50"
end=$(records_end "$torn")
poke "$torn/$seg1" "$end" "TORNTAIL"
run 0 repair "$torn"
has "$tmp/out" "cut 8 bytes after offset $end, saved in $torn/$seg1.cut-$end"
checks=$((checks + 1))
[ "$(cat "$torn/$seg1.cut-$end")" = "TORNTAIL" ] || fail "side file holds $(od -c "$torn/$seg1.cut-$end")"
poke "$torn/$seg1" "$end" "TORN#2"
run 1 repair --save "$torn/$seg1.cut-$end" "$torn"
has "$tmp/err" "$seg1.cut-$end: creating the side file: File exists"
run 0 repair --save "$tmp/second.cut" "$torn"
checks=$((checks + 1))
[ "$(cat "$tmp/second.cut")" = "TORN#2" ] || fail "second side file"
run 0 repair "$torn"
has "$tmp/out" 'nothing to cut'
run 0 cat "$torn"
lines "$tmp/out" 50
# Damage record 10 (40 bytes each: 32 header + up to 8 payload).
poke "$torn/$seg1" $((4096 + 9 * 40 + 8)) "DAMAGE!!"
run 1 repair "$torn"
has "$tmp/err" "$seg1 offset $((4096 + 9 * 40)): .*not cut without --force"
run 0 repair --force --save "$tmp/forced.bin" "$torn"
has "$tmp/out" 'forced'
run 0 cat "$torn"
lines "$tmp/out" 9
echo again | "$bin" append -v "$torn" >"$tmp/out" 2>&1 || fail "append after repair"
has "$tmp/out" '^10$'
run 0 verify "$torn"

# ---- bench ----
run 0 bench --seconds 1 --threads 2 "$tmp/bench"
has "$tmp/out" '^durable append, 1 thread .*x '
has "$tmp/out" '^seek by time \+ read 10 '
[ -z "$(ls "$tmp/bench")" ] || fail "bench left files: $(ls "$tmp/bench")"

echo "test_cli: $checks checks, $failures failures"
[ "$failures" -eq 0 ]
