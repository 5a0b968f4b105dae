/* Named keys and the crypto vbdev through the published library: keys' life and misuse, data
 * round trips over malloc, the ciphertext SPDK v25.09 wrote read back over uring (the shared
 * fixtures), a wrong key reading garbage, and removal while open.
 *   test_crypto FIXTURES_DIR WORK_DIR */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include "check.h"

#define K1 "00112233445566778899aabbccddeeff"
#define K2 "ffeeddccbbaa99887766554433221100"

static struct nb_thread *g_t;
static int g_removed;

struct result {
	int done, status;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct result *r = arg;
	r->done++;
	r->status = status;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)bdev;
	(void)ctx;
	if (type == NB_BDEV_EVENT_REMOVE)
		g_removed++;
}

struct dev {
	struct nb_bdev_desc *d;
	struct nb_io_channel *ch;
};

static struct dev open_dev(const char *name)
{
	struct dev v;
	CHECK_EQ(nb_bdev_open_ext(name, 1, on_event, NULL, &v.d), 0);
	v.ch = nb_bdev_get_io_channel(v.d);
	CHECK(v.ch != NULL);
	return v;
}

static void close_dev(struct dev v)
{
	CHECK_EQ(nb_put_io_channel(v.ch), 0);
	CHECK_EQ(nb_bdev_close(v.d), 0);
}

static int io(struct dev v, int write, void *buf, uint64_t block, uint64_t blocks)
{
	struct result r = { 0, 0 };
	int rc = write ? nb_bdev_write_blocks(v.d, v.ch, buf, block, blocks, on_io, &r)
		       : nb_bdev_read_blocks(v.d, v.ch, buf, block, blocks, on_io, &r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r.done == 1);
	return r.status;
}

static void test_keys(void)
{
	struct nb_crypto_key_info keys[4];
	CHECK_EQ(nb_crypto_key_list(NULL, 0), 0);
	CHECK_EQ(nb_crypto_key_create("k0", "AES_XTS", K1, K2, NULL), 0);
	CHECK_EQ(nb_crypto_key_create("k1", "AES_XTS", K1 K2, K2 K1, "plain64"), 0);
	CHECK_EQ(nb_crypto_key_create("k2", "AES_CBC", K1, NULL, "spdk-sw"), 0);
	CHECK_ERR(nb_crypto_key_create("k0", "AES_XTS", K1, K2, NULL), -EEXIST);
	CHECK_ERR(nb_crypto_key_create("kx", "AES_XTS", K1, K1, NULL), -EINVAL);
	CHECK(strncmp(nb_last_error(), "key2", 4) == 0);
	CHECK(strstr(nb_last_error(), "0011") == NULL);
	CHECK_ERR(nb_crypto_key_create("kx", "AES_XTS", "0g" K1, K2, NULL), -EINVAL);
	CHECK(strncmp(nb_last_error(), "key", 3) == 0);
	CHECK_ERR(nb_crypto_key_create("kx", "AES_GCM", K1, K2, NULL), -EINVAL);
	CHECK(strncmp(nb_last_error(), "cipher", 6) == 0);
	CHECK_ERR(nb_crypto_key_create("kx", "AES_XTS", K1, K2, "essiv"), -EINVAL);
	CHECK(strncmp(nb_last_error(), "tweak_mode", 10) == 0);
	CHECK_EQ(nb_crypto_key_list(keys, 4), 3);
	CHECK(strcmp(keys[0].name, "k0") == 0 && strcmp(keys[0].cipher, "AES_XTS") == 0);
	CHECK(strcmp(keys[0].tweak_mode, "spdk-sw") == 0 && keys[0].key_bits == 128);
	CHECK(strcmp(keys[1].tweak_mode, "plain64") == 0 && keys[1].key_bits == 256);
	CHECK(strcmp(keys[2].cipher, "AES_CBC") == 0);
	CHECK_EQ(nb_crypto_key_list(keys, 1), 3); /* the count of all, one written */
	CHECK_EQ(nb_crypto_key_destroy("k1"), 0);
	CHECK_EQ(nb_crypto_key_destroy("k2"), 0);
	CHECK_ERR(nb_crypto_key_destroy("k2"), -ENOENT);
}

static void test_round_trip_and_removal(void)
{
	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///M0?size_mb=4&blk_size=4096", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("crypto:///C0?base=M0&key_name=k0", name, sizeof(name)), 0);
	CHECK(strcmp(name, "C0") == 0);
	/* The same key inline on the same base: a second view of the same ciphertext. */
	CHECK_EQ(nb_bdev_create("crypto:///C1?base=M0&cipher=AES_XTS&key=" K1 "&key2=" K2, name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("crypto:///C2?base=M0&key=" K2 "&key2=" K1, name, sizeof(name)), 0);
	CHECK_ERR(nb_crypto_key_destroy("k0"), -EBUSY);
	CHECK(strstr(nb_last_error(), "C0") != NULL);
	CHECK_ERR(nb_crypto_key_destroy("C1"), -EBUSY); /* C1's own key goes with C1 */

	uint8_t *w = nb_dma_malloc(16 * 4096, 4096, NULL), *r = nb_dma_malloc(16 * 4096, 4096, NULL);
	for (int i = 0; i < 16 * 4096; i++)
		w[i] = (uint8_t)(i * 7 + i / 4096);
	struct dev c0 = open_dev("C0"), c1 = open_dev("C1"), c2 = open_dev("C2"), m = open_dev("M0");
	CHECK_EQ(io(c0, 1, w, 2, 16), 0);
	CHECK_EQ(io(c1, 0, r, 2, 16), 0);
	CHECK(memcmp(w, r, 16 * 4096) == 0);
	CHECK_EQ(io(m, 0, r, 2, 16), 0);
	CHECK(memcmp(w, r, 4096) != 0); /* the base holds ciphertext */
	CHECK_EQ(io(c2, 0, r, 2, 16), 0); /* a wrong key: garbage, not an error */
	CHECK(memcmp(w, r, 4096) != 0);
	close_dev(m);
	close_dev(c2);
	close_dev(c1);

	/* Deleting an open crypto bdev: REMOVE to its descriptor, done once closed. */
	g_removed = 0;
	CHECK_EQ(nb_bdev_destroy("C0", NULL, NULL), 0);
	POLL_UNTIL(g_t, g_removed == 1);
	CHECK_EQ(g_removed, 1);
	CHECK_ERR(io(c0, 0, r, 0, 1), -ENODEV);
	close_dev(c0);
	/* The key is released when the bdev is finished (its last channel gone), a poll later. */
	int destroyed = -1;
	for (int i = 0; i < 1000 && destroyed != 0; i++) {
		nb_thread_poll(g_t, 0, 0);
		destroyed = nb_crypto_key_destroy("k0");
	}
	CHECK_EQ(destroyed, 0);
	CHECK_EQ(nb_bdev_destroy("M0", NULL, NULL), 0); /* takes C1, C2 and their keys with it */
	POLL_UNTIL(g_t, nb_bdev_first() == NULL && nb_crypto_key_list(NULL, 0) == 0);
	CHECK_EQ(nb_crypto_key_list(NULL, 0), 0);
	nb_dma_free(w);
	nb_dma_free(r);
}

/* SPDK's crypto bdev wrote these (MANIFEST): our default (spdk-sw) reads the plaintext back. */
static void test_spdk_image(const char *fixtures, const char *work, const char *image, int bs)
{
	char cmd[1024], path[512], uri[768], name[64];
	snprintf(path, sizeof(path), "%s/%s.img", work, image);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && xz -dc %s/crypto/%s.img.xz > %s", work, fixtures, image, path);
	CHECK_EQ(system(cmd), 0);
	snprintf(uri, sizeof(uri), "uring://%s?blk_size=%d&direct=0&name=U0", path, bs);
	CHECK_EQ(nb_bdev_create(uri, name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("crypto:///S0?base=U0&key=" K1 "&key2=" K2, name, sizeof(name)), 0);
	struct dev s = open_dev("S0");
	uint8_t *r = nb_dma_malloc(32768, 4096, NULL);
	CHECK_EQ(io(s, 0, r, 5, 32768 / bs), 0);
	for (int n = 0; n < 64; n++) {
		char unit[64];
		int len = snprintf(unit, sizeof(unit), "crypto seed 1 sector %d ", n);
		for (int i = 0; i < 512; i++)
			CHECK_EQ(r[n * 512 + i], unit[i % len]);
	}
	close_dev(s);
	CHECK_EQ(nb_bdev_destroy("U0", NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_first() == NULL);
	nb_dma_free(r);
	unlink(path);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_crypto FIXTURES_DIR WORK_DIR\n");
		return 2;
	}
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("crypto", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	test_keys();
	test_round_trip_and_removal();
	test_spdk_image(argv[1], argv[2], "spdk-sw-512", 512);
	test_spdk_image(argv[1], argv[2], "spdk-sw-4k", 4096);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
