/* libFuzzer harness for the nexus state file (nexus:///...&state_file=PATH): each input is the
 * file's content, written to a fresh path before nexus fzn is made over two malloc children
 * (fzna, fznb) with that file. Per input: a nexus, or an error with a message of its own. A
 * refused file is left byte for byte as it was (the nexus never writes a file it did not
 * accept), and a nexus made has at least one child open and in sync (reads need one). The
 * nexus is destroyed and waited for; then nothing may be left: no bdev but the children, no
 * DMA memory, no descriptor, no thread. Never a crash, never a hang.
 *
 * Seeds: tests/fuzz/corpus/nexus_state (files as the nexus writes them). Feedback: each error
 * message kind and the children's resulting states are hashed into libFuzzer's extra counters. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include "fuzz_common.h"

#define FUZZ_MAX_INPUT 8192

static char g_dir[64];
static unsigned g_serial;
static int g_bdevs_baseline;

/* The last two files (and any a late writer's rename made again) and the directory. */
static void remove_files(void)
{
	for (unsigned i = g_serial > 3 ? g_serial - 3 : 1; i <= g_serial; i++) {
		char path[160];
		snprintf(path, sizeof(path), "%s/%u.json", g_dir, i);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%u.json.tmp", g_dir, i);
		unlink(path);
	}
	rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init("fuzz_nexus_state");
	FUZZ_CHECK(nb_bdev_create("malloc:///fzna?num_blocks=256&blk_size=512", NULL, 0) == 0, "child a");
	FUZZ_CHECK(nb_bdev_create("malloc:///fznb?num_blocks=256&blk_size=512", NULL, 0) == 0, "child b");
	snprintf(g_dir, sizeof(g_dir), "/tmp/fuzz_nexus_state.%d", (int)getpid());
	FUZZ_CHECK(mkdir(g_dir, 0700) == 0 || errno == EEXIST, "directory %s", g_dir);
	atexit(remove_files);
	g_bdevs_baseline = bdev_count();
	fuzz_take_baseline();
	return 0;
}

static void on_destroyed(void *ctx, int status)
{
	*(int *)ctx = status == 0 ? 1 : -1;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0, "create %s", path);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size, "write %s", path);
	close(fd);
}

/* 1 when PATH holds exactly DATA. */
static int holds(const char *path, const uint8_t *data, size_t size)
{
	static uint8_t back[FUZZ_MAX_INPUT + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, back, sizeof(back));
	close(fd);
	return n == (ssize_t)size && memcmp(back, data, size) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return -1;
	/* A fresh path per input: a destroyed nexus's writer may still be finishing its last write
	 * of the file it had. The one before last is gone for good by now. */
	char path[128], old[128];
	g_serial++;
	snprintf(path, sizeof(path), "%s/%u.json", g_dir, g_serial);
	snprintf(old, sizeof(old), "%s/%u.json", g_dir, g_serial - 2);
	unlink(old);
	write_file(path, data, size);

	char uri[256];
	snprintf(uri, sizeof(uri), "nexus:///fzn?children=fzna,fznb&state_file=%s", path);
	const char *tag = "nexus state file";
	fuzz_arm();
	int rc = nb_bdev_create(uri, NULL, 0);
	if (rc != 0) {
		fuzz_check_error("nexus with a state file", tag);
		fuzz_feature(nb_last_error(), 1, tag);
		usleep(200);
		FUZZ_CHECK(holds(path, data, size), "a refused state file was written (rc %d: %s)", rc, nb_last_error());
	} else {
		struct nb_nexus_child_info kids[2];
		FUZZ_CHECK(nb_nexus_list_children("fzn", kids, 2) == 2, "two children");
		int in_sync = 0;
		for (int i = 0; i < 2; i++) {
			in_sync += kids[i].state == NB_NEXUS_CHILD_OPEN && kids[i].synced;
			fuzz_feature(kids[i].state == NB_NEXUS_CHILD_OPEN ? "open" : "faulted", 10 * i + kids[i].reason, tag);
		}
		FUZZ_CHECK(in_sync >= 1, "a nexus made with no child in sync");
		int done = 0;
		FUZZ_CHECK(nb_nexus_destroy("fzn", on_destroyed, &done) == 0, "destroy the nexus");
		for (int i = 0; i < 20000 && !done; i++)
			nb_thread_poll(g_thread, 0, 0);
		FUZZ_CHECK(done == 1, "the nexus was not destroyed");
	}
	FUZZ_CHECK(bdev_count() == g_bdevs_baseline, "%d bdevs left, %d before", bdev_count(), g_bdevs_baseline);
	fuzz_check_baseline(tag);
	return 0;
}
