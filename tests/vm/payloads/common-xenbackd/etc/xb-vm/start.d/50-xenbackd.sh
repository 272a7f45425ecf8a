# Sourced by dom0's /init (busybox sh) before /test.sh: start xenbackd as its systemd unit
# would. The unit and its defaults file are installed at their packaged paths by the
# wrapper (tests/vm/vm-test.sh, tests/vm/lab.sh): the command line is the unit's ExecStart= with the
# variables of its EnvironmentFile=, RuntimeDirectory=xenbackd (0700) and its Limit*=.
# xenbackd's stderr (its log: no journal here) goes to /var/log/xenbackd.log.
xb_unit=/usr/lib/systemd/system/xenbackd.service
[ -r "$xb_unit" ] || fail "no $xb_unit"
xb_exec=$(sed -n 's/^ExecStart=//p' "$xb_unit")
[ -n "$xb_exec" ] || fail "no ExecStart= in $xb_unit"
mkdir -p -m 0700 /run/xenbackd
(
    # EnvironmentFile=-/etc/default/xenbackd: its variables are in the daemon's environment
    set -a
    [ -r /etc/default/xenbackd ] && . /etc/default/xenbackd
    set +a
    ulimit -n 1048576 2>/dev/null || ulimit -n 65536
    ulimit -l unlimited
    ts "xenbackd: $xb_exec (XENBACKD_OPTS='$XENBACKD_OPTS' XENBACKD_LOG_LEVEL=$XENBACKD_LOG_LEVEL)"
    # eval: $XENBACKD_OPTS in the line is expanded and split into words, as systemd does
    eval "exec $xb_exec" >/var/log/xenbackd.log 2>&1
) &
echo $! > /run/xenbackd.pid
xb_up() { test -S /run/xenbackd/control.sock || ! kill -0 "$(cat /run/xenbackd.pid)"; }
if ! wait_for 10 xb_up || ! kill -0 "$(cat /run/xenbackd.pid)" 2>/dev/null; then
    ts "xenbackd did not create its control socket; its log:"
    cat /var/log/xenbackd.log
    fail "xenbackd start"
fi
ts "XB-VM: xenbackd up (pid $(cat /run/xenbackd.pid))"
