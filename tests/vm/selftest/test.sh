#!/bin/sh
# dom0 side of the harness self-test: the injected binary ran from the start hook, the
# out-of-tree module is loaded, QEMU's emulated PCI device (edu, 1234:11e8) is visible.
. /etc/xb-vm/lib.sh
rc=0
grep -q 'xsprobe: /local/domain/0/name = Domain-0' /run/xsprobe.out || { ts "xsprobe: $(cat /run/xsprobe.out)"; rc=1; }
grep -q '^hello ' /proc/modules || { ts "hello.ko not loaded"; rc=1; }
dmesg | grep 'xbhello: loaded, xen_initial_domain=1' || rc=1
found=
for d in /sys/bus/pci/devices/*; do
    [ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && found=$d
done
[ -n "$found" ] && ts "edu at $found, irq $(cat $found/irq), msi cap: $(ls $found/msi_irqs 2>/dev/null | wc -l)" || { ts "no edu device"; rc=1; }
for m in xen_blkback xen_netback xen_pciback; do
    grep -q "^$m " /proc/modules && { ts "$m loaded but must not be"; rc=1; }
done
exit $rc
