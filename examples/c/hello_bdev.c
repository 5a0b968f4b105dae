/* hello_bdev: the smallest complete program. Creates a malloc bdev from a URI, opens it,
 * writes "Hello World!", reads it back, prints it and cleans up — host-driven: this program
 * owns the loop and polls its one thread. Exits non-zero on any failure. */
#include <stdio.h>
#include <string.h>
#include "nativebdev.h"

struct hello {
	struct nb_bdev_desc *desc;
	struct nb_io_channel *ch;
	char *buf;
	int done;
	int status;
};

static int fail(const char *what, int rc)
{
	fprintf(stderr, "hello_bdev: %s failed (%d): %s\n", what, rc, nb_last_error());
	return 1;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)ctx;
	printf("event %d on %s\n", type, nb_bdev_get_name(bdev));
}

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct hello *h = arg;
	h->status = status;
	h->done = 1;
}

static int wait_io(struct nb_thread *t, struct hello *h)
{
	while (!h->done)
		nb_thread_poll(t, 0, 0);
	h->done = 0;
	return h->status;
}

int main(void)
{
	int rc;
	if ((rc = nb_env_init(NULL)) != 0)
		return fail("nb_env_init", rc);
	struct nb_thread *t = nb_thread_create("hello", NULL);
	if (!t)
		return fail("nb_thread_create", -1);
	nb_set_thread(t);

	char name[NB_BDEV_NAME_MAX];
	if ((rc = nb_bdev_create("malloc:///Malloc0?size_mb=8&blk_size=512", name, sizeof(name))) != 0)
		return fail("nb_bdev_create", rc);
	struct hello h = { 0 };
	if ((rc = nb_bdev_open_ext(name, 1, on_event, NULL, &h.desc)) != 0)
		return fail("nb_bdev_open_ext", rc);
	if (!(h.ch = nb_bdev_get_io_channel(h.desc)))
		return fail("nb_bdev_get_io_channel", -1);
	uint32_t bs = nb_bdev_get_block_size(nb_bdev_desc_get_bdev(h.desc));
	h.buf = nb_dma_zmalloc(bs, 0, NULL);
	if (!h.buf)
		return fail("nb_dma_zmalloc", -1);

	snprintf(h.buf, bs, "%s", "Hello World!");
	if ((rc = nb_bdev_write(h.desc, h.ch, h.buf, 0, bs, on_io, &h)) != 0)
		return fail("nb_bdev_write", rc);
	if ((rc = wait_io(t, &h)) != 0)
		return fail("write completion", rc);
	memset(h.buf, 0, bs);
	if ((rc = nb_bdev_read(h.desc, h.ch, h.buf, 0, bs, on_io, &h)) != 0)
		return fail("nb_bdev_read", rc);
	if ((rc = wait_io(t, &h)) != 0)
		return fail("read completion", rc);
	printf("Read string from bdev: %s\n", h.buf);
	if (strcmp(h.buf, "Hello World!") != 0)
		return fail("compare", -1);

	nb_dma_free(h.buf);
	nb_put_io_channel(h.ch);
	nb_bdev_close(h.desc);
	if ((rc = nb_bdev_destroy(name, NULL, NULL)) != 0)
		return fail("nb_bdev_destroy", rc);
	nb_set_thread(NULL);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		nb_thread_poll(t, 0, 0);
	nb_thread_destroy(t);
	if ((rc = nb_env_fini()) != 0)
		return fail("nb_env_fini", rc);
	return 0;
}
