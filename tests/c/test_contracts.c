/* What a new host finds when it takes the header at its word (issue 15, contracts): channels
 * used after their last put, an io-wait entry queued twice, a descriptor closed with its
 * channel held, a read into an invalid address, names of bdevs being removed, NULL names,
 * a refused io channel's cause, I/O held by a timeout rule on a bdev being destroyed, and
 * the SIGPIPE disposition the library leaves to the host and its children. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include "check.h"

extern char **environ;

static struct nb_thread *g_t;

struct result {
	int done, status;
};

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	struct result *r = arg;
	if (r) {
		r->done++;
		r->status = status;
	}
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void on_destroyed(void *ctx, int status)
{
	(void)status;
	(*(int *)ctx)++;
}

static void poll_some(int n)
{
	for (int i = 0; i < n; i++)
		nb_thread_poll(g_t, 0, 0);
}

static void destroy(const char *name)
{
	int gone = 0;
	CHECK_EQ(nb_bdev_destroy(name, on_destroyed, &gone), 0);
	POLL_UNTIL(g_t, gone == 1);
}

static int g_waits;
static void on_wait(void *ctx)
{
	(void)ctx;
	g_waits++;
}

/* A channel whose last reference was put takes no I/O: -EBADF (a stale handle). */
static void test_io_after_put(void)
{
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_create("null:///C0?num_blocks=1024", NULL, 0), 0);
	CHECK_EQ(nb_bdev_open_ext("C0", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	char buf[512];
	CHECK_EQ(nb_put_io_channel(ch), 0);
	struct result r = { 0 };
	CHECK_ERR(nb_bdev_read_blocks(d, ch, buf, 0, 1, on_io, &r), -EBADF);
	CHECK(strstr(nb_last_error(), "put") != NULL);
	struct nb_bdev_io_wait_entry e = { nb_bdev_desc_get_bdev(d), on_wait, NULL };
	CHECK_ERR(nb_bdev_queue_io_wait(e.bdev, ch, &e), -EBADF);
	poll_some(3);
	CHECK_EQ(r.done, 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	destroy("C0");
}

/* One io-wait entry is queued once at a time: the second is -EBUSY, the callback runs once. */
static void test_io_wait_twice(void)
{
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_create("null:///C1?num_blocks=1024", NULL, 0), 0);
	CHECK_EQ(nb_bdev_open_ext("C1", 0, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	static char buf[512];
	static struct result rs[4096];
	int n = 0, rc;
	while (n < 4096 && (rc = nb_bdev_read_blocks(d, ch, buf, 0, 1, on_io, &rs[n])) == 0)
		n++;
	CHECK_EQ(rc, -ENOMEM);
	struct nb_bdev_io_wait_entry e = { nb_bdev_desc_get_bdev(d), on_wait, NULL };
	CHECK_EQ(nb_bdev_queue_io_wait(e.bdev, ch, &e), 0);
	CHECK_ERR(nb_bdev_queue_io_wait(e.bdev, ch, &e), -EBUSY);
	CHECK(strstr(nb_last_error(), "already queued") != NULL);
	int done = 0;
	uint64_t end = nb_get_ticks() + 5 * nb_get_ticks_hz();
	while (done < n && nb_get_ticks() < end) {
		nb_thread_poll(g_t, 0, 0);
		done = 0;
		for (int i = 0; i < n; i++)
			done += rs[i].done;
	}
	CHECK_EQ(done, n);
	CHECK_EQ(g_waits, 1);
	/* Once it has run, the entry may be queued again (refused now only for free I/Os). */
	CHECK_ERR(nb_bdev_queue_io_wait(e.bdev, ch, &e), -EINVAL);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	poll_some(3);
	CHECK_EQ(nb_bdev_close(d), 0);
	destroy("C1");
}

/* SPDK's order is not enforced: a descriptor closes with its channel held; the channel
 * stays valid until put, I/O through the closed descriptor is -EBADF, and the bdev's
 * removal completes once the channel is put. */
static void test_close_with_channel(void)
{
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_create("null:///C2?num_blocks=1024", NULL, 0), 0);
	CHECK_EQ(nb_bdev_open_ext("C2", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK(ch != NULL);
	CHECK_EQ(nb_bdev_close(d), 0);
	char buf[512];
	CHECK_ERR(nb_bdev_read_blocks(d, ch, buf, 0, 1, on_io, NULL), -EBADF);
	int gone = 0;
	CHECK_EQ(nb_bdev_destroy("C2", on_destroyed, &gone), 0);
	poll_some(20);
	CHECK_EQ(gone, 0); /* the channel is still held */
	CHECK_EQ(nb_put_io_channel(ch), 0);
	POLL_UNTIL(g_t, gone == 1);
}

/* A read into an address that is never mapped: refused with -EFAULT and a true message,
 * never an "internal error" and never a crash. */
static void test_invalid_buffer(void)
{
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_create("malloc:///C3?size_mb=1", NULL, 0), 0);
	CHECK_EQ(nb_bdev_open_ext("C3", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	void *bad[] = { (void *)8, (void *)0x1000, (void *)0xfff0 };
	for (int i = 0; i < 3; i++) {
		struct result r = { 0 };
		int rc = nb_bdev_read_blocks(d, ch, bad[i], 0, 1, on_io, &r);
		CHECK_EQ(rc, -EFAULT);
		CHECK(strncmp(nb_last_error(), "internal error", 14) != 0);
		CHECK(strstr(nb_last_error(), "address") != NULL);
		rc = nb_bdev_write_blocks(d, ch, bad[i], 0, 1, on_io, &r);
		CHECK_EQ(rc, -EFAULT);
		struct iovec iov = { bad[i], 512 };
		CHECK_ERR(nb_bdev_readv_blocks(d, ch, &iov, 1, 0, 1, on_io, &r), -EFAULT);
		poll_some(3);
		CHECK_EQ(r.done, 0);
	}
	CHECK_EQ(nb_put_io_channel(ch), 0);
	poll_some(3);
	CHECK_EQ(nb_bdev_close(d), 0);
	destroy("C3");
}

/* Messages that say what is true: a name still being removed, a NULL name. */
static void test_names(void)
{
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_create("null:///C4?num_blocks=1024", NULL, 0), 0);
	CHECK_EQ(nb_bdev_open_ext("C4", 0, on_event, NULL, &d), 0);
	int gone = 0;
	CHECK_EQ(nb_bdev_destroy("C4", on_destroyed, &gone), 0); /* waits for the close */
	CHECK_ERR(nb_bdev_create("null:///C4?num_blocks=1024", NULL, 0), -EEXIST);
	CHECK(strstr(nb_last_error(), "being removed") != NULL);
	CHECK_NULL_ERR(nb_bdev_get_by_name("C4"));
	CHECK(strstr(nb_last_error(), "being removed") != NULL);
	CHECK_ERR(nb_bdev_resize("C4", 8), -ENODEV);
	CHECK(strstr(nb_last_error(), "being removed") != NULL);
	struct nb_bdev_desc *d2;
	CHECK_ERR(nb_bdev_open_ext("C4", 0, on_event, NULL, &d2), -ENODEV);
	CHECK(strstr(nb_last_error(), "being removed") != NULL);
	CHECK_EQ(nb_bdev_close(d), 0);
	POLL_UNTIL(g_t, gone == 1);
	CHECK_EQ(nb_bdev_create("null:///C4?num_blocks=1024", NULL, 0), 0); /* free again */
	destroy("C4");
	CHECK_ERR(nb_bdev_resize(NULL, 8), -EINVAL);
	CHECK(strstr(nb_last_error(), "NULL") != NULL);
	CHECK_ERR(nb_bdev_resize("nope", 8), -ENODEV);
	CHECK(strstr(nb_last_error(), "no bdev named 'nope'") != NULL);
}

/* I/O held by a timeout rule completes when its bdev is removed (-ECANCELED), without the
 * channel being put: a host that drains in-flight I/O before putting would wait forever. */
static void test_timeout_rule_on_removal(void)
{
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_create("malloc:///C5?size_mb=1", NULL, 0), 0);
	CHECK_EQ(nb_bdev_open_ext("C5", 1, on_event, NULL, &d), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	void *buf = nb_dma_zmalloc(4096, 0, NULL);
	CHECK(nb_fault_inject("inject://C5?op=read&method=timeout") > 0);
	struct result r[2] = { { 0 }, { 0 } };
	CHECK_EQ(nb_bdev_read_blocks(d, ch, buf, 0, 1, on_io, &r[0]), 0);
	CHECK(nb_fault_inject("inject://C5?op=read&stage=compl&method=timeout") > 0);
	CHECK_EQ(nb_bdev_read_blocks(d, ch, buf, 1, 1, on_io, &r[1]), 0);
	poll_some(50);
	CHECK_EQ(r[0].done + r[1].done, 0);
	int gone = 0;
	CHECK_EQ(nb_bdev_destroy("C5", on_destroyed, &gone), 0);
	POLL_UNTIL(g_t, r[0].done == 1 && r[1].done == 1);
	CHECK_EQ(r[0].status, -ECANCELED);
	CHECK_EQ(r[1].status, -ECANCELED);
	CHECK_EQ(gone, 0);
	CHECK_EQ(nb_put_io_channel(ch), 0);
	poll_some(3);
	CHECK_EQ(nb_bdev_close(d), 0);
	POLL_UNTIL(g_t, gone == 1);
	nb_dma_free(buf);
}

/* A uring channel refused for lack of file descriptors says so (EMFILE, the limit to raise),
 * not "(-12)". */
static void test_channel_refusal_cause(void)
{
	char path[] = "/tmp/nb_contracts_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	close(fd);
	char uri[128];
	snprintf(uri, sizeof(uri), "uring://%s?direct=0&name=C6", path);
	CHECK_EQ(nb_bdev_create(uri, NULL, 0), 0);
	struct nb_thread *t2 = nb_thread_create("emfile", NULL);
	CHECK(t2 != NULL);
	CHECK_EQ(nb_set_thread(t2), 0);
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext("C6", 0, on_event, NULL, &d), 0);
	/* No descriptor left for the thread's ring. */
	struct rlimit old, low;
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	int probe = open("/dev/null", O_RDONLY);
	CHECK(probe >= 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe; /* every descriptor from `probe` up is refused */
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct nb_io_channel *ch = nb_bdev_get_io_channel(d);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (ch != NULL) {
		printf("the ring took no new descriptor here: case skipped\n");
		CHECK_EQ(nb_put_io_channel(ch), 0);
	} else {
		CHECK(strstr(nb_last_error(), "EMFILE") != NULL);
		CHECK(strstr(nb_last_error(), "RLIMIT_NOFILE") != NULL);
		CHECK(strstr(nb_last_error(), "(-12)") == NULL);
	}
	for (int i = 0; i < 3; i++)
		nb_thread_poll(t2, 0, 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(t2), 0);
	POLL_UNTIL(t2, nb_thread_is_exited(t2) == 1);
	CHECK_EQ(nb_thread_destroy(t2), 0);
	CHECK_EQ(nb_set_thread(g_t), 0);
	destroy("C6");
	unlink(path);
}

/* aio: each thread driving aio bdevs takes one AIO context, and the machine's fs.aio-max-nr
 * bounds them (65536 events by default: about 31 threads of 2064 events). The thread that
 * finds none left is refused with the cause and the knob, not "(-12)". */
#define AIO_THREADS_MAX 600
static void test_aio_refusal_cause(void)
{
	char path[] = "/tmp/nb_contracts_aio_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	close(fd);
	char uri[128];
	snprintf(uri, sizeof(uri), "aio://%s?direct=0&name=A6", path);
	CHECK_EQ(nb_bdev_create(uri, NULL, 0), 0);
	struct nb_bdev_desc *d;
	CHECK_EQ(nb_bdev_open_ext("A6", 0, on_event, NULL, &d), 0);
	static struct nb_thread *t[AIO_THREADS_MAX];
	static struct nb_io_channel *ch[AIO_THREADS_MAX];
	int n = 0, refused = 0;
	while (n < AIO_THREADS_MAX && !refused) {
		char name[32];
		snprintf(name, sizeof(name), "aio%d", n);
		t[n] = nb_thread_create(name, NULL);
		CHECK(t[n] != NULL);
		CHECK_EQ(nb_set_thread(t[n]), 0);
		ch[n] = nb_bdev_get_io_channel(d);
		if (ch[n] == NULL) {
			refused = 1;
			printf("aio channel %d refused: %s\n", n, nb_last_error());
			CHECK(strstr(nb_last_error(), "aio-max-nr") != NULL);
			CHECK(strstr(nb_last_error(), "EAGAIN") != NULL);
			CHECK(strstr(nb_last_error(), "(-12)") == NULL);
		}
		CHECK_EQ(nb_set_thread(NULL), 0);
		n++;
	}
	if (!refused)
		printf("%d aio channels fit (fs.aio-max-nr is large here): refusal not reached\n", n);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(nb_set_thread(t[i]), 0);
		if (ch[i] != NULL)
			CHECK_EQ(nb_put_io_channel(ch[i]), 0);
		CHECK_EQ(nb_set_thread(NULL), 0);
		CHECK_EQ(nb_thread_exit(t[i]), 0);
		POLL_UNTIL(t[i], nb_thread_is_exited(t[i]) == 1);
		CHECK_EQ(nb_thread_destroy(t[i]), 0);
	}
	CHECK_EQ(nb_set_thread(g_t), 0);
	CHECK_EQ(nb_bdev_close(d), 0);
	destroy("A6");
	unlink(path);
}

static void host_handler(int sig)
{
	(void)sig;
}

static void *sigpipe_handler(void)
{
	struct sigaction sa;
	sigaction(SIGPIPE, NULL, &sa);
	return (void *)sa.sa_handler;
}

/* The library leaves SIGPIPE alone: a handler the host installed before the first call is
 * kept, and a host that left the default lets its children start with the default. */
static void test_sigpipe(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--sigpipe-child") == 0)
		exit(sigpipe_handler() == (void *)SIG_DFL ? 0 : 3);
	/* Before any call into the library (main calls this first). */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = host_handler;
	CHECK_EQ(sigaction(SIGPIPE, &sa, NULL), 0);
	CHECK(nb_version() != NULL); /* starts the runtime */
	CHECK(sigpipe_handler() == (void *)host_handler);
	/* Back to the default: a child the host starts inherits it. */
	sa.sa_handler = SIG_DFL;
	CHECK_EQ(sigaction(SIGPIPE, &sa, NULL), 0);
	CHECK_EQ(nb_test_env_init(), 0);
	CHECK(sigpipe_handler() == (void *)SIG_DFL);
	char *args[] = { argv[0], "--sigpipe-child", NULL };
	pid_t pid;
	CHECK_EQ(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args, environ), 0);
	int st = 0;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* CONTRACTS_ONLY=test_x runs one case (each stops at its first failed check). */
	const char *only = getenv("CONTRACTS_ONLY");
	if (!only || strcmp(only, "test_sigpipe") == 0)
		test_sigpipe(argc, argv); /* first: it checks what the first call does */
	else
		CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("contracts", NULL);
	CHECK(g_t != NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
#define RUN(f) do { if (!only || strcmp(only, #f) == 0) { printf("%s\n", #f); f(); } } while (0)
	RUN(test_io_after_put);
	RUN(test_io_wait_twice);
	RUN(test_close_with_channel);
	RUN(test_invalid_buffer);
	RUN(test_names);
	RUN(test_timeout_rule_on_removal);
	RUN(test_channel_refusal_cause);
	RUN(test_aio_refusal_cause);
	CHECK(nb_bdev_first() == NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
