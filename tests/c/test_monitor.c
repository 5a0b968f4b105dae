/* The device monitor through the published library: an error burst retires a bdev (event,
 * health, I/O failed fast without reaching the device), clearing re-admits it. */
#include <errno.h>
#include <stdint.h>
#include "check.h"

static struct nb_thread *g_t;
static int g_failed_events;
static struct nb_thread *g_event_thread;

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
	if (type == NB_BDEV_EVENT_FAILED) {
		g_failed_events++;
		g_event_thread = nb_get_current_thread();
	}
}

static int read1(struct nb_bdev_desc *d, struct nb_io_channel *ch, void *buf)
{
	struct result r = { 0 };
	int rc = nb_bdev_read_blocks(d, ch, buf, 0, 1, on_io, &r);
	if (rc != 0)
		return rc;
	POLL_UNTIL(g_t, r.done == 1);
	return r.status;
}

int main(void)
{
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("monitor", NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	CHECK_ERR(nb_device_monitor_configure(3, 0), -EINVAL);
	CHECK_EQ(nb_device_monitor_configure(3, 1000), 0);

	char name[64];
	CHECK_EQ(nb_bdev_create("malloc:///Disk?size_mb=4", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_create("error:///Disk", name, sizeof(name)), 0);
	struct nb_bdev *ee = nb_bdev_get_by_name("EE_Disk"), *disk = nb_bdev_get_by_name("Disk");
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext("EE_Disk", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	void *buf = nb_dma_zmalloc(512, 0, NULL);

	struct nb_bdev_health h;
	memset(&h, 0, sizeof(h));
	h.health_size = sizeof(h);
	CHECK_EQ(nb_bdev_get_health(ee, &h), 0);
	CHECK_EQ(h.failed, 0);
	CHECK_ERR(nb_bdev_get_health(ee, NULL), -EINVAL);
	CHECK_ERR(nb_bdev_clear_failed(ee), -EALREADY);

	/* Two errors: still healthy. The third retires it. */
	CHECK_EQ(nb_bdev_error_inject("EE_Disk", NB_BDEV_IO_TYPE_READ, NB_BDEV_ERROR_FAILURE, 3), 0);
	CHECK_EQ(read1(d, ch, buf), -EIO);
	CHECK_EQ(read1(d, ch, buf), -EIO);
	CHECK_EQ(nb_bdev_get_health(ee, &h), 0);
	CHECK_EQ(h.failed, 0);
	CHECK_EQ(h.read_errors, 2);
	CHECK_EQ(read1(d, ch, buf), -EIO);
	POLL_UNTIL(g_t, g_failed_events == 1);
	CHECK(g_event_thread == g_t);
	CHECK_EQ(nb_bdev_get_health(ee, &h), 0);
	CHECK_EQ(h.failed, 1);
	CHECK(strstr(h.reason, "3 I/O errors") != NULL);

	/* Retired: I/O fails at once, and the device below is not asked. */
	struct nb_bdev_io_stat before = { .stat_size = sizeof(before) }, after = { .stat_size = sizeof(after) };
	CHECK_EQ(nb_bdev_get_io_stat(disk, &before), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(read1(d, ch, buf), -EIO);
	CHECK_EQ(nb_bdev_get_io_stat(disk, &after), 0);
	CHECK_EQ(after.num_read_ops + after.num_read_errors, before.num_read_ops + before.num_read_errors);
	CHECK_EQ(g_failed_events, 1); /* retired once */

	/* Cleared: it works again. */
	CHECK_EQ(nb_bdev_clear_failed(ee), 0);
	CHECK_EQ(read1(d, ch, buf), 0);
	CHECK_EQ(nb_bdev_get_health(ee, &h), 0);
	CHECK_EQ(h.failed, 0);

	/* Off: errors retire nothing. */
	CHECK_EQ(nb_device_monitor_configure(0, 0), 0);
	CHECK_EQ(nb_bdev_error_inject("EE_Disk", NB_BDEV_IO_TYPE_READ, NB_BDEV_ERROR_FAILURE, 5), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(read1(d, ch, buf), -EIO);
	CHECK_EQ(read1(d, ch, buf), 0);
	CHECK_EQ(g_failed_events, 1);

	nb_dma_free(buf);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	CHECK_EQ(nb_bdev_destroy("Disk", NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_first() == NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
