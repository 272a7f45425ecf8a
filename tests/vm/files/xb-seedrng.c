/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xb-seedrng FILE: credit FILE's bytes (up to 512) to the kernel's entropy
 * pool (RNDADDENTROPY). For the test guests only: a PV guest has no RNG
 * device, and on an emulated, loaded vCPU the kernel's jitter entropy took
 * minutes, during which getrandom() callers (e2fsck, mke2fs) waited. The
 * seed is written from the host's /dev/urandom when the images are built.
 */
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct {
		struct rand_pool_info info;
		unsigned char buf[512];
	} e;
	ssize_t n;
	int in, out;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEEDFILE\n", argv[0]);
		return 2;
	}
	in = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		perror(argv[1]);
		return 1;
	}
	n = read(in, e.buf, sizeof(e.buf));
	close(in);
	if (n <= 0) {
		fprintf(stderr, "%s: empty\n", argv[1]);
		return 1;
	}
	e.info.entropy_count = (int)n * 8;
	e.info.buf_size = (int)n;
	out = open("/dev/random", O_WRONLY | O_CLOEXEC);
	if (out < 0 || ioctl(out, RNDADDENTROPY, &e) < 0) {
		perror("RNDADDENTROPY");
		return 1;
	}
	close(out);
	return 0;
}
