/* libFuzzer harness for the core-mask parser (SPDK syntax: "0x3", "3", "[0,2-3]"), reached
 * through nb_thread_create(name, mask). An accepted mask gives a thread, which is exited,
 * polled until it has exited and destroyed; a refused one must fail with NULL and a message
 * of its own. Nothing may be left behind. nb_reactors_start is deliberately not fuzzed (it
 * would start pinned OS threads). Inputs are NUL-terminated here; at most 8 KiB. */
#include "fuzz_common.h"

#define FUZZ_MAX_INPUT 8192

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init("fuzz_coremask");
	fuzz_take_baseline();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return -1;
	char mask[FUZZ_MAX_INPUT + 1];
	memcpy(mask, data, size);
	mask[size] = '\0';
	fuzz_arm();
	struct nb_thread *t = nb_thread_create("fz", mask);
	if (t == NULL) {
		fuzz_check_error("nb_thread_create", mask);
		fuzz_feature(nb_last_error(), 0, mask);
	} else {
		FUZZ_CHECK(nb_thread_count() == 2, "%d threads; input \"%s\"", nb_thread_count(), mask);
		char name[8];
		FUZZ_CHECK(nb_thread_get_name(t, name, sizeof(name)) == 2 && strcmp(name, "fz") == 0, "name; input \"%s\"",
			   mask);
		FUZZ_CHECK(nb_thread_exit(t) == 0, "nb_thread_exit; input \"%s\"", mask);
		uint64_t end = nb_get_ticks() + 5 * nb_get_ticks_hz();
		while (nb_thread_is_exited(t) != 1 && nb_get_ticks() < end)
			nb_thread_poll(t, 0, 0);
		FUZZ_CHECK(nb_thread_is_exited(t) == 1, "thread did not exit; input \"%s\"", mask);
		FUZZ_CHECK(nb_thread_destroy(t) == 0, "nb_thread_destroy; input \"%s\"", mask);
	}
	fuzz_check_baseline(mask);
	return 0;
}
