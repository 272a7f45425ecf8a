# Sourced by dom0's /init before 50-xenbackd.sh: what an administrator would put in
# /etc/default/xenbackd, here so that the test's stalled guest (xl pause) is found within
# seconds: frames wait 1 s for its buffers, and 3 s without any the carrier goes off.
sed -i 's|^XENBACKD_OPTS=.*|XENBACKD_OPTS="--net-rx-drain-ms=1000 --net-rx-stall-ms=3000"|' /etc/default/xenbackd
