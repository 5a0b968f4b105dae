/* The DMA pool on real hugepages: reserves some (root only), checks the pool uses them,
 * and restores the previous reservation. Skipped (exit 77) where it cannot reserve. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

static const char *nr_path = "/proc/sys/vm/nr_hugepages";

static long read_nr(void)
{
	FILE *f = fopen(nr_path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_nr(long v)
{
	FILE *f = fopen(nr_path, "w");
	if (!f)
		return -1;
	int rc = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	return fclose(f) == 0 ? rc : -1;
}

int main(void)
{
	long old = read_nr();
	if (old < 0 || write_nr(old + 16) != 0 || read_nr() < old + 16) {
		if (old >= 0)
			write_nr(old);
		printf("cannot reserve hugepages here (not root?): skipped\n");
		return 77;
	}
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.hugepages = NB_HUGEPAGES_ON;
	opts.dma_pool_size = 16u << 20;
	opts.dma_pool_max_size = 32u << 20;
	opts.log_level = NB_LOG_WARN;
	int rc = nb_env_init(&opts);
	struct nb_env_info info = { .info_size = sizeof(info) };
	int info_rc = rc == 0 ? nb_env_get_info(&info) : rc;
	void *p = rc == 0 ? nb_dma_malloc(2u << 20, 2u << 20, NULL) : NULL;
	if (p)
		memset(p, 0x5a, 2u << 20);
	int free_rc = nb_dma_free(p);
	int fini_rc = rc == 0 ? nb_env_fini() : 0;
	write_nr(old); /* restore before any check can exit */
	CHECK_EQ(rc, 0);
	CHECK_EQ(info_rc, 0);
	CHECK_EQ(info.hugepages, 1);
	CHECK_EQ(info.pinned, 1);
	CHECK(p != NULL);
	CHECK_EQ((uintptr_t)p % (2u << 20), 0);
	CHECK_EQ(free_rc, 0);
	CHECK_EQ(fini_rc, 0);
	CHECK_EQ(read_nr(), old);

	/* With none reserved, ON fails clearly and AUTO falls back. */
	if (old == 0) {
		CHECK_ERR(nb_env_init(&opts), -ENOMEM);
		CHECK(strstr(nb_last_error(), "nr_hugepages") != NULL);
		opts.hugepages = NB_HUGEPAGES_AUTO;
		CHECK_EQ(nb_env_init(&opts), 0);
		CHECK_EQ(nb_env_get_info(&info), 0);
		CHECK_EQ(info.hugepages, 0);
		CHECK_EQ(nb_env_fini(), 0);
	}
	CHECK_DONE();
}
