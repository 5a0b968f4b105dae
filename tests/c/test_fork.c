/* fork() after the library started (issue 15): the child has only the forking thread, the
 * runtime's other threads are gone, and before the fix its first garbage collection, or
 * nb_reactors_stop, waited forever. Now every call in the child fails at once with -ECHILD
 * (NULL, 0 or NB_VTOPHYS_ERROR where the function returns those) and nb_last_error() says
 * why; the clock (C, outside the runtime) still works. Each call in the child runs under
 * alarm(): a hang kills the child with SIGALRM, which the parent reports. The parent keeps
 * working afterwards, reactors running and host-driven I/O both. Forks are taken by the
 * thread driving the library and by one that never called it; a child forked before the
 * first call into the library uses it normally. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include "check.h"

static struct nb_thread *g_t;
static struct nb_bdev_desc *g_desc;
static struct nb_io_channel *g_ch;
static uint8_t *g_buf;

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	int *r = arg;
	*r = status == 0 ? 1 : status;
}

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void io_roundtrip(void)
{
	int w = 0, r = 0;
	memset(g_buf, 0x5a, 4096);
	CHECK_EQ(nb_bdev_write_blocks(g_desc, g_ch, g_buf, 0, 8, on_io, &w), 0);
	POLL_UNTIL(g_t, w != 0);
	CHECK_EQ(w, 1);
	memset(g_buf, 0, 4096);
	CHECK_EQ(nb_bdev_read_blocks(g_desc, g_ch, g_buf, 0, 8, on_io, &r), 0);
	POLL_UNTIL(g_t, r != 0);
	CHECK_EQ(r, 1);
	CHECK_EQ(g_buf[4095], 0x5a);
}

/* In the child: no exit() (atexit handlers), only _exit; stdio is flushed by hand. */
#define CHILD_CHECK(cond)                                                                     \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: child CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			fflush(stderr);                                                       \
			_exit(1);                                                             \
		}                                                                             \
	} while (0)

/* `call` answers at once (within 5 s) with `expect`, and nb_last_error() says why. */
#define REFUSED(call, expect)                                                                 \
	do {                                                                                  \
		alarm(5);                                                                     \
		CHILD_CHECK((call) == (expect));                                              \
		alarm(5);                                                                     \
		const char *_m = nb_last_error();                                             \
		CHILD_CHECK(_m != NULL && strstr(_m, "fork") != NULL);                        \
		CHILD_CHECK(strstr(_m, "-ECHILD") != NULL && strstr(_m, "exec") != NULL);     \
		alarm(0);                                                                     \
	} while (0)

static void child(void)
{
	char name[NB_BDEV_NAME_MAX];
	REFUSED(nb_thread_poll(g_t, 0, 0), -ECHILD);
	REFUSED(nb_bdev_read_blocks(g_desc, g_ch, g_buf, 0, 8, on_io, NULL), -ECHILD);
	REFUSED(nb_bdev_write_blocks(g_desc, g_ch, g_buf, 0, 8, on_io, NULL), -ECHILD);
	REFUSED(nb_bdev_create("malloc:///Child?size_mb=1", name, sizeof(name)), -ECHILD);
	REFUSED(nb_bdev_get_by_name("Fork0"), NULL);
	REFUSED(nb_bdev_get_block_size(nb_bdev_desc_get_bdev(g_desc)), 0);
	REFUSED(nb_dma_malloc(4096, 0, NULL), NULL);
	REFUSED(nb_dma_free(g_buf), -ECHILD);
	REFUSED(nb_vtophys(g_buf, NULL), NB_VTOPHYS_ERROR);
	REFUSED(nb_thread_create("child", NULL), NULL);
	REFUSED(nb_set_thread(NULL), -ECHILD);
	REFUSED(nb_get_current_thread(), NULL);
	REFUSED(nb_thread_send_msg(g_t, NULL, NULL), -ECHILD);
	REFUSED(nb_log_set_level(NB_LOG_DEBUG), -ECHILD);
	REFUSED(nb_version(), NULL);
	REFUSED(nb_env_opts_init(NULL, 0), -ECHILD);
	REFUSED(nb_env_init(NULL), -ECHILD);
	REFUSED(nb_reactor_count(), -ECHILD);
	REFUSED(nb_reactors_stop(), -ECHILD);
	REFUSED(nb_env_fini(), -ECHILD);
	/* Many calls: before the fix enough of them ran into a collection. */
	alarm(5);
	for (int i = 0; i < 100000; i++)
		CHILD_CHECK(nb_bdev_create("malloc:///Child?size_mb=1", name, sizeof(name)) == -ECHILD);
	/* The clock is C and never enters the runtime: it works in the child. */
	uint64_t a = nb_get_ticks(), b = nb_get_ticks();
	CHILD_CHECK(a != 0 && b >= a && nb_get_ticks_hz() > 0);
	alarm(0);
	_exit(0);
}

/* A child forked before the first call into the library: nothing of the runtime existed, and
 * the child may use the library as a fresh process would. */
static void fresh_child(void)
{
	alarm(20);
	CHILD_CHECK(nb_test_env_init() == 0);
	struct nb_thread *t = nb_thread_create("fresh", NULL);
	CHILD_CHECK(t != NULL);
	CHILD_CHECK(nb_thread_exit(t) == 0);
	for (int i = 0; i < 1000 && nb_thread_is_exited(t) != 1; i++)
		nb_thread_poll(t, 0, 0);
	CHILD_CHECK(nb_thread_destroy(t) == 0);
	CHILD_CHECK(nb_env_fini() == 0);
	_exit(0);
}

static void wait_child(pid_t pid);

static void fork_and_check(void (*in_child)(void))
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		in_child();
	wait_child(pid);
}

/* The fork is taken by an OS thread that never called into the library. */
static void *forking_thread(void *arg)
{
	(void)arg;
	fork_and_check(child);
	return NULL;
}

static void wait_child(pid_t pid)
{
	int status = 0;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fprintf(stderr, "child killed by signal %d (%s)\n", WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? "a call hung" : "crashed");
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/* Forks taken while another OS thread makes the runtime collect garbage again and again (each
 * failed look-up allocates its message): a child forked during a collection inherits the
 * runtime stopped for it, and only an entry point that refuses before entering the runtime
 * (runtime/Native/entry.c) keeps it from waiting forever. */
static atomic_int g_stop_allocating;

static void *allocating_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_stop_allocating))
		nb_bdev_get_by_name("no-such-bdev-with-a-long-name-to-make-the-message-allocate-more");
	return NULL;
}

static void quick_child(void)
{
	alarm(5);
	CHILD_CHECK(nb_bdev_get_by_name("Fork0") == NULL);
	CHILD_CHECK(strstr(nb_last_error(), "fork") != NULL);
	CHILD_CHECK(nb_bdev_create("null:///InChild?num_blocks=8", NULL, 0) == -ECHILD);
	alarm(0);
	_exit(0);
}

static void fork_during_collections(void)
{
	pthread_t allocator;
	atomic_store(&g_stop_allocating, 0);
	CHECK_EQ(pthread_create(&allocator, NULL, allocating_thread, NULL), 0);
	for (int i = 0; i < 300; i++)
		fork_and_check(quick_child);
	atomic_store(&g_stop_allocating, 1);
	CHECK_EQ(pthread_join(allocator, NULL), 0);
}

int main(void)
{
	fork_and_check(fresh_child);
	CHECK_EQ(nb_test_env_init(), 0);
	g_t = nb_thread_create("forker", NULL);
	CHECK(g_t != NULL);
	CHECK_EQ(nb_set_thread(g_t), 0);
	char name[NB_BDEV_NAME_MAX];
	CHECK_EQ(nb_bdev_create("malloc:///Fork0?size_mb=4&blk_size=512", name, sizeof(name)), 0);
	CHECK_EQ(nb_bdev_open_ext("Fork0", 1, on_event, NULL, &g_desc), 0);
	g_ch = nb_bdev_get_io_channel(g_desc);
	CHECK(g_ch != NULL);
	g_buf = nb_dma_malloc(4096, 0, NULL);
	CHECK(g_buf != NULL);
	io_roundtrip();

	/* Host-driven: a fork in the middle of the host's own polling. */
	fork_and_check(child);
	io_roundtrip();
	pthread_t forker;
	CHECK_EQ(pthread_create(&forker, NULL, forking_thread, NULL), 0);
	CHECK_EQ(pthread_join(forker, NULL), 0);
	io_roundtrip();

	fork_during_collections();

	/* With reactors running (their OS threads are what the child lacks). */
	CHECK_EQ(nb_reactors_start("0x1"), 0);
	fork_and_check(child);
	CHECK_EQ(nb_reactor_count(), 1);
	CHECK_EQ(nb_reactors_stop(), 0);
	io_roundtrip();

	CHECK_EQ(nb_dma_free(g_buf), 0);
	CHECK_EQ(nb_put_io_channel(g_ch), 0);
	CHECK_EQ(nb_bdev_close(g_desc), 0);
	CHECK_EQ(nb_bdev_destroy("Fork0", NULL, NULL), 0);
	POLL_UNTIL(g_t, nb_bdev_get_by_name("Fork0") == NULL);
	CHECK_EQ(nb_set_thread(NULL), 0);
	CHECK_EQ(nb_thread_exit(g_t), 0);
	POLL_UNTIL(g_t, nb_thread_is_exited(g_t) == 1);
	CHECK_EQ(nb_thread_destroy(g_t), 0);
	CHECK_EQ(nb_env_fini(), 0);
	CHECK_DONE();
}
