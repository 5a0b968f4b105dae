/* Environment, DMA memory and mempools through the published library. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

static void test_before_init(void)
{
	CHECK(strcmp(nb_version(), NB_VERSION_STRING) == 0);
	CHECK_ERR(nb_env_fini(), -EINVAL);
	CHECK_NULL_ERR(nb_dma_malloc(4096, 0, NULL));
	CHECK_NULL_ERR(nb_thread_create("t", NULL));
	CHECK_NULL_ERR(nb_mempool_create("m", 8, 64, 0));
	CHECK_ERR(nb_reactors_start(NULL), -EPERM);
	CHECK(nb_vtophys((void *)0x1000, NULL) == NB_VTOPHYS_ERROR);
	struct nb_env_info info = { .info_size = sizeof(info) };
	CHECK_ERR(nb_env_get_info(&info), -EPERM);
	CHECK(nb_get_ticks_hz() > 0);
	uint64_t a = nb_get_ticks(), b = nb_get_ticks();
	CHECK(b >= a);
}

static void test_bad_options(void)
{
	struct nb_env_opts opts;
	CHECK_ERR(nb_env_opts_init(NULL, sizeof(opts)), -EINVAL);
	CHECK_ERR(nb_env_opts_init(&opts, 1), -EINVAL);
	CHECK_EQ(nb_env_opts_init(&opts, sizeof(opts)), 0);
	CHECK_EQ(opts.opts_size, sizeof(opts));
	CHECK_EQ(opts.dma_pool_size, 16u << 20);

	struct nb_env_opts bad = opts;
	bad.opts_size = 0;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.core_mask = "0xZZ";
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.core_mask = "[3-1]";
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.dma_pool_size = 0;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.dma_pool_max_size = 1;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.hugepages = 7;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.iova_mode = -1;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.log_level = 99;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	bad = opts;
	bad.reactor_spin_us = -5;
	CHECK_ERR(nb_env_init(&bad), -EINVAL);
	CHECK_ERR(nb_env_fini(), -EINVAL); /* none of those initialized anything */
}

static void test_init_fini(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	CHECK_ERR(nb_test_env_init(), -EALREADY);
	struct nb_env_info info;
	memset(&info, 0, sizeof(info));
	info.info_size = sizeof(info);
	CHECK_EQ(nb_env_get_info(&info), 0);
	CHECK(info.dma_pool_size >= 16u << 20);
	CHECK_EQ(info.core_count, 1);
	CHECK_EQ(info.iova_mode, NB_IOVA_VA);
	CHECK_ERR(nb_env_get_info(NULL), -EINVAL);
	struct nb_env_info bad = { .info_size = 0 };
	CHECK_ERR(nb_env_get_info(&bad), -EINVAL);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_ERR(nb_env_fini(), -EINVAL);
	/* Use after fini. */
	CHECK_NULL_ERR(nb_dma_malloc(64, 0, NULL));
	/* And again: init after fini gives a fresh environment. */
	CHECK_EQ(nb_test_env_init(), 0);
	CHECK_EQ(nb_env_fini(), 0);
}

static void test_no_hugepages(void)
{
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.hugepages = NB_HUGEPAGES_OFF;
	opts.log_level = NB_LOG_ERROR;
	CHECK_EQ(nb_env_init(&opts), 0);
	struct nb_env_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_env_get_info(&info), 0);
	CHECK_EQ(info.hugepages, 0);
	void *p = nb_dma_malloc(1 << 20, 4096, NULL);
	CHECK(p != NULL);
	memset(p, 0xab, 1 << 20);
	CHECK_EQ(nb_dma_free(p), 0);
	CHECK_EQ(nb_env_fini(), 0);
}

static void test_dma(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	size_t aligns[] = { 0, 64, 512, 4096, 65536, 2u << 20 };
	for (size_t i = 0; i < sizeof(aligns) / sizeof(aligns[0]); i++) {
		uint64_t iova = 0;
		void *p = nb_dma_malloc(3000, aligns[i], &iova);
		CHECK(p != NULL);
		CHECK_EQ((uintptr_t)p % (aligns[i] ? aligns[i] : 64), 0);
		CHECK_EQ(iova, (uintptr_t)p); /* IOVA = VA by default */
		uint64_t len = 3000;
		CHECK_EQ(nb_vtophys(p, &len), (uintptr_t)p);
		CHECK_EQ(len, 3000);
		CHECK_EQ(nb_dma_free(p), 0);
	}
	unsigned char *z = nb_dma_zmalloc(8192, 0, NULL);
	CHECK(z != NULL);
	for (int i = 0; i < 8192; i++)
		CHECK_EQ(z[i], 0);
	memset(z, 0xff, 8192);
	CHECK_EQ(nb_dma_free(z), 0);
	z = nb_dma_zmalloc(8192, 0, NULL); /* reused memory comes back zeroed */
	for (int i = 0; i < 8192; i++)
		CHECK_EQ(z[i], 0);

	/* Bad input. */
	CHECK_NULL_ERR(nb_dma_malloc(0, 0, NULL));
	CHECK_NULL_ERR(nb_dma_malloc(64, 3, NULL));
	CHECK_NULL_ERR(nb_dma_malloc(64, 4u << 20, NULL));
	CHECK_NULL_ERR(nb_dma_malloc(SIZE_MAX, 0, NULL));
	CHECK_NULL_ERR(nb_dma_malloc((size_t)1 << 39, 0, NULL)); /* beyond the 1 GiB limit */
	CHECK_EQ(nb_dma_free(NULL), 0);
	CHECK_ERR(nb_dma_free(z + 64), -EINVAL); /* inside, not an allocation */
	int on_stack;
	CHECK_ERR(nb_dma_free(&on_stack), -EINVAL);
	CHECK(nb_vtophys(&on_stack, NULL) == NB_VTOPHYS_ERROR);
	CHECK_EQ(nb_dma_free(z), 0);
	CHECK_ERR(nb_dma_free(z), -EINVAL); /* double free */

	/* The pool grows past its initial 16 MiB. */
	void *big[6];
	for (int i = 0; i < 6; i++) {
		big[i] = nb_dma_malloc(8u << 20, 0, NULL);
		CHECK(big[i] != NULL);
	}
	struct nb_env_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_env_get_info(&info), 0);
	CHECK(info.dma_pool_size >= 48u << 20);
	CHECK(info.dma_pool_used >= 48u << 20);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(nb_dma_free(big[i]), 0);
	CHECK_EQ(nb_env_fini(), 0);
}

/* nb_env_fini refuses while DMA buffers are allocated: unmapping them would make the host's
 * next access a SIGSEGV. The refusal names how many and how much; the buffer stays usable. */
static void test_fini_with_dma_buffers(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	unsigned char *a = nb_dma_malloc(4096, 0, NULL), *b = nb_dma_malloc(8192, 4096, NULL);
	CHECK(a != NULL && b != NULL);
	CHECK_ERR(nb_env_fini(), -EBUSY);
	CHECK(strstr(nb_last_error(), "2 DMA buffers") != NULL);
	CHECK(strstr(nb_last_error(), "bytes") != NULL);
	memset(a, 0x5a, 4096); /* still mapped */
	memset(b, 0xa5, 8192);
	CHECK_EQ(nb_dma_free(a), 0);
	CHECK_ERR(nb_env_fini(), -EBUSY);
	CHECK(strstr(nb_last_error(), "1 DMA buffers") != NULL);
	CHECK_EQ(nb_dma_free(b), 0);
	CHECK_EQ(nb_env_fini(), 0);
	/* Before init (and after fini) no pointer is a DMA buffer: -EINVAL, as documented. */
	int local;
	CHECK_ERR(nb_dma_free(&local), -EINVAL);
	CHECK(strstr(nb_last_error(), "not initialized") != NULL);
	CHECK_ERR(nb_dma_free(a), -EINVAL);
}

static void test_mempool(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	CHECK_NULL_ERR(nb_mempool_create("m", 0, 64, 0));
	CHECK_NULL_ERR(nb_mempool_create("m", 8, 0, 0));
	CHECK_NULL_ERR(nb_mempool_create("m", 8, 64, 100000));
	CHECK_NULL_ERR(nb_mempool_create("m", SIZE_MAX, 64, 0));
	struct nb_mempool *mp = nb_mempool_create("m", 100, 200, 16);
	CHECK(mp != NULL);
	CHECK_EQ(nb_mempool_count(mp), 100);
	void *e[100];
	CHECK_EQ(nb_mempool_get_bulk(mp, e, 100), 0);
	CHECK_EQ(nb_mempool_count(mp), 0);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ((uintptr_t)e[i] % 64, 0);
		memset(e[i], i, 200); /* elements do not overlap */
	}
	for (int i = 0; i < 100; i++)
		CHECK_EQ(((unsigned char *)e[i])[199], i);
	CHECK_NULL_ERR(nb_mempool_get(mp));
	CHECK_ERR(nb_mempool_get_bulk(mp, e, 1), -ENOMEM);
	CHECK_ERR(nb_mempool_free(mp), -EBUSY);
	CHECK_ERR(nb_env_fini(), -EBUSY);
	int x;
	CHECK_ERR(nb_mempool_put(mp, &x), -EINVAL);
	CHECK_ERR(nb_mempool_put(mp, (char *)e[0] + 1), -EINVAL);
	CHECK_EQ(nb_mempool_put(mp, e[0]), 0);
	CHECK_EQ(nb_mempool_count(mp), 1);
	CHECK_EQ(nb_mempool_put_bulk(mp, e + 1, 99), 0);
	CHECK_EQ(nb_mempool_count(mp), 100);
	CHECK_ERR(nb_mempool_get_bulk(mp, NULL, 1), -EINVAL);
	CHECK_ERR(nb_mempool_get_bulk(mp, e, 101), -EINVAL);
	CHECK_EQ(nb_mempool_free(mp), 0);
	/* Stale and foreign handles. */
	CHECK_ERR(nb_mempool_free(mp), -EBADF);
	CHECK_NULL_ERR(nb_mempool_get(mp));
	CHECK_ERR(nb_mempool_count(mp), -EBADF);
	CHECK_ERR(nb_mempool_count(NULL), -EINVAL);
	CHECK_ERR(nb_mempool_put(NULL, &x), -EINVAL);
	CHECK_ERR(nb_mempool_free((struct nb_mempool *)(uintptr_t)0xdeadbeef), -EBADF);
	struct nb_thread *t = nb_thread_create("t", NULL);
	CHECK_ERR(nb_mempool_count((struct nb_mempool *)t), -EBADF); /* a thread is no mempool */
	CHECK(strstr(nb_last_error(), "thread") != NULL);
	CHECK_EQ(nb_thread_exit(t), 0);
	POLL_UNTIL(t, nb_thread_is_exited(t) == 1);
	CHECK_EQ(nb_thread_destroy(t), 0);
	CHECK_EQ(nb_env_fini(), 0);
}

static void test_log(void)
{
	CHECK_ERR(nb_log_set_level(5), -EINVAL);
	CHECK_ERR(nb_log_set_level(-1), -EINVAL);
	CHECK_EQ(nb_log_set_level(NB_LOG_DEBUG), 0);
	CHECK_EQ(nb_log_get_level(), NB_LOG_DEBUG);
	CHECK_EQ(nb_log_set_level(NB_LOG_NOTICE), 0);
}

static int log_calls;
static void on_log(int level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(*(int *)ctx)++;
}

static void test_log_callback(void)
{
	CHECK_EQ(nb_log_set_callback(on_log, &log_calls), 0);
	struct nb_env_opts opts;
	nb_env_opts_init(&opts, sizeof(opts));
	opts.log_level = NB_LOG_DEBUG;
	CHECK_EQ(nb_env_init(&opts), 0); /* logs at INFO that the environment is ready */
	CHECK(log_calls > 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_EQ(nb_log_set_callback(NULL, NULL), 0);
	CHECK_EQ(nb_log_set_level(NB_LOG_NOTICE), 0);
}

int main(void)
{
	test_before_init();
	test_bad_options();
	test_init_fini();
	test_no_hugepages();
	test_dma();
	test_fini_with_dma_buffers();
	test_mempool();
	test_log();
	test_log_callback();
	CHECK_DONE();
}
