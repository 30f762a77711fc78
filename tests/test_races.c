/* SPDX-License-Identifier: MIT */
/*
 * Goal: retention racing everything else. (a) The compactor thread
 * removes sealed segments while writers append across rollovers and
 * readers - of the writer's handle and of a read-only handle - read from
 * the oldest entry on, and followers (logstore_reader_next_wait) of both
 * handles sleep at the end to be woken by the writer. (b) Many readers
 * open (seeking by seq and by time), read a little and close, in several
 * threads, while segments are retired by hand. No reader may see an
 * error, a wrong byte or a step back, nor skip entries that are still in
 * the log (a reader that falls behind retention jumps to the oldest entry
 * left); a removed segment stays readable to a reader inside it. Run
 * under ThreadSanitizer in CI (LOGSTORE_TSAN), so a data race fails too.
 *
 * Method: payloads are a function of (thread, counter) with both written
 * in their first bytes, so any entry is checked on its own; within one
 * pass a reader checks seqs +1 and times increasing, and that each
 * writer's counters increase. The unlink of removed segments is delayed
 * once through the fault layer to widen the window between leaving the
 * list and leaving the directory. Loops end on counts, not time; waits
 * are bounded only against hangs.
 */
#include "helpers.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "sys.h"

#define SEG16 16384u
#define WRITERS 3
#define PER_WRITER 1500
#define READERS 3
#define PAYLOAD_MAX 400
#define SETUP_WRITER WRITERS /* the test thread's first entry */

static size_t payload_len(unsigned t, unsigned c)
{
	return 8 + t_mix(((uint64_t)t << 32) | c) % PAYLOAD_MAX;
}

static size_t payload_make(unsigned t, unsigned c, unsigned char *buf)
{
	size_t len = payload_len(t, c);

	t_fill(buf, len, ((uint64_t)t << 32) ^ c ^ 0x5eed);
	memcpy(buf, &t, 4);
	memcpy(buf + 4, &c, 4);
	return len;
}

/* Whether an entry is a whole payload; sets t and c. */
static bool payload_ok(const struct logstore_entry *e, unsigned *t, unsigned *c)
{
	unsigned char want[8 + PAYLOAD_MAX];

	if (e->len < 8)
		return false;
	memcpy(t, e->data, 4);
	memcpy(c, (const char *)e->data + 4, 4);
	if (*t > WRITERS || *c >= PER_WRITER || payload_len(*t, *c) != e->len)
		return false;
	payload_make(*t, *c, want);
	return memcmp(want, e->data, e->len) == 0;
}

struct shared {
	logstore_log *log;
	logstore_log *ro; /* read-only handle on the same directory */
	struct t_clock *clock;
	int writers_done;	       /* atomic */
	int stop;		       /* atomic */
	unsigned long passes, entries; /* atomic */
	unsigned long gaps; /* passes that fell behind retention; atomic */
};

struct worker {
	struct shared *sh;
	unsigned id;
};

static void *writer_main(void *arg)
{
	struct worker *w = arg;
	unsigned char buf[8 + PAYLOAD_MAX];

	for (unsigned c = 0; c < PER_WRITER; c++) {
		size_t len = payload_make(w->id, c, buf);
		int durability =
		    c % 8 == 0 ? LOGSTORE_DURABLE : LOGSTORE_BUFFERED;
		t_clock_advance(w->sh->clock, 1000);
		int rc = logstore_log_append(w->sh->log, buf, len, durability,
					     NULL, NULL);
		T_CHECK(rc == 0, "writer %u: append %u: %s: %s", w->id, c,
			logstore_strerror(rc), logstore_error_detail());
		if (rc)
			break;
	}
	__atomic_add_fetch(&w->sh->writers_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * A reader that falls behind retention goes on at the oldest entry left
 * (reader.c): its seq jumps. That is only right when the entries it
 * skipped are gone; retention removes from the oldest end, so the oldest
 * segment left must start after them.
 */
static void check_gap(struct shared *sh, logstore_log *log, uint64_t prev,
		      uint64_t seq)
{
	struct logstore_segment_info oldest;
	size_t n = 0;
	int rc = logstore_log_segments(log, &oldest, 1, &n);

	T_CHECK(seq > prev, "seq %llu after %llu", (unsigned long long)seq,
		(unsigned long long)prev);
	T_CHECK(rc == 0 && n > 0 && oldest.first_seq > prev + 1,
		"seq %llu after %llu, but seq %llu is still in the log "
		"(oldest segment starts at %llu)",
		(unsigned long long)seq, (unsigned long long)prev,
		(unsigned long long)prev + 1,
		(unsigned long long)oldest.first_seq);
	__atomic_add_fetch(&sh->gaps, 1, __ATOMIC_SEQ_CST);
}

/* One pass from start to the end; checks as it goes. */
static void read_pass(struct shared *sh, logstore_log *log,
		      const struct logstore_start *start)
{
	logstore_reader *r = NULL;
	struct logstore_entry e;
	uint64_t prev_seq = 0;
	int64_t prev_time = INT64_MIN;
	unsigned last_c[WRITERS + 1];
	bool have_c[WRITERS + 1] = {false};
	unsigned long n = 0;
	int rc = logstore_reader_open(log, start, &r);

	T_CHECK(rc == 0, "reader_open (%s handle): %s: %s",
		log == sh->ro ? "read-only" : "writer", logstore_strerror(rc),
		logstore_error_detail());
	if (rc)
		return;
	while ((rc = logstore_reader_next(r, &e)) == 0) {
		unsigned t = 0, c = 0;
		bool ok = payload_ok(&e, &t, &c);
		T_CHECK(ok, "seq %llu: not a payload",
			(unsigned long long)e.seq);
		if (!ok)
			break;
		if (prev_seq != 0 && e.seq != prev_seq + 1)
			check_gap(sh, log, prev_seq, e.seq);
		T_CHECK(e.time_ns > prev_time, "time back at seq %llu",
			(unsigned long long)e.seq);
		if (start && start->kind == LOGSTORE_START_SEQ)
			T_CHECK(e.seq >= start->seq,
				"seek to seq %llu returned %llu",
				(unsigned long long)start->seq,
				(unsigned long long)e.seq);
		if (start && start->kind == LOGSTORE_START_TIME)
			T_CHECK(e.time_ns >= start->time_ns,
				"seek to time returned an older entry");
		{
			T_CHECK(!have_c[t] || c > last_c[t],
				"writer %u: counter %u after %u", t, c,
				last_c[t]);
			last_c[t] = c;
			have_c[t] = true;
		}
		prev_seq = e.seq;
		prev_time = e.time_ns;
		n++;
		/* Short passes for the open/close test. */
		if (start && n == 50)
			break;
	}
	T_CHECK(rc == 0 || rc == LOGSTORE_END, "reader: %s: %s",
		logstore_strerror(rc), logstore_error_detail());
	logstore_reader_close(r);
	__atomic_add_fetch(&sh->passes, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&sh->entries, n, __ATOMIC_SEQ_CST);
}

static bool writers_running(struct shared *sh)
{
	return __atomic_load_n(&sh->writers_done, __ATOMIC_SEQ_CST) < WRITERS;
}

static void *reader_main(void *arg)
{
	struct worker *w = arg;
	logstore_log *log = w->id % 2 ? w->sh->ro : w->sh->log;

	/* At least one pass after the writers are done. */
	bool last = false;
	while (!last) {
		last = !writers_running(w->sh);
		read_pass(w->sh, log, NULL);
	}
	return NULL;
}

static void append_setup(logstore_log *log)
{
	unsigned char buf[8 + PAYLOAD_MAX];
	size_t len = payload_make(SETUP_WRITER, 0, buf);

	t_assert_ok(
	    logstore_log_append(log, buf, len, LOGSTORE_DURABLE, NULL, NULL));
}

/*
 * A follower: one reader from the oldest entry that sleeps in
 * logstore_reader_next_wait at the end, until it has read the last entry
 * the writers will append. Wake-ups and retention race with it.
 */
static void *follower_main(void *arg)
{
	struct worker *w = arg;
	logstore_log *log = w->id % 2 ? w->sh->ro : w->sh->log;
	uint64_t last = WRITERS * PER_WRITER + 1, prev = 0;
	logstore_reader *r = NULL;
	struct logstore_entry e;
	int rc = logstore_reader_open(log, NULL, &r);

	T_CHECK(rc == 0, "follower open: %s", logstore_strerror(rc));
	while (rc == 0 && prev < last) {
		/* 10 ms: an END after the writers finished is a failure. */
		bool done = !writers_running(w->sh);
		rc = logstore_reader_next_wait(r, &e, 10 * 1000 * 1000);
		if (rc == LOGSTORE_END && !done) {
			rc = 0;
			continue;
		}
		T_CHECK(rc == 0, "follower at seq %llu: %s: %s",
			(unsigned long long)prev, logstore_strerror(rc),
			logstore_error_detail());
		if (rc)
			break;
		unsigned t = 0, c = 0;
		T_CHECK(payload_ok(&e, &t, &c), "follower: seq %llu",
			(unsigned long long)e.seq);
		if (prev && e.seq != prev + 1)
			check_gap(w->sh, log, prev, e.seq);
		prev = e.seq;
	}
	logstore_reader_close(r);
	return NULL;
}

static logstore_log *open_ro(struct t_ctx *ctx)
{
	struct logstore_options opts;

	t_options(&opts, &ctx->clock, SEG16);
	opts.read_only = true;
	return t_open(ctx->dir, &opts);
}

static void test_compactor_readers_rollover(void **state)
{
	struct t_ctx *ctx = *state;
	struct shared sh = {.clock = &ctx->clock};
	struct worker ww[WRITERS], rw[READERS], fw[2];
	pthread_t wt[WRITERS], rt[READERS], ft[2];
	struct logstore_stats st;

	sh.log = t_open_small(ctx, SEG16);
	append_setup(sh.log); /* so the read-only open finds a log */
	sh.ro = open_ro(ctx);
	/* Retention 0: every sealed segment but the newest goes. */
	t_assert_ok(logstore_compactor_start(sh.log, 200 * 1000, 0));
	ls_fault_set_delay(LS_SYS_UNLINK, 3, 5 * 1000 * 1000);
	for (unsigned i = 0; i < READERS; i++) {
		rw[i] = (struct worker){.sh = &sh, .id = i};
		assert_int_equal(
		    pthread_create(&rt[i], NULL, reader_main, &rw[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++) {
		ww[i] = (struct worker){.sh = &sh, .id = i};
		assert_int_equal(
		    pthread_create(&wt[i], NULL, writer_main, &ww[i]), 0);
	}
	for (unsigned i = 0; i < 2; i++) {
		fw[i] = (struct worker){.sh = &sh, .id = i};
		assert_int_equal(
		    pthread_create(&ft[i], NULL, follower_main, &fw[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	for (unsigned i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(ft[i], NULL);
	t_assert_ok(logstore_compactor_stop(sh.log));
	logstore_log_stats(sh.log, &st);
	fprintf(stderr,
		"races: %lu reader passes, %lu entries read, %lu jumps over "
		"removed segments, %llu segments created, %llu removed\n",
		sh.passes, sh.entries, sh.gaps,
		(unsigned long long)st.segments_created,
		(unsigned long long)st.segments_removed);
	assert_int_equal(t_failures(), 0);
	/* The race happened: segments came and went under the readers. */
	assert_true(st.segments_created > 20);
	assert_true(st.segments_removed > 0);
	assert_int_equal(st.entries_appended, WRITERS * PER_WRITER + 1);
	logstore_log_close(sh.ro);
	t_close(sh.log);
}

struct seeker {
	struct shared *sh;
	unsigned id;
};

static void *seeker_main(void *arg)
{
	struct seeker *s = arg;
	uint64_t rng = 77 + s->id;
	logstore_log *log = s->id % 2 ? s->sh->ro : s->sh->log;

	while (!__atomic_load_n(&s->sh->stop, __ATOMIC_SEQ_CST)) {
		struct logstore_start start;
		rng = t_mix(rng);
		if (rng % 3 == 0)
			start = t_start_seq(1 + (rng >> 8) % (WRITERS * 500));
		else if (rng % 3 == 1)
			start = t_start_time(T_TIME0 +
					     (int64_t)((rng >> 8) % 2000000));
		else
			start = (struct logstore_start){
			    .kind = LOGSTORE_START_OLDEST};
		read_pass(s->sh, log, &start);
	}
	return NULL;
}

static void test_readers_open_close_while_retiring(void **state)
{
	struct t_ctx *ctx = *state;
	struct shared sh = {.clock = &ctx->clock};
	struct worker ww[WRITERS];
	struct seeker sk[4];
	pthread_t wt[WRITERS], st[4];
	size_t removed_total = 0;

	sh.log = t_open_small(ctx, SEG16);
	append_setup(sh.log);
	sh.ro = open_ro(ctx);
	for (unsigned i = 0; i < 4; i++) {
		sk[i] = (struct seeker){.sh = &sh, .id = i};
		assert_int_equal(
		    pthread_create(&st[i], NULL, seeker_main, &sk[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++) {
		ww[i] = (struct worker){.sh = &sh, .id = i};
		assert_int_equal(
		    pthread_create(&wt[i], NULL, writer_main, &ww[i]), 0);
	}
	/* Retire segments by hand while they run: keep about the last 4. */
	while (writers_running(&sh)) {
		static struct logstore_segment_info segs[512];
		size_t n = 0, removed = 0;
		/* Not t_segments: the count moves between its two calls. */
		t_assert_ok(logstore_log_segments(sh.log, segs, 512, &n));
		assert_true(n <= 512);
		if (n > 4)
			t_assert_ok(logstore_log_remove_older_than(
			    sh.log, segs[n - 4].first_time_ns, &removed));
		removed_total += removed;
		sched_yield();
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(st[i], NULL);
	fprintf(stderr,
		"races: %lu short reader passes, %lu entries, %zu segments "
		"retired\n",
		sh.passes, sh.entries, removed_total);
	assert_int_equal(t_failures(), 0);
	assert_true(removed_total > 0);
	assert_true(sh.passes > 0);
	logstore_log_close(sh.ro);
	t_close(sh.log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_compactor_readers_rollover,
					    t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_readers_open_close_while_retiring, t_setup, t_teardown),
	};

	if (t_uring_available() != 0)
		return T_SKIP;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
