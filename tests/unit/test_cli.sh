#!/bin/bash
# xenbackd's command line: --help documents every flag, bad flags and bad
# values exit 2 with a message, --version works. Exit 0 pass, 1 fail.
set -u
d=${XB_DAEMON:?XB_DAEMON not set}
c=${XB_CTL:?XB_CTL not set}
src=${XB_SOURCE_ROOT:?}
fail=0

expect() { # expect STATUS MESSAGE-REGEX ARGS...
	local want=$1 re=$2
	shift 2
	out=$("$d" "$@" 2>&1)
	st=$?
	if [ "$st" != "$want" ]; then
		echo "FAIL: xenbackd $* exited $st, want $want: $out"
		fail=1
	elif [ -n "$re" ] && ! grep -qE -- "$re" <<<"$out"; then
		echo "FAIL: xenbackd $*: output lacks /$re/: $out"
		fail=1
	fi
}

expect 0 'Usage: xenbackd' --help
expect 0 '^xenbackd [0-9]' --version
expect 2 'unrecognized option' --bogus
expect 2 'unexpected argument' extra
expect 2 'not a number from 1 to 256' --workers 0
expect 2 'not a number from 1 to 256' --workers 12x
expect 2 'not a number from 1 to 256' --workers -3
expect 2 'not one of auto, xen, shim, sim' --platform kvm
expect 2 'needs --sim-dir' --platform sim
expect 2 'goes with --platform sim' --sim-dir /tmp
expect 2 'unknown device type' --types vbd,floppy
expect 2 'empty list' --types ,
expect 2 'does not exist' --cpus 4096
expect 2 'not a CPU list' --cpus 1-0
expect 2 'not a CPU list' --cpus a
expect 2 'not one of err, warn, info, debug' --log-level loud
expect 2 'not one of stderr' --log-target file
expect 2 'not one of auto, io_uring, aio, null' --blk-engine spdk
expect 2 'not one of file, device' --blk-loop banana
expect 2 'from 0 to 4' --blk-max-ring-order 5
expect 2 'from 11 to 256' --blk-max-indirect 300
expect 2 'from 1 to 64' --blk-max-queues 0
expect 2 'from 10 to 3600000' --net-rx-drain-ms 5
expect 2 'from 10 to 3600000' --net-rx-drain-ms 1h
expect 2 '0, or 10..3600000' --net-rx-stall-ms 5
expect 2 'from 0 to 3600000' --net-rx-stall-ms 3600001
expect 2 'from 0 to 32751' --backend-domid 40000
expect 2 'bad path' --control-socket ''
XENBACKD_LOG_LEVEL=chatty expect 2 'XENBACKD_LOG_LEVEL' --foreground

# Every long option in the source is documented in --help and the man page.
help=$("$d" --help)
man=$(cat "$src/daemon/xenbackd.8")
for opt in $(grep -oE '^\s*\{ "[a-z-]+"' "$src/daemon/main.c" | grep -oE '[a-z-]+'); do
	grep -q -- "--$opt" <<<"$help" || { echo "FAIL: --$opt missing from --help"; fail=1; }
	grep -q -- "\\\\-\\\\-$(sed 's/-/\\\\-/g' <<<"$opt")" <<<"$man" ||
		{ echo "FAIL: --$opt missing from xenbackd.8"; fail=1; }
done

# xenbackctl
"$c" --help | grep -q 'Usage: xenbackctl' || { echo "FAIL: xenbackctl --help"; fail=1; }
"$c" frobnicate >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: xenbackctl bad command"; fail=1; }
"$c" resize 1 >/dev/null 2>&1; [ $? = 2 ] || { echo "FAIL: xenbackctl resize without DEVID"; fail=1; }
"$c" --help | grep -q 'resize DOMID DEVID' || { echo "FAIL: xenbackctl --help lacks resize"; fail=1; }
"$c" -s /nonexistent/sock list >/dev/null 2>&1; [ $? = 1 ] || { echo "FAIL: xenbackctl without daemon"; fail=1; }

[ $fail = 0 ] && echo "cli: PASS"
exit $fail
