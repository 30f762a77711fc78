/* SPDX-License-Identifier: MIT */
/*
 * Goal: concurrent appenders and tailing readers on one log. Eight
 * threads append 2000 durable entries each while two readers follow the
 * log from the start; small segments (256 KiB) force rollovers under
 * load. Every entry must come back exactly once with the right bytes,
 * sequence numbers +1, times strictly increasing, and each thread's
 * entries in the order that thread appended them.
 *
 * Method: the payload of (thread t, counter c) is a deterministic function
 * of (t, c) with a length from 1 to 300 bytes; its first byte is t. A
 * reader takes t from the first byte and, since one thread's appends are
 * sequential, expects exactly that thread's next counter: it rebuilds the
 * payload and compares it whole. Readers that reach the end wait (sched
 * yield / 100 us) and stop only when they have seen every entry, or when
 * the writers had all finished before a read that still returned END
 * (then entries are missing: a failure, not a hang). Checks made in
 * threads are counted and asserted by the test thread.
 */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WRITERS 8
#define PER_WRITER 2000
#define READERS 2
#define TOTAL (WRITERS * PER_WRITER)
#define PAYLOAD_MAX 300

static size_t payload_len(unsigned t, unsigned c)
{
	return 1 + t_mix(((uint64_t)t << 32) | c) % PAYLOAD_MAX;
}

/* byte 0: t; bytes 1-4: c (as far as the length goes); then filler. */
static size_t payload_make(unsigned t, unsigned c, unsigned char *buf)
{
	size_t len = payload_len(t, c);
	unsigned char head[5] = {
	    (unsigned char)t, (unsigned char)c, (unsigned char)(c >> 8),
	    (unsigned char)(c >> 16), (unsigned char)(c >> 24)};

	t_fill(buf, len, ((uint64_t)t << 32) ^ c ^ 0xabcdef);
	memcpy(buf, head, len < 5 ? len : 5);
	return len;
}

struct shared {
	logstore_log *log;
	unsigned writers_done; /* atomic */
};

struct writer_arg {
	struct shared *sh;
	unsigned t;
};

static void *writer_main(void *p)
{
	struct writer_arg *arg = p;
	unsigned char buf[PAYLOAD_MAX];
	uint64_t prev_seq = 0;

	for (unsigned c = 0; c < PER_WRITER; c++) {
		size_t len = payload_make(arg->t, c, buf);
		uint64_t seq = 0;
		int64_t time_ns = 0;
		int rc = logstore_log_append(arg->sh->log, buf, len,
					     LOGSTORE_DURABLE, &seq, &time_ns);

		T_CHECK(rc == 0, "writer %u append %u: %d (%s) %s", arg->t, c,
			rc, logstore_strerror(rc), logstore_error_detail());
		if (rc)
			break;
		T_CHECK(seq > prev_seq, "writer %u: seq %llu after %llu",
			arg->t, (unsigned long long)seq,
			(unsigned long long)prev_seq);
		/* Durable on return, whichever caller led its batch. */
		uint64_t durable = logstore_log_durable_seq(arg->sh->log);
		T_CHECK(durable >= seq, "writer %u: seq %llu returned, durable %llu",
			arg->t, (unsigned long long)seq,
			(unsigned long long)durable);
		prev_seq = seq;
	}
	__atomic_add_fetch(&arg->sh->writers_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

struct reader_arg {
	struct shared *sh;
	unsigned id;
	uint64_t seen;
};

static void pause_briefly(unsigned spins)
{
	if (spins % 16 != 15) {
		sched_yield();
	} else {
		struct timespec ts = {0, 100000};

		nanosleep(&ts, NULL);
	}
}

static void *reader_main(void *p)
{
	struct reader_arg *arg = p;
	logstore_reader *reader = NULL;
	unsigned next[WRITERS] = {0};
	unsigned char want[PAYLOAD_MAX];
	uint64_t last_seq = 0;
	int64_t last_time = 0;
	unsigned spins = 0;
	int rc = logstore_reader_open(arg->sh->log, NULL, &reader);

	T_CHECK(rc == 0, "reader %u open: %d", arg->id, rc);
	if (rc)
		return NULL;
	while (arg->seen < TOTAL) {
		struct logstore_entry e;
		unsigned done =
		    __atomic_load_n(&arg->sh->writers_done, __ATOMIC_SEQ_CST);

		rc = logstore_reader_next(reader, &e);
		if (rc == LOGSTORE_END) {
			/* Writers all done before this read: nothing more. */
			if (done == WRITERS) {
				T_CHECK(0, "reader %u: END after %llu entries",
					arg->id, (unsigned long long)arg->seen);
				break;
			}
			pause_briefly(spins++);
			continue;
		}
		T_CHECK(rc == 0, "reader %u next: %d (%s) %s", arg->id, rc,
			logstore_strerror(rc), logstore_error_detail());
		if (rc)
			break;
		T_CHECK(e.seq == last_seq + 1, "reader %u: seq %llu after %llu",
			arg->id, (unsigned long long)e.seq,
			(unsigned long long)last_seq);
		T_CHECK(e.time_ns > last_time,
			"reader %u: time %lld after %lld", arg->id,
			(long long)e.time_ns, (long long)last_time);
		last_seq = e.seq;
		last_time = e.time_ns;
		arg->seen++;
		if (e.len < 1 || e.len > PAYLOAD_MAX) {
			T_CHECK(0, "reader %u: seq %llu has length %zu",
				arg->id, (unsigned long long)e.seq, e.len);
			break;
		}
		unsigned t = ((const unsigned char *)e.data)[0];

		if (t >= WRITERS || next[t] >= PER_WRITER) {
			T_CHECK(0, "reader %u: seq %llu names writer %u",
				arg->id, (unsigned long long)e.seq, t);
			break;
		}
		size_t len = payload_make(t, next[t], want);

		T_CHECK(e.len == len && memcmp(e.data, want, len) == 0,
			"reader %u: seq %llu is not writer %u's entry %u",
			arg->id, (unsigned long long)e.seq, t, next[t]);
		next[t]++;
	}
	for (unsigned t = 0; t < WRITERS && arg->seen == TOTAL; t++)
		T_CHECK(next[t] == PER_WRITER, "reader %u: writer %u: %u",
			arg->id, t, next[t]);
	logstore_reader_close(reader);
	return NULL;
}

static void test_writers_and_tailing_readers(void **state)
{
	struct t_ctx *ctx = *state;
	struct logstore_options opts;
	struct shared sh = {0};
	struct writer_arg wa[WRITERS];
	struct reader_arg ra[READERS];
	pthread_t wt[WRITERS], rt[READERS];
	struct logstore_segment_info *segs;
	struct t_entries all = {0};
	size_t n;

	/*
	 * The fake clock stands still: every automatic time is the last one
	 * + 1 ns, so entry seq s gets T_TIME0 + s - 1 exactly.
	 */
	t_options(&opts, &ctx->clock, 256 * 1024);
	sh.log = t_open(ctx->dir, &opts);
	for (unsigned i = 0; i < READERS; i++) {
		ra[i] = (struct reader_arg){.sh = &sh, .id = i};
		assert_int_equal(
		    pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++) {
		wa[i] = (struct writer_arg){.sh = &sh, .t = i};
		assert_int_equal(
		    pthread_create(&wt[i], NULL, writer_main, &wa[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	assert_int_equal(t_failures(), 0);
	for (unsigned i = 0; i < READERS; i++)
		assert_int_equal(ra[i].seen, TOTAL);

	segs = t_segments(sh.log, &n);
	assert_true(n >= 3);
	assert_int_equal(segs[0].first_seq, 1);
	assert_int_equal(segs[n - 1].last_seq, TOTAL);
	free(segs);

	/* A fresh reader sees exactly TOTAL entries. */
	assert_int_equal(t_read_all(sh.log, NULL, &all), LOGSTORE_END);
	assert_int_equal(all.n, TOTAL);
	for (size_t i = 0; i < all.n; i++) {
		assert_int_equal(all.v[i].seq, i + 1);
		assert_int_equal(all.v[i].time_ns, T_TIME0 + (int64_t)i);
	}
	t_entries_free(&all);
	t_close(sh.log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_writers_and_tailing_readers,
					    t_setup, t_teardown),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("concurrency", tests, NULL, NULL);
}
