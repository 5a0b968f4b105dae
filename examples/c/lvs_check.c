/* lvs_check: verify an lvol store (SPDK's blobstore format) offline, as fsck does a file
 * system, and print a line per problem found.
 *
 *   lvs_check [-q] FILE|URI
 *
 * FILE is a store image or block device, opened read-only through aio (aio:///FILE?readonly=1);
 * a URI (anything with "://") is created as given, e.g. uring:///dev/nvme0n1?readonly=1.
 * Nothing is written. -q prints the problems only, without the summary line.
 * Exit status: 0 consistent, 1 problems found, 2 the check could not run.
 *
 * The base bdev is created before this program has a current thread, so lvol examine (which
 * would bring the store up and mark it in use on disk) leaves it alone. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "nativebdev.h"

static void on_problem(void *ctx, const char *kind, const char *message)
{
	(void)ctx;
	printf("%s: %s\n", kind, message);
}

static void on_destroyed(void *ctx, int rc)
{
	(void)rc;
	*(int *)ctx = 1;
}

static int run(const char *uri, int quiet)
{
	char name[NB_BDEV_NAME_MAX];
	int rc = nb_bdev_create(uri, name, sizeof(name));
	if (rc != 0) {
		fprintf(stderr, "lvs_check: %s: %s\n", uri, nb_last_error());
		return 2;
	}
	struct nb_thread *t = nb_thread_create("lvs_check", NULL);
	if (!t) {
		fprintf(stderr, "lvs_check: nb_thread_create: %s\n", nb_last_error());
		return 2;
	}
	nb_set_thread(t);
	int problems = nb_lvs_check(name, on_problem, NULL);
	int status;
	if (problems < 0) {
		fprintf(stderr, "lvs_check: %s: %s\n", name, nb_last_error());
		status = 2;
	} else {
		if (!quiet)
			printf("%s: %d problem%s\n", name, problems, problems == 1 ? "" : "s");
		status = problems == 0 ? 0 : 1;
	}
	int gone = 0;
	if (nb_bdev_destroy(name, on_destroyed, &gone) == 0)
		while (!gone)
			nb_thread_poll(t, 0, 0);
	nb_set_thread(NULL);
	nb_thread_exit(t);
	while (nb_thread_is_exited(t) != 1)
		nb_thread_poll(t, 0, 0);
	nb_thread_destroy(t);
	return status;
}

int main(int argc, char **argv)
{
	int quiet = 0, opt;
	while ((opt = getopt(argc, argv, "q")) != -1) {
		if (opt != 'q') {
			fprintf(stderr, "usage: %s [-q] FILE|URI\n", argv[0]);
			return 2;
		}
		quiet = 1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-q] FILE|URI\n", argv[0]);
		return 2;
	}
	const char *target = argv[optind];
	char uri[PATH_MAX + 64];
	if (strstr(target, "://")) {
		snprintf(uri, sizeof(uri), "%s", target);
	} else {
		char path[PATH_MAX];
		if (!realpath(target, path)) {
			perror(target);
			return 2;
		}
		/* buffered: an image on tmpfs or with a size not a multiple of 4 KiB opens too */
		snprintf(uri, sizeof(uri), "aio://%s?readonly=1&direct=0", path);
	}
	int rc = nb_env_init(NULL);
	if (rc != 0) {
		fprintf(stderr, "lvs_check: nb_env_init: %s\n", nb_last_error());
		return 2;
	}
	int status = run(uri, quiet);
	if (nb_env_fini() != 0)
		fprintf(stderr, "lvs_check: nb_env_fini: %s\n", nb_last_error());
	return status;
}
