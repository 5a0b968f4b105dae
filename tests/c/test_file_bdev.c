/* The kernel-I/O backends through the published library: test_file_bdev uring|aio DIR.
 * Data integrity (also across destroy and re-create), vectored I/O, flush, unmap and
 * write_zeroes (uring), two threads on their own channels, a loop block device, and every
 * error: missing file, directory, permission denied, read-only file, size not a multiple of
 * the block size, O_DIRECT refused, misaligned buffers, short reads from the kernel. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static const char *g_scheme;
static const char *g_dir;
static struct nb_thread *g_t;

struct io_result {
	int done;
	int status;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct io_result *r = arg;
	r->done++;
	r->status = status;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void make_file(const char *path, off_t size, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, mode);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, size), 0);
	close(fd);
	chmod(path, mode);
}

static char g_uri[1024];
static const char *uri(const char *path, const char *params)
{
	snprintf(g_uri, sizeof(g_uri), "%s://%s%s%s", g_scheme, path, params[0] ? "?" : "", params);
	return g_uri;
}

static void path_in_dir(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", g_dir, name);
}

static int run(struct nb_bdev_desc *d, struct nb_io_channel *ch, int type, void *buf, uint64_t off, uint64_t n)
{
	struct io_result r = { 0 };
	int rc;
	switch (type) {
	case NB_BDEV_IO_TYPE_READ: rc = nb_bdev_read_blocks(d, ch, buf, off, n, on_io, &r); break;
	case NB_BDEV_IO_TYPE_WRITE: rc = nb_bdev_write_blocks(d, ch, buf, off, n, on_io, &r); break;
	case NB_BDEV_IO_TYPE_UNMAP: rc = nb_bdev_unmap_blocks(d, ch, off, n, on_io, &r); break;
	case NB_BDEV_IO_TYPE_WRITE_ZEROES: rc = nb_bdev_write_zeroes_blocks(d, ch, off, n, on_io, &r); break;
	default: rc = nb_bdev_flush_blocks(d, ch, off, n, on_io, &r); break;
	}
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r.done == 1);
	return r.status;
}

static void pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u) >> 13 ^ seed);
}

static void test_errors(void)
{
	char name[NB_BDEV_NAME_MAX], path[512];
	path_in_dir(path, sizeof(path), "missing.img");
	unlink(path);
	CHECK_ERR(nb_bdev_create(uri(path, ""), name, sizeof(name)), -ENOENT);
	CHECK_ERR(nb_bdev_create(uri(g_dir, ""), name, sizeof(name)), -EISDIR);
	CHECK(strstr(nb_last_error(), "directory") != NULL);
	CHECK_ERR(nb_bdev_create(uri("", ""), name, sizeof(name)), -EINVAL);
	path_in_dir(path, sizeof(path), "odd.img");
	make_file(path, 4096 * 10 + 100, 0644);
	CHECK_ERR(nb_bdev_create(uri(path, ""), name, sizeof(name)), -EINVAL);
	CHECK(strstr(nb_last_error(), "multiple") != NULL);
	make_file(path, 0, 0644);
	CHECK_ERR(nb_bdev_create(uri(path, ""), name, sizeof(name)), -EINVAL);
	make_file(path, 1 << 20, 0644);
	CHECK_ERR(nb_bdev_create(uri(path, "blk_size=3000"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(path, "direct=maybe"), name, sizeof(name)), -EINVAL);
	CHECK_ERR(nb_bdev_create(uri(path, "queue_depth=4"), name, sizeof(name)), -EINVAL);
	CHECK(strstr(nb_last_error(), "queue_depth") != NULL);
	CHECK_ERR(nb_bdev_create(uri("/dev/null", ""), name, sizeof(name)), -EINVAL); /* a char device */
	CHECK(strstr(nb_last_error(), "not a regular file") != NULL);

	/* O_DIRECT refused (tmpfs): a clear error, and direct=0 works. */
	if (access("/dev/shm", W_OK) == 0) {
		make_file("/dev/shm/nb_test_direct.img", 1 << 20, 0644);
		int rc = nb_bdev_create(uri("/dev/shm/nb_test_direct.img", ""), name, sizeof(name));
		if (rc == -EINVAL)
			CHECK(strstr(nb_last_error(), "direct=0") != NULL);
		CHECK_EQ(nb_bdev_create(uri("/dev/shm/nb_test_direct.img", "direct=0&name=shm"), name, sizeof(name)), 0);
		CHECK_EQ(nb_bdev_destroy("shm", NULL, NULL), 0);
		if (rc == 0)
			nb_bdev_destroy("/dev/shm/nb_test_direct.img", NULL, NULL);
		unlink("/dev/shm/nb_test_direct.img");
	}

	/* readonly=1: no writable descriptor (-EPERM at open, not a write failing later), on the
	 * bdev itself and on a virtual bdev built on it; read-only opens and reads work. */
	path_in_dir(path, sizeof(path), "ro_open.img");
	make_file(path, 1 << 20, 0644);
	CHECK_EQ(nb_bdev_create(uri(path, "readonly=1&name=ro_open"), name, sizeof(name)), 0);
	struct nb_bdev_desc *rod = NULL;
	CHECK_ERR(nb_bdev_open_ext("ro_open", 1, on_event, NULL, &rod), -EPERM);
	CHECK(strstr(nb_last_error(), "read-only") != NULL);
	CHECK(rod == NULL);
	CHECK_EQ(nb_bdev_create("loopback:///ro_open?name=ro_loop", name, sizeof(name)), 0);
	CHECK_ERR(nb_bdev_open_ext("ro_loop", 1, on_event, NULL, &rod), -EPERM);
	CHECK_EQ(nb_bdev_open_ext("ro_loop", 0, on_event, NULL, &rod), 0);
	struct nb_io_channel *roch = nb_bdev_get_io_channel(rod);
	CHECK(roch != NULL);
	uint8_t *rob = nb_dma_zmalloc(4096, 4096, NULL);
	CHECK_EQ(run(rod, roch, NB_BDEV_IO_TYPE_READ, rob, 0, 8), 0);
	CHECK_ERR(nb_bdev_write_blocks(rod, roch, rob, 0, 8, on_io, NULL), -ENOTSUP); /* the bdev takes none */
	nb_dma_free(rob);
	CHECK_EQ(nb_put_io_channel(roch), 0);
	nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(nb_bdev_close(rod), 0);
	CHECK_EQ(nb_bdev_destroy("ro_loop", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	CHECK_EQ(nb_bdev_destroy("ro_open", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	unlink(path);

	/* Permission denied and a read-only file, as an unprivileged user (in a child). */
	path_in_dir(path, sizeof(path), "readonly.img");
	make_file(path, 1 << 20, 0444);
	if (getuid() == 0) {
		/* The .NET runtime is not fork-safe: the child execs this program afresh. */
		chmod(g_dir, 0755);
		pid_t pid = fork();
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(77);
			execl("/proc/self/exe", "test_file_bdev", "--unprivileged", g_scheme, path, (char *)NULL);
			_exit(76);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st));
		if (WEXITSTATUS(st) == 127 || WEXITSTATUS(st) == 76)
			printf("unprivileged case skipped: user 65534 cannot reach the build tree\n");
		else
			CHECK_EQ(WEXITSTATUS(st), 0);
	}
	CHECK(nb_bdev_first() == NULL);
}

static void test_data(void)
{
	char name[NB_BDEV_NAME_MAX], path[512];
	path_in_dir(path, sizeof(path), "data.img");
	make_file(path, 64 << 20, 0644);
	CHECK_EQ(nb_bdev_create(uri(path, "name=file0"), name, sizeof(name)), 0);
	CHECK(strcmp(name, "file0") == 0);
	struct nb_bdev *b = nb_bdev_get_by_name("file0");
	CHECK_EQ(nb_bdev_get_block_size(b), 512);
	CHECK_EQ(nb_bdev_get_num_blocks(b), (64 << 20) / 512);
	struct nb_bdev_info info = { .info_size = sizeof(info) };
	CHECK_EQ(nb_bdev_get_info(b, &info), 0);
	CHECK(strcmp(info.driver, g_scheme) == 0);
	CHECK_EQ(info.required_alignment, 512); /* O_DIRECT */
	int uring = strcmp(g_scheme, "uring") == 0;
	CHECK_EQ(nb_bdev_io_type_supported(b, NB_BDEV_IO_TYPE_UNMAP), uring);
	CHECK_EQ(nb_bdev_io_type_supported(b, NB_BDEV_IO_TYPE_WRITE_ZEROES), uring);

	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext("file0", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	uint8_t *w = nb_dma_malloc(1 << 20, 4096, NULL), *r = nb_dma_malloc(1 << 20, 4096, NULL);
	uint8_t *plain_w = aligned_alloc(4096, 65536), *plain_r = aligned_alloc(4096, 65536);

	/* Sizes from one block to 1 MiB at scattered offsets; DMA buffers and plain ones. */
	uint64_t sizes[] = { 1, 8, 9, 255, 2048 }, offs[] = { 0, 77, 4096, 100000, 131072 - 2048 };
	for (int i = 0; i < 5; i++) {
		pattern(w, sizes[i] * 512, (uint32_t)i);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE, w, offs[i], sizes[i]), 0);
		memset(r, 0, sizes[i] * 512);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, offs[i], sizes[i]), 0);
		CHECK(memcmp(w, r, sizes[i] * 512) == 0);
	}
	pattern(plain_w, 65536, 99);
	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE, plain_w, 5000, 128), 0);
	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, plain_r, 5000, 128), 0);
	CHECK(memcmp(plain_w, plain_r, 65536) == 0);

	/* Vectored: three 512-aligned pieces. */
	pattern(w, 3 * 4096, 7);
	struct iovec wv[3] = { { w, 512 }, { w + 512, 8192 }, { w + 8704, 3 * 4096 - 8704 } };
	struct io_result res = { 0 };
	CHECK_EQ(nb_bdev_writev_blocks(d, ch, wv, 3, 20000, 24, on_io, &res), 0);
	POLL_UNTIL(g_t, res.done == 1);
	CHECK_EQ(res.status, 0);
	memset(r, 0, 3 * 4096);
	struct iovec rv[2] = { { r, 4096 }, { r + 4096, 8192 } };
	CHECK_EQ(nb_bdev_readv_blocks(d, ch, rv, 2, 20000, 24, on_io, &res), 0);
	POLL_UNTIL(g_t, res.done == 2);
	CHECK_EQ(res.status, 0);
	CHECK(memcmp(w, r, 3 * 4096) == 0);

	/* Misaligned for O_DIRECT: refused before it reaches the kernel. */
	CHECK_ERR(nb_bdev_read_blocks(d, ch, r + 1, 0, 1, on_io, &res), -EINVAL);

	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_FLUSH, NULL, 0, 0), 0);
	if (uring) {
		pattern(w, 16 * 512, 3);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE, w, 40000, 16), 0);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_UNMAP, NULL, 40000, 8), 0);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE_ZEROES, NULL, 40008, 4), 0);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, 40000, 16), 0);
		for (int i = 0; i < 12 * 512; i++)
			CHECK_EQ(r[i], 0);
		CHECK(memcmp(r + 12 * 512, w + 12 * 512, 4 * 512) == 0);
	} else {
		CHECK_ERR(nb_bdev_unmap_blocks(d, ch, 0, 1, on_io, &res), -ENOTSUP);
		CHECK_ERR(nb_bdev_write_zeroes_blocks(d, ch, 0, 1, on_io, &res), -ENOTSUP);
	}
	struct io_result reset = { 0 };
	CHECK_EQ(nb_bdev_reset(d, ch, on_io, &reset), 0);
	POLL_UNTIL(g_t, reset.done == 1);
	CHECK_EQ(reset.status, 0);

	/* Destroy and re-create on the same file: the data is still there. */
	pattern(w, 4096, 42);
	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE, w, 1000, 8), 0);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	int destroyed = 0;
	CHECK_EQ(nb_bdev_destroy("file0", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	(void)destroyed;
	CHECK_EQ(nb_bdev_create(uri(path, "name=file0&blk_size=4096"), name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_get_block_size(nb_bdev_get_by_name("file0")), 4096);
	CHECK_EQ(nb_bdev_open_ext("file0", 0, on_event, NULL, &d), 0);
	ch = nb_bdev_get_io_channel(d);
	memset(r, 0, 4096);
	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, 125, 1), 0); /* block 1000 of 512 = 125 of 4096 */
	CHECK(memcmp(w, r, 4096) == 0);
	CHECK_ERR(nb_bdev_write_blocks(d, ch, w, 0, 1, on_io, &res), -EBADF); /* read-only desc */

	/* The kernel's own errors: shrink the file under the bdev; reads past the new end
	 * come back short, and the I/O fails with -EIO. */
	CHECK_EQ(truncate(path, 1 << 20), 0);
	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, 1000, 1), -EIO);
	CHECK_EQ(truncate(path, 64 << 20), 0);

	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	CHECK_EQ(nb_bdev_destroy("file0", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	nb_dma_free(w);
	nb_dma_free(r);
	free(plain_w);
	free(plain_r);
	unlink(path);
}

/* io_uring with a kernel submission thread (sqpoll=1): the same data path, no enter per poll. */
static void test_sqpoll(void)
{
	if (strcmp(g_scheme, "uring") != 0)
		return;
	char name[NB_BDEV_NAME_MAX], path[512];
	path_in_dir(path, sizeof(path), "sqpoll.img");
	make_file(path, 16 << 20, 0644);
	CHECK_EQ(nb_bdev_create(uri(path, "sqpoll=1&name=sq"), name, sizeof(name)), 0);
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext("sq", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	uint8_t *w = nb_dma_malloc(65536, 4096, NULL), *r = nb_dma_malloc(65536, 4096, NULL);
	for (int i = 0; i < 20; i++) {
		pattern(w, 65536, (uint32_t)i);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE, w, (uint64_t)i * 128, 128), 0);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, (uint64_t)i * 128, 128), 0);
		CHECK(memcmp(w, r, 65536) == 0);
	}
	CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_FLUSH, NULL, 0, 0), 0);
	nb_dma_free(w);
	nb_dma_free(r);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	CHECK_EQ(nb_bdev_destroy("sq", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	unlink(path);
}

/* Two OS threads, each driving its own lightweight thread and channel, on disjoint ranges. */
struct worker {
	int id;
	struct nb_thread *t;
	int errors;
	int ios;
};

static void *work(void *arg)
{
	struct worker *wk = arg;
	nb_set_thread(wk->t);
	struct nb_bdev_desc *d;
	if (nb_bdev_open_ext("shared", 1, on_event, NULL, &d) != 0) {
		wk->errors++;
		return NULL;
	}
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	uint8_t *w = nb_dma_malloc(8192, 4096, NULL), *r = nb_dma_malloc(8192, 4096, NULL);
	for (int i = 0; i < 300; i++) {
		uint64_t off = (uint64_t)wk->id * 50000 + (uint64_t)i * 16;
		pattern(w, 8192, (uint32_t)(i * 31 + wk->id));
		struct io_result res = { 0 };
		if (nb_bdev_write_blocks(d, ch, w, off, 16, on_io, &res) != 0)
			wk->errors++;
		while (!res.done)
			nb_thread_poll(wk->t, 0, 0);
		if (nb_bdev_read_blocks(d, ch, r, off, 16, on_io, &res) != 0)
			wk->errors++;
		while (res.done < 2)
			nb_thread_poll(wk->t, 0, 0);
		if (res.status != 0 || memcmp(w, r, 8192) != 0)
			wk->errors++;
		wk->ios += 2;
	}
	nb_put_io_channel(ch);
	nb_bdev_close(d);
	nb_thread_poll(wk->t, 0, 0);
	nb_dma_free(w);
	nb_dma_free(r);
	nb_set_thread(NULL);
	return NULL;
}

static void test_two_threads(void)
{
	char name[NB_BDEV_NAME_MAX], path[512];
	path_in_dir(path, sizeof(path), "shared.img");
	make_file(path, 64 << 20, 0644);
	CHECK_EQ(nb_bdev_create(uri(path, "name=shared"), name, sizeof(name)), 0);
	struct worker wk[2] = { { .id = 0 }, { .id = 1 } };
	pthread_t pt[2];
	for (int i = 0; i < 2; i++) {
		wk[i].t = nb_thread_create("worker", NULL);
		CHECK_EQ(pthread_create(&pt[i], NULL, work, &wk[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(pt[i], NULL);
		CHECK_EQ(wk[i].errors, 0);
		CHECK_EQ(wk[i].ios, 600);
		CHECK_EQ(nb_thread_exit(wk[i].t), 0);
		POLL_UNTIL(wk[i].t, nb_thread_is_exited(wk[i].t) == 1);
		CHECK_EQ(nb_thread_destroy(wk[i].t), 0);
	}
	CHECK_EQ(nb_bdev_destroy("shared", NULL, NULL), 0);
	nb_thread_poll(g_t, 0, 0);
	unlink(path);
}

/* A real block device: a loop device over a file (skipped where there is none). */
static void test_block_device(void)
{
	char path[512], cmd[1024], dev[64] = { 0 };
	path_in_dir(path, sizeof(path), "loop.img");
	make_file(path, 16 << 20, 0644);
	snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", path);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(dev, sizeof(dev), p) || dev[0] != '/') {
		if (p)
			pclose(p);
		printf("no loop device: block-device case skipped\n");
		return;
	}
	pclose(p);
	dev[strcspn(dev, "\n")] = 0;
	char name[NB_BDEV_NAME_MAX];
	int rc = nb_bdev_create(uri(dev, ""), name, sizeof(name));
	if (rc == 0) {
		CHECK(strcmp(name, dev) == 0); /* named by its path, as Mayastor does */
		struct nb_bdev *b = nb_bdev_get_by_name(dev);
		CHECK_EQ(nb_bdev_get_block_size(b), 512);
		CHECK_EQ(nb_bdev_get_num_blocks(b), (16 << 20) / 512);
		struct nb_bdev_desc *d;
		CHECK_EQ(nb_bdev_open_ext(dev, 1, on_event, NULL, &d), 0);
		struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
		uint8_t *w = nb_dma_malloc(65536, 4096, NULL), *r = nb_dma_malloc(65536, 4096, NULL);
		pattern(w, 65536, 5);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE, w, 2048, 128), 0);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, 2048, 128), 0);
		CHECK(memcmp(w, r, 65536) == 0);
		CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_FLUSH, NULL, 0, 0), 0);
		if (nb_bdev_io_type_supported(b, NB_BDEV_IO_TYPE_UNMAP) == 1) {
			/* Discard on a block device (fallocate PUNCH_HOLE): the range reads back as zeros. */
			CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_UNMAP, NULL, 2048, 64), 0);
			CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_WRITE_ZEROES, NULL, 2112, 64), 0);
			CHECK_EQ(run(d, ch, NB_BDEV_IO_TYPE_READ, r, 2048, 128), 0);
			for (int i = 0; i < 65536; i++)
				CHECK_EQ(r[i], 0);
		}
		CHECK_ERR(nb_bdev_create(uri(dev, "blk_size=256"), name, sizeof(name)), -EINVAL);
		nb_dma_free(w);
		nb_dma_free(r);
		CHECK_EQ(nb_put_io_channel(ch), 0);
		CHECK_EQ(nb_bdev_close(d), 0);
		CHECK_EQ(nb_bdev_destroy(dev, NULL, NULL), 0);
		nb_thread_poll(g_t, 0, 0);
	}
	snprintf(cmd, sizeof(cmd), "losetup -d %s", dev);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: %s failed\n", cmd);
	CHECK_EQ(rc, 0);
	unlink(path);
}

/* Run as an unprivileged user on a mode 0444 file. */
static int unprivileged(const char *path)
{
	char n[NB_BDEV_NAME_MAX];
	CHECK_EQ(nb_test_env_init(), 0);
	CHECK_ERR(nb_bdev_create(uri(path, ""), n, sizeof(n)), -EACCES);
	CHECK(strstr(nb_last_error(), "readonly=1") != NULL);
	CHECK_EQ(nb_bdev_create(uri(path, "readonly=1&name=ro"), n, sizeof(n)), 0);
	struct nb_bdev *b = nb_bdev_get_by_name("ro");
	CHECK_EQ(nb_bdev_io_type_supported(b, NB_BDEV_IO_TYPE_WRITE), 0);
	CHECK_EQ(nb_bdev_io_type_supported(b, NB_BDEV_IO_TYPE_READ), 1);
	CHECK_EQ(nb_bdev_destroy("ro", NULL, NULL), 0);
	CHECK_EQ(nb_env_fini(), 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--unprivileged") == 0) {
		g_scheme = argv[2];
		return unprivileged(argv[3]);
	}
	if (argc < 3) {
		fprintf(stderr, "usage: test_file_bdev uring|aio DIR\n");
		return 2;
	}
	g_scheme = argv[1];
	g_dir = argv[2];
	char mk[600];
	snprintf(mk, sizeof(mk), "mkdir -p '%s'", g_dir);
	CHECK_EQ(system(mk), 0);
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("test", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	test_errors();
	test_data();
	test_sqpoll();
	CHECK_EQ(nb_set_thread(NULL), 0);
	test_two_threads();
	CHECK_EQ(nb_set_thread(g_t), 0);
	test_block_device();
	CHECK(nb_bdev_first() == NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
