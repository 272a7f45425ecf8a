/* tests/vm/selftest/xsprobe.c - a host-built binary with shared libraries (libxenstore),
 * as xenbackd will be: reads a xenstore path and prints it. */
#include <stdio.h>
#include <stdlib.h>
#include <xenstore.h>
int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/local/domain/0/name";
	struct xs_handle *xs = xs_open(0);
	unsigned int len;
	char *v;
	if (!xs) { perror("xs_open"); return 1; }
	v = xs_read(xs, XBT_NULL, path, &len);
	if (!v) { perror("xs_read"); return 1; }
	printf("xsprobe: %s = %s\n", path, v);
	free(v);
	xs_close(xs);
	return 0;
}
