/* libFuzzer harness for SPDK JSON config files: each input is written to a file and loaded
 * with nb_config_load on this OS thread's host-driven thread, which is polled until the load
 * calls back (within 8 s, else a hang). A refusal must be -EINVAL (or the file's errno) with a
 * message of its own; a load that ran must report 0 or a negative errno with a message naming
 * the entry, having destroyed what it made — checked by taking down whatever is left and
 * finding nothing to take down after a failure. Then nothing may be left behind.
 *
 * Inputs that name spdk_kill_instance are skipped: it signals this process, as it must. */
#define _GNU_SOURCE
#include <unistd.h>
#include "fuzz_methods.h"

#define FUZZ_MAX_INPUT 8192

static char g_path[64];
static int g_status, g_done;

static void on_loaded(void *ctx, int status)
{
	(void)ctx;
	g_status = status;
	g_done = 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init("fuzz_config");
	/* Bases for the entries that build on one. */
	FUZZ_CHECK(nb_bdev_create("malloc:///Malloc0?size_mb=1", NULL, 0) == 0, "Malloc0");
	FUZZ_CHECK(nb_bdev_create("null:///Null0?size_mb=1", NULL, 0) == 0, "Null0");
	snprintf(g_path, sizeof(g_path), "/tmp/nb_fuzz_config.%d.json", (int)getpid());
	remember_bdevs(g_baseline_bdevs, sizeof(g_baseline_bdevs));
	fuzz_take_baseline();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT || memmem(data, size, "kill_instance", 13) != NULL)
		return -1;
	char what[64];
	size_t head = size < 24 ? size : 24;
	for (size_t i = 0; i < head; i++)
		snprintf(what + 2 * i, 3, "%02x", data[i]);
	what[2 * head] = '\0';
	FILE *f = fopen(g_path, "wb");
	FUZZ_CHECK(f != NULL, "cannot write %s", g_path);
	FUZZ_CHECK(fwrite(data, 1, size, f) == size, "short write");
	fclose(f);
	fuzz_arm();
	g_done = 0;
	int rc = nb_config_load(g_path, on_loaded, NULL);
	if (rc != 0) {
		FUZZ_CHECK(rc < 0, "nb_config_load returned %d; input %s", rc, what);
		fuzz_check_error("nb_config_load", what);
		fuzz_feature(nb_last_error(), 0, what);
	} else {
		uint64_t deadline = nb_get_ticks() + 8 * nb_get_ticks_hz();
		while (!g_done) {
			FUZZ_CHECK(nb_get_ticks() < deadline, "the load never called back; input %s", what);
			nb_thread_poll(g_thread, 0, 0);
		}
		FUZZ_CHECK(g_status <= 0, "status %d; input %s", g_status, what);
		if (g_status < 0) {
			const char *m = nb_last_error();
			FUZZ_CHECK(strstr(m, "config: subsystem '") != NULL, "a failed load that names no entry: \"%s\"; "
				   "input %s", m, what);
			fuzz_feature(m, 1, what);
			/* A failed load took down what it made: only the fixture's bdevs are there
			 * (fault rules and an NBD server are not undone by the loader). */
			for (int i = 0; i < 200; i++)
				nb_thread_poll(g_thread, 0, 0);
			check_bdevs_as_before(what);
		} else {
			fuzz_feature("loaded", 2, what);
		}
	}
	undo_methods();
	check_bdevs_as_before(what);
	fuzz_check_baseline(what);
	return 0;
}
