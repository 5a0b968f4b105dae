/* libFuzzer harness for nb_bdev_create's URI parser and every bdev module behind it (and,
 * for inputs that start with "inject:", nb_fault_inject's rule parser).
 *
 * Each input is a URI (NUL-terminated here; at most 8 KiB, so over-long ones are tried too)
 * handed to nb_bdev_create. When it succeeds, the bdev must be findable by the name it
 * reported, have a sane geometry, and be destroyable by that name, the destruction completing
 * while the thread is polled. When it fails, the errno must be negative with a message of its
 * own. After every input nothing may be left behind: no bdev, no DMA memory, no file
 * descriptor, no thread. Any violation abort()s, which libFuzzer reports with the input.
 *
 * Fixtures made once: base bdevs "base" (malloc, 1 MiB) and "nbase" (null) for bdev:// and
 * loopback://, and files /tmp/nb_fuzz/f512.img (1 MiB) and /tmp/nb_fuzz/f4k.img (256 KiB) for
 * uring:// and aio:// (the seed corpus and the dictionary name them).
 *
 * Note: only this C file is instrumented; the library (NativeAOT) is not, so coverage
 * feedback is of the harness only and value profiling (-use_value_profile=1) does the rest. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_common.h"

#define FIXTURE_DIR "/tmp/nb_fuzz"
#define FUZZ_MAX_INPUT 8192

static int g_bdevs_baseline;

static void make_file(const char *path, off_t size)
{
	int fd = open(path, O_CREAT | O_RDWR, 0644);
	FUZZ_CHECK(fd >= 0, "cannot create %s", path);
	FUZZ_CHECK(ftruncate(fd, size) == 0, "ftruncate %s", path);
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init("fuzz_uri");
	FUZZ_CHECK(nb_bdev_create("malloc:///base?size_mb=1", NULL, 0) == 0, "base bdev");
	FUZZ_CHECK(nb_bdev_create("null:///nbase?num_blocks=2048&blk_size=4096", NULL, 0) == 0, "nbase bdev");
	mkdir(FIXTURE_DIR, 0755);
	make_file(FIXTURE_DIR "/f512.img", 1 << 20);
	make_file(FIXTURE_DIR "/f4k.img", 256 << 10);
	g_bdevs_baseline = bdev_count();
	fuzz_take_baseline();
	return 0;
}

/* Inputs that could open a watchdog device (opening one arms it) are skipped, after
 * percent-decoding as the library does. Nothing else is off limits: bdev creation only
 * opens and inspects files, it never writes them. */
static int dangerous(const char *s)
{
	char dec[FUZZ_MAX_INPUT + 1];
	size_t n = 0;
	for (size_t i = 0; s[i] && n < FUZZ_MAX_INPUT; i++) {
		unsigned v;
		if (s[i] == '%' && s[i + 1] && s[i + 2] && sscanf(s + i + 1, "%2x", &v) == 1) {
			dec[n++] = (char)v;
			i += 2;
		} else {
			dec[n++] = (char)(s[i] | ((s[i] >= 'A' && s[i] <= 'Z') ? 0x20 : 0));
		}
	}
	dec[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (dec[i] >= 'A' && dec[i] <= 'Z')
			dec[i] |= 0x20;
	return strstr(dec, "watchdog") != NULL;
}

/* A fault rule: added (it may only name an existing bdev: base or nbase), listed with the
 * URI it was given, removed; or refused with a message. */
static void fuzz_inject(const char *uri)
{
	FUZZ_CHECK(nb_fault_list(NULL, 0) == 0, "fault rules left over; input \"%s\"", uri);
	fuzz_arm();
	int id = nb_fault_inject(uri);
	if (id <= 0) {
		FUZZ_CHECK(id < 0, "nb_fault_inject returned 0; input \"%s\"", uri);
		fuzz_check_error("nb_fault_inject", uri);
		fuzz_feature(nb_last_error(), id, uri);
		return;
	}
	struct nb_fault_rule_info r[2];
	memset(r, 0, sizeof(r));
	FUZZ_CHECK(nb_fault_list(r, 2) == 1, "one rule added, %d listed; input \"%s\"", nb_fault_list(NULL, 0), uri);
	FUZZ_CHECK(r[0].id == id, "listed id %d, added %d; input \"%s\"", r[0].id, id, uri);
	FUZZ_CHECK(strcmp(r[0].bdev, "base") == 0 || strcmp(r[0].bdev, "nbase") == 0,
		   "rule on bdev '%s'; input \"%s\"", r[0].bdev, uri);
	FUZZ_CHECK(strlen(uri) >= sizeof(r[0].uri) || strcmp(r[0].uri, uri) == 0, "listed uri '%s'; input \"%s\"",
		   r[0].uri, uri);
	fuzz_feature("inject ok", 1, "");
	FUZZ_CHECK(nb_fault_remove(id) == 0, "nb_fault_remove(%d); input \"%s\"", id, uri);
	FUZZ_CHECK(nb_fault_remove(id) == -ENOENT, "second nb_fault_remove(%d); input \"%s\"", id, uri);
	FUZZ_CHECK(nb_fault_list(NULL, 0) == 0, "rule left after remove; input \"%s\"", uri);
}

static void on_destroyed(void *ctx, int status)
{
	int *done = ctx;
	*done = status == 0 ? 1 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return -1; /* not added to the corpus */
	char uri[FUZZ_MAX_INPUT + 1];
	memcpy(uri, data, size);
	uri[size] = '\0';
	if (dangerous(uri))
		return -1;

	if (strncmp(uri, "inject:", 7) == 0) {
		fuzz_inject(uri);
		fuzz_check_baseline(uri);
		return 0;
	}

	/* Names are at most 255 UTF-16 units: up to 765 UTF-8 bytes. */
	char name[1024];
	memset(name, 0x7f, sizeof(name));
	fuzz_arm();
	int rc = nb_bdev_create(uri, name, sizeof(name));
	if (rc != 0) {
		FUZZ_CHECK(rc < 0, "nb_bdev_create returned %d; input \"%s\"", rc, uri);
		fuzz_check_error("nb_bdev_create", uri);
		FUZZ_CHECK(name[0] == 0x7f, "a failed nb_bdev_create wrote a name; input \"%s\"", uri);
		fuzz_feature(nb_last_error(), rc, uri);
	} else {
		FUZZ_CHECK(memchr(name, '\0', sizeof(name)) != NULL, "name not NUL-terminated; input \"%s\"", uri);
		struct nb_bdev *b = nb_bdev_get_by_name(name);
		FUZZ_CHECK(b != NULL, "created bdev '%s' not found by its name; input \"%s\"", name, uri);
		FUZZ_CHECK(strcmp(nb_bdev_get_name(b), name) == 0, "name '%s' vs '%s'", nb_bdev_get_name(b), name);
		uint32_t bs = nb_bdev_get_block_size(b);
		uint64_t nblocks = nb_bdev_get_num_blocks(b);
		FUZZ_CHECK(bs >= 512 && bs <= 65536 && (bs & (bs - 1)) == 0, "block size %u; input \"%s\"", bs, uri);
		FUZZ_CHECK(nblocks > 0, "0 blocks; input \"%s\"", uri);
		struct nb_bdev_info info = { .info_size = sizeof(info) };
		FUZZ_CHECK(nb_bdev_get_info(b, &info) == 0, "get_info; input \"%s\"", uri);
		FUZZ_CHECK(info.size_bytes == nblocks * bs && info.size_bytes / bs == nblocks,
			   "size_bytes %llu != %llu x %u; input \"%s\"", (unsigned long long)info.size_bytes,
			   (unsigned long long)nblocks, bs, uri);
		char kind[128];
		snprintf(kind, sizeof(kind), "ok %s bs %u log2 %d align %u wc %d types %x", info.driver, bs,
			 63 - __builtin_clzll(nblocks), info.required_alignment, info.write_cache, info.io_types);
		fuzz_feature(kind, 0, "");
		FUZZ_CHECK(bdev_count() == g_bdevs_baseline + 1, "%d bdevs after one create; input \"%s\"", bdev_count(), uri);
		int done = 0;
		rc = nb_bdev_destroy(name, on_destroyed, &done);
		FUZZ_CHECK(rc == 0, "created bdev '%s' cannot be destroyed by its name (%d); input \"%s\"", name, rc, uri);
		uint64_t end = nb_get_ticks() + 5 * nb_get_ticks_hz();
		while (done == 0 && nb_get_ticks() < end)
			nb_thread_poll(g_thread, 0, 0);
		FUZZ_CHECK(done == 1, "destruction of '%s' did not complete (%d); input \"%s\"", name, done, uri);
	}
	for (int i = 0; i < 2; i++)
		nb_thread_poll(g_thread, 0, 0);
	FUZZ_CHECK(bdev_count() == g_bdevs_baseline, "%d bdevs left, %d expected; input \"%s\"", bdev_count(),
		   g_bdevs_baseline, uri);
	FUZZ_CHECK(nb_bdev_get_by_name("base") != NULL && nb_bdev_get_by_name("nbase") != NULL,
		   "a base bdev went away; input \"%s\"", uri);
	fuzz_check_baseline(uri);
	return 0;
}
