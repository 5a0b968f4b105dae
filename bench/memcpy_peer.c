/* The peer for the malloc bdev benchmark: what one core of this machine does copying random
 * 4 KiB blocks between a RAM disk of N MiB and 128 buffers, with nothing else in the way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t size = (size_t)atoi(argc > 1 ? argv[1] : "32") << 20;
	int write = argc > 2;
	char *disk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (disk == MAP_FAILED)
		return 1;
	madvise(disk, size, MADV_HUGEPAGE);
	memset(disk, 1, size);
	char *bufs = aligned_alloc(4096, 128 * 4096);
	memset(bufs, 0, 128 * 4096);
	uint64_t r = 88172645463325252ull;
	long n = 5000000;
	double t0 = now();
	for (long i = 0; i < n; i++) {
		r ^= r << 13;
		r ^= r >> 7;
		r ^= r << 17;
		size_t off = (size_t)(((unsigned __int128)r * (size / 4096)) >> 64) * 4096;
		if (write)
			memcpy(disk + off, bufs + (i & 127) * 4096, 4096);
		else
			memcpy(bufs + (i & 127) * 4096, disk + off, 4096);
	}
	double dt = now() - t0;
	printf("%.2f M copies/s (%.0f ns each)\n", n / dt / 1e6, dt / n * 1e9);
	return 0;
}
