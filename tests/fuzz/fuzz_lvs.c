/* libFuzzer harness for lvol store import: each input is the start of a device (the super block,
 * the masks and the metadata pages of SPDK's blobstore format), written at offset 0 of a 128 MiB
 * malloc bdev with 512-byte blocks over 64 KiB of zeros. Per input: the offline checker
 * (nb_lvs_check: a count of problems, or an error with a message of its own), then an import
 * (lvs:///fzlvs?mode=import on that bdev: a store, or an error with its message; a store whose
 * name is not fzlvs is brought up and then unloaded by the import itself), and everything the
 * import brought up is waited for until it is gone. Then nothing may be left: no bdev but the
 * base, no claim on it, no DMA memory, no descriptor, no thread. Never a crash, never a hang.
 *
 * Seeds: run.sh writes the first pages of each store in fixtures/lvs (SPDK-made) into
 * BUILD/fuzz/seeds_lvs. Feedback: each class of checker finding and each import error message
 * kind is hashed into libFuzzer's extra counters (see fuzz_common.h). */
#define _GNU_SOURCE
#include "fuzz_common.h"

#define FUZZ_MAX_INPUT 65536
#define BASE "fz_lvs_base"

static struct nb_bdev_desc *g_desc;
static struct nb_io_channel *g_ch;
static void *g_buf;
static int g_bdevs_baseline;

static void on_event(int type, struct nb_bdev *bdev, void *ctx)
{
	(void)type;
	(void)bdev;
	(void)ctx;
}

static void on_io(struct nb_bdev_io *io, int status, void *arg)
{
	(void)io;
	*(int *)arg = status == 0 ? 1 : -1;
}

static void on_problem(void *ctx, const char *kind, const char *message)
{
	FUZZ_CHECK(kind[0] != '\0' && message[0] != '\0', "a finding without a class or a sentence");
	fuzz_feature(kind, 1, (const char *)ctx);
}

static void on_unloaded(void *ctx, int status)
{
	(void)status;
	*(int *)ctx = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init("fuzz_lvs");
	FUZZ_CHECK(nb_bdev_create("malloc:///" BASE "?size_mb=128&blk_size=512", NULL, 0) == 0, "base bdev");
	FUZZ_CHECK(nb_bdev_open_ext(BASE, 1, on_event, NULL, &g_desc) == 0, "open the base");
	FUZZ_CHECK((g_ch = nb_bdev_get_io_channel(g_desc)) != NULL, "channel");
	FUZZ_CHECK((g_buf = nb_dma_zmalloc(FUZZ_MAX_INPUT, 4096, NULL)) != NULL, "buffer");
	g_bdevs_baseline = bdev_count();
	fuzz_take_baseline();
	return 0;
}

/* Polls until only the base is left (an import that fails after registering volumes, or one
 * that found another store's name, unloads in the background); bounded, then a hang. */
static void wait_for_quiet(const char *what)
{
	for (int i = 0; i < 20000 && bdev_count() != g_bdevs_baseline; i++)
		nb_thread_poll(g_thread, 0, 0);
	FUZZ_CHECK(bdev_count() == g_bdevs_baseline, "%s: %d bdevs left, %d before", what, bdev_count(),
		   g_bdevs_baseline);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return -1;
	memset(g_buf, 0, FUZZ_MAX_INPUT);
	memcpy(g_buf, data, size);
	int done = 0;
	FUZZ_CHECK(nb_bdev_write(g_desc, g_ch, g_buf, 0, FUZZ_MAX_INPUT, on_io, &done) == 0, "write the image");
	while (!done)
		nb_thread_poll(g_thread, 0, 0);
	FUZZ_CHECK(done == 1, "writing the image failed");

	const char *tag = "lvs image";
	fuzz_arm();
	int problems = nb_lvs_check(BASE, on_problem, (void *)tag);
	if (problems < 0)
		fuzz_check_error("nb_lvs_check", tag);
	fuzz_feature(problems == 0 ? "consistent" : problems < 0 ? "check refused" : "problems", 2, tag);

	char name[NB_BDEV_NAME_MAX];
	fuzz_arm();
	int rc = nb_bdev_create("lvs:///fzlvs?mode=import&disk=bdev%3A%2F%2F%2F" BASE, name, sizeof(name));
	if (rc != 0) {
		fuzz_check_error("import", tag);
		fuzz_feature(nb_last_error(), 3, tag);
	} else {
		fuzz_feature("imported", 3, tag);
		int unloaded = 0;
		FUZZ_CHECK(nb_lvs_unload("fzlvs", 0, on_unloaded, &unloaded) == 0, "unload the imported store");
		for (int i = 0; i < 20000 && !unloaded; i++)
			nb_thread_poll(g_thread, 0, 0);
		FUZZ_CHECK(unloaded, "the store did not unload");
	}
	wait_for_quiet("import");
	fuzz_check_baseline(tag);
	return 0;
}
