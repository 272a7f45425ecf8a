// tests/vm/selftest/hello.c - an out-of-tree module: proves one built against the dom0
// kernel's headers loads in the VM's dom0.
#include <linux/module.h>
#include <xen/xen.h>
static int __init xbhello_init(void)
{
	pr_info("xbhello: loaded, xen_initial_domain=%d\n", xen_initial_domain());
	return 0;
}
static void __exit xbhello_exit(void) { }
module_init(xbhello_init);
module_exit(xbhello_exit);
MODULE_LICENSE("GPL");
