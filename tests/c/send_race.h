/* The race of senders against nb_thread_exit + nb_thread_destroy, shared by the ownership test
 * (a targeted run) and the stress test (a bounded-time run): every message a send accepted
 * must run. Include after check.h. */
#ifndef NB_TEST_SEND_RACE_H
#define NB_TEST_SEND_RACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define SEND_RACE_SENDERS 3

struct send_race {
	struct nb_thread *target;
	atomic_long accepted;
	atomic_long ran;
	atomic_int go;
};

static void send_race_count(void *ctx)
{
	atomic_fetch_add((atomic_long *)ctx, 1);
}

static void *send_race_sender(void *arg)
{
	struct send_race *r = arg;
	while (!atomic_load(&r->go))
		;
	for (;;) {
		int rc = nb_thread_send_msg(r->target, send_race_count, &r->ran);
		if (rc == 0)
			atomic_fetch_add(&r->accepted, 1);
		else if (rc != -ENOMEM)
			break; /* exited (-EIO) or destroyed (-EBADF) */
	}
	return NULL;
}

/* Rounds until `end` (nb_get_ticks): a fresh thread, SEND_RACE_SENDERS OS threads sending to it,
 * a few polls (a varying number when `vary`), then exit and destroy while they send. Prints the
 * rounds and returns how many accepted messages never ran (must be 0). */
static long send_race_run(uint64_t end, int vary)
{
	long rounds = 0, lost = 0;
	while (nb_get_ticks() < end) {
		struct send_race r = { .target = nb_thread_create("send_race", NULL) };
		CHECK(r.target != NULL);
		pthread_t pt[SEND_RACE_SENDERS];
		for (int i = 0; i < SEND_RACE_SENDERS; i++)
			CHECK_EQ(pthread_create(&pt[i], NULL, send_race_sender, &r), 0);
		atomic_store(&r.go, 1);
		int polls = vary ? 10 + (int)(rounds % 20) : 20;
		for (int i = 0; i < polls; i++)
			nb_thread_poll(r.target, 0, 0);
		CHECK_EQ(nb_thread_exit(r.target), 0);
		POLL_UNTIL(r.target, nb_thread_is_exited(r.target) == 1);
		CHECK_EQ(nb_thread_destroy(r.target), 0);
		for (int i = 0; i < SEND_RACE_SENDERS; i++)
			pthread_join(pt[i], NULL);
		lost += atomic_load(&r.accepted) - atomic_load(&r.ran);
		rounds++;
	}
	printf("send vs exit/destroy: %ld rounds, %ld accepted messages never ran\n", rounds, lost);
	return lost;
}

#endif
