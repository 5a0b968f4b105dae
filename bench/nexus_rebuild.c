/* Rebuild throughput against a plain copy of the same bytes: a nexus over one malloc child of
 * SIZE MiB gets a second one (a full rebuild, 64 KiB segments, 16 in flight) and the time until
 * it is synced is measured; the peer is one memcpy of SIZE MiB between two buffers of the DMA
 * pool (what copying the bytes costs at the least), measured in the same run.
 *   cc -O2 -I include bench/nexus_rebuild.c -L build/nativebdev -lnativebdev -o nexus_rebuild
 *   ./nexus_rebuild [SIZE_MB] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nativebdev.h"

static double seconds(uint64_t t0) { return (double)(nb_get_ticks() - t0) / (double)nb_get_ticks_hz(); }

int main(int argc, char **argv)
{
	int mb = argc > 1 ? atoi(argv[1]) : 256;
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.name = "nexus_rebuild";
	opts.log_level = NB_LOG_WARN;
	opts.dma_pool_max_size = ((uint64_t)mb * 4 + 64) << 20;
	if (nb_env_init(&opts) != 0) {
		fprintf(stderr, "env: %s\n", nb_last_error());
		return 1;
	}
	struct nb_thread *t = nb_thread_create("rebuild", NULL);
	nb_set_thread(t);
	char uri[128], name[64];
	snprintf(uri, sizeof(uri), "malloc:///A?size_mb=%d", mb);
	const char *kids[] = {uri};
	if (nb_bdev_create(uri, name, sizeof(name)) != 0 || nb_nexus_create("N", 0, kids, 1) != 0) {
		fprintf(stderr, "create: %s\n", nb_last_error());
		return 1;
	}
	snprintf(uri, sizeof(uri), "malloc:///B?size_mb=%d", mb);
	uint64_t t0 = nb_get_ticks();
	if (nb_nexus_add_child("N", uri) != 0) {
		fprintf(stderr, "add: %s\n", nb_last_error());
		return 1;
	}
	struct nb_nexus_child_info c[2];
	while (!(nb_nexus_list_children("N", c, 2) == 2 && c[1].synced == 1))
		nb_thread_poll(t, 0, 0);
	double rebuild = seconds(t0);

	size_t bytes = (size_t)mb << 20;
	uint8_t *a = nb_dma_malloc(bytes, 4096, NULL), *b = nb_dma_malloc(bytes, 4096, NULL);
	if (!a || !b) {
		fprintf(stderr, "dma: %s\n", nb_last_error());
		return 1;
	}
	memset(a, 1, bytes);
	memset(b, 2, bytes);
	double best = 1e9;
	for (int i = 0; i < 3; i++) {
		t0 = nb_get_ticks();
		memcpy(b, a, bytes);
		double s = seconds(t0);
		best = s < best ? s : best;
	}
	printf("rebuild %d MiB: %.3f s = %.0f MiB/s; memcpy of the same bytes: %.3f s = %.0f MiB/s; ratio %.2f\n", mb,
	       rebuild, mb / rebuild, best, mb / best, (mb / rebuild) / (mb / best));
	return 0;
}
