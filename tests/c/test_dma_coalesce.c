/* The DMA pool's free space coalesces: under a 256 MiB limit, 256 x 1 MiB allocated and freed
 * leave room for a 64 MiB allocation and a 64 MiB malloc bdev, as a fresh pool does (before,
 * both failed with "DMA pool exhausted": the freed space sat in sixteen separate 16 MiB
 * regions), and the pool shrinks back once they are freed. */
#include <stdint.h>
#include "check.h"

#define MIB (1ull << 20)

static uint64_t pool_size(void)
{
	struct nb_env_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_env_get_info(&info), 0);
	return info.dma_pool_size;
}

static int destroyed;
static void on_destroyed(void *ctx, int status)
{
	(void)ctx;
	CHECK_EQ(status, 0);
	destroyed++;
}

static void fill_and_free(void)
{
	static void *p[256];
	for (int i = 0; i < 256; i++) {
		p[i] = nb_dma_malloc(MIB, 0, NULL);
		CHECK(p[i] != NULL);
	}
	CHECK_EQ(pool_size(), 256 * MIB);
	for (int i = 0; i < 256; i++)
		CHECK_EQ(nb_dma_free(p[i]), 0);
	CHECK(pool_size() <= 32 * MIB); /* grown regions went back (one is kept for reuse) */
}

int main(void)
{
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.log_level = NB_LOG_WARN;
	opts.hugepages = NB_HUGEPAGES_OFF;
	opts.dma_pool_max_size = 256 * MIB;
	CHECK_EQ(nb_env_init(&opts), 0);
	struct nb_thread *t = nb_thread_create("dma", NULL);
	CHECK(t != NULL);
	CHECK_EQ(nb_set_thread(t), 0);

	fill_and_free();
	void *big = nb_dma_malloc(64 * MIB, 0, NULL);
	CHECK(big != NULL);
	CHECK_EQ(nb_dma_free(big), 0);

	fill_and_free();
	char name[NB_BDEV_NAME_MAX];
	CHECK_EQ(nb_bdev_create("malloc:///Big?size_mb=64", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_destroy(name, on_destroyed, NULL), 0);
	POLL_UNTIL(t, destroyed == 1);
	CHECK(pool_size() <= 32 * MIB);
	printf("after 256 x 1 MiB freed: 64 MiB allocation and 64 MiB malloc bdev fit; pool back to %llu MiB\n",
	       (unsigned long long)(pool_size() / MIB));

	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
