# sourced by dom0's /init after xenconsoled, before /test.sh (where xenbackd will start)
xsprobe > /run/xsprobe.out 2>&1 || fail "xsprobe"
ts "start hook: $(cat /run/xsprobe.out)"
