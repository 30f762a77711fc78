/* SPDX-License-Identifier: MIT */
/*
 * Goal: after a power loss only what was fsynced survives, and that is
 * enough: no entry acknowledged durable is lost, recovery keeps every
 * valid record before the tear, no batch is visible in part, and the
 * log takes appends again.
 *
 * Method: the fault layer records every write not yet covered by a
 * completed fsync of its file (with the bytes it overwrote) and every
 * create and rename not yet covered by an fsync of the directory
 * (ls_fault_record_start). Each iteration runs a random workload (durable,
 * buffered, deferred and asynchronous appends, atomic batches, syncs, rollovers in 16 KiB
 * segments, sometimes a clean close or a process crash in the middle),
 * abandons the handle without closing it (t_crash_close), and applies a
 * power loss (ls_fault_power_loss) in one of four modes: drop every
 * unsynced write; keep a prefix of them with the last one torn at a
 * random byte; the same torn at a sector; keep or lose each unsynced
 * 512-byte sector independently. Unsynced directory operations are
 * undone from the newest back to a random point. Then the log is
 * reopened and read back: it must hold exactly the first k entries
 * appended, byte for byte, with k at least the number acknowledged
 * durable and k at a batch boundary. A quarter of the iterations loses
 * power a second time, during and after that recovery.
 *
 * Every iteration prints its seed; LOGSTORE_POWERLOSS_SEED=<seed> replays
 * one iteration, LOGSTORE_POWERLOSS_ITERATIONS=<n> sets the count (CI
 * runs the default).
 */
#include "helpers.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SEG16 16384u
#define ITERATIONS_DEFAULT 200
#define OPS_MAX 120
#define PAYLOAD_MAX 700
#define BATCH_MAX 5

struct model {
	struct t_entries entries;   /* every append that returned 0, in order */
	unsigned char *batch_first; /* per entry: starts an atomic batch */
	size_t batch_cap;
	size_t durable; /* entries acknowledged durable (a prefix) */
};

static uint64_t rnd(uint64_t *s)
{
	*s = t_mix(*s);
	return *s;
}

static void model_push(struct model *m, uint64_t seq, int64_t time,
		       const void *data, size_t len, bool first)
{
	t_entries_push(&m->entries, seq, time, data, len);
	if (m->entries.n > m->batch_cap) {
		m->batch_cap = m->entries.n * 2;
		m->batch_first = realloc(m->batch_first, m->batch_cap);
		assert_non_null(m->batch_first);
	}
	m->batch_first[m->entries.n - 1] = first;
}

static void model_free(struct model *m)
{
	t_entries_free(&m->entries);
	free(m->batch_first);
	memset(m, 0, sizeof(*m));
}

static logstore_log *open_log(const char *dir, struct t_clock *clock)
{
	struct logstore_options opts;

	t_options(&opts, clock, SEG16);
	return t_open(dir, &opts);
}

/* One random append, batch or sync; updates the model. */
static void random_op(logstore_log *log, struct t_clock *clock, struct model *m,
		      uint64_t *rng)
{
	static unsigned char buf[BATCH_MAX][PAYLOAD_MAX];
	struct logstore_batch_entry b[BATCH_MAX];
	uint64_t r = rnd(rng);
	/*
	 * Durable and buffered appends, and the kinds that return at once:
	 * deferred (maybe still in the writer's buffer at the loss) and
	 * asynchronous (durable only once waited for).
	 */
	static const int kinds[] = {LOGSTORE_DURABLE,  LOGSTORE_DURABLE,
				    LOGSTORE_BUFFERED, LOGSTORE_BUFFERED,
				    LOGSTORE_DEFERRED, LOGSTORE_ASYNC};
	int durability = kinds[r % 6];
	size_t n = (r >> 8) % 4 == 0 ? 2 + (r >> 16) % (BATCH_MAX - 1) : 1;

	t_clock_advance(clock, 1 + (int64_t)((r >> 24) % 1000));
	if ((r >> 40) % 10 == 0) {
		t_assert_ok(logstore_log_sync(log));
		m->durable = m->entries.n;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = rnd(rng) % PAYLOAD_MAX;

		t_fill(buf[i], len, *rng);
		b[i] =
		    (struct logstore_batch_entry){.data = buf[i], .len = len};
	}
	t_assert_ok(logstore_log_append_batch(log, b, n, durability));
	for (size_t i = 0; i < n; i++)
		model_push(m, b[i].seq, b[i].time_ns, b[i].data, b[i].len,
			   i == 0);
	if (durability == LOGSTORE_ASYNC && (r >> 48) % 2 == 0) {
		t_assert_ok(logstore_log_wait_durable(log, b[n - 1].seq, -1));
		durability = LOGSTORE_DURABLE;
	}
	if (durability == LOGSTORE_DURABLE)
		m->durable = m->entries.n;
}

/*
 * The log holds exactly the model's first k entries, k >= durable, at a
 * batch boundary. Returns k.
 */
static size_t check_survivors(logstore_log *log, const struct model *m,
			      uint64_t seed)
{
	struct t_entries got = {0};
	int rc = t_read_all(log, NULL, &got);

	if (rc != LOGSTORE_END || got.n < m->durable || got.n > m->entries.n ||
	    (got.n < m->entries.n && !m->batch_first[got.n]))
		print_error("seed %llu: read %zu entries (stop %d %s: %s); "
			    "appended %zu, durable %zu\n",
			    (unsigned long long)seed, got.n, rc,
			    logstore_strerror(rc), logstore_error_detail(),
			    m->entries.n, m->durable);
	assert_int_equal(rc, LOGSTORE_END);
	assert_true(got.n >= m->durable);
	assert_true(got.n <= m->entries.n);
	assert_true(got.n == m->entries.n || m->batch_first[got.n]);
	for (size_t i = 0; i < got.n; i++) {
		const struct t_entry *want = &m->entries.v[i];

		assert_int_equal(got.v[i].seq, want->seq);
		assert_int_equal(got.v[i].time_ns, want->time_ns);
		assert_int_equal(got.v[i].len, want->len);
		assert_memory_equal(got.v[i].data, want->data, want->len);
	}
	size_t k = got.n;
	t_entries_free(&got);
	return k;
}

/* Cut the model to the k entries that survived. */
static void model_truncate(struct model *m, size_t k)
{
	for (size_t i = k; i < m->entries.n; i++)
		free(m->entries.v[i].data);
	m->entries.n = k;
	m->durable = k;
}

struct totals {
	unsigned long iterations;
	unsigned long lost_entries; /* appended, gone after the power loss */
	unsigned long torn_or_lost_writes;
	unsigned long dir_ops_undone;
};

static void lose_power(logstore_log *log, enum ls_power_loss mode,
		       uint64_t seed, struct totals *tot)
{
	struct ls_power_loss_report rep;

	t_crash_close(log);
	t_assert_ok(ls_fault_power_loss(mode, seed, &rep));
	assert_false(rep.overflow);
	if (getenv("LOGSTORE_POWERLOSS_DEBUG"))
		fprintf(stderr,
			"  power loss: %llu unsynced writes (%llu bytes, %llu "
			"lost), %llu/%llu dir ops undone\n",
			(unsigned long long)rep.writes_unsynced,
			(unsigned long long)rep.bytes_unsynced,
			(unsigned long long)rep.bytes_lost,
			(unsigned long long)rep.dir_ops_undone,
			(unsigned long long)rep.dir_ops_unsynced);
	tot->torn_or_lost_writes += rep.bytes_lost > 0;
	tot->dir_ops_undone += rep.dir_ops_undone;
}

static void iteration(const char *dir, uint64_t seed, struct totals *tot)
{
	struct t_clock clock = {T_TIME0};
	struct model m = {0};
	uint64_t rng = seed;
	enum ls_power_loss mode =
	    (enum ls_power_loss)(rnd(&rng) % LS_POWER_LOSS_MODE_COUNT);
	size_t ops = 1 + rnd(&rng) % OPS_MAX;
	size_t pause = rnd(&rng) % (ops + 1); /* clean close or crash here */
	int pause_kind = (int)(rnd(&rng) % 3);

	fprintf(stderr, "powerloss seed %llu mode %d ops %zu pause %zu/%d\n",
		(unsigned long long)seed, (int)mode, ops, pause, pause_kind);
	t_assert_ok(ls_fault_record_start());
	logstore_log *log = open_log(dir, &clock);
	for (size_t i = 0; i < ops; i++) {
		if (i == pause && pause_kind == 1) {
			t_close(log);
			log = open_log(dir, &clock);
		} else if (i == pause && pause_kind == 2) {
			/*
			 * A process crash: the page cache keeps all that was
			 * written; deferred entries still in the writer's
			 * buffer are lost, at a batch boundary.
			 */
			t_crash_close(log);
			log = open_log(dir, &clock);
			model_truncate(&m, check_survivors(log, &m, seed));
		}
		random_op(log, &clock, &m, &rng);
	}
	lose_power(log, mode, rnd(&rng), tot);

	size_t before = m.entries.n;
	if (rnd(&rng) % 4 == 0) {
		/* Lose power again while and after recovering. */
		t_assert_ok(ls_fault_record_start());
		log = open_log(dir, &clock);
		size_t k = check_survivors(log, &m, seed);
		tot->lost_entries += before - k;
		model_truncate(&m, k);
		for (size_t i = rnd(&rng) % 8; i > 0; i--)
			random_op(log, &clock, &m, &rng);
		before = m.entries.n;
		lose_power(log, mode, rnd(&rng), tot);
	}
	log = open_log(dir, &clock);
	size_t k = check_survivors(log, &m, seed);
	tot->lost_entries += before - k;
	model_truncate(&m, k);

	/* Appending works again, and a clean reopen keeps it. */
	t_clock_advance(&clock, T_SECOND);
	uint64_t seq = 0;
	int64_t time = 0;
	t_assert_ok(logstore_log_append(log, "after", 5, LOGSTORE_DURABLE, &seq,
					&time));
	assert_int_equal(seq, k ? m.entries.v[k - 1].seq + 1 : 1);
	model_push(&m, seq, time, "after", 5, true);
	m.durable = m.entries.n;
	t_close(log);
	log = open_log(dir, &clock);
	assert_int_equal(check_survivors(log, &m, seed), m.entries.n);
	t_close(log);
	model_free(&m);
	tot->iterations++;
}

static void test_power_loss(void **state)
{
	struct t_ctx *ctx = *state;
	unsigned long n =
	    t_env_count("LOGSTORE_POWERLOSS_ITERATIONS", ITERATIONS_DEFAULT);
	const char *replay = getenv("LOGSTORE_POWERLOSS_SEED");
	uint64_t base = t_seed("test_power_loss");
	struct totals tot = {0};

	if (replay && *replay)
		n = 1;
	for (unsigned long i = 0; i < n; i++) {
		uint64_t seed = replay && *replay ? strtoull(replay, NULL, 0)
						  : t_mix(base + i);
		char *dir = t_path(ctx->dir, "log");

		assert_non_null(dir);
		iteration(dir, seed, &tot);
		assert_int_equal(t_rmrf(dir), 0);
		free(dir);
	}
	fprintf(stderr,
		"powerloss: %lu iterations, %lu appended entries lost "
		"(never acknowledged durable), %lu with unsynced bytes lost, "
		"%lu directory operations undone\n",
		tot.iterations, tot.lost_entries, tot.torn_or_lost_writes,
		tot.dir_ops_undone);
	assert_int_equal(tot.iterations, n);
	/* The simulation must have taken something away, or it tests nothing.
	 */
	if (n >= 20) {
		assert_true(tot.lost_entries > 0);
		assert_true(tot.torn_or_lost_writes > 0);
	}
}

/*
 * Regression: entries a crashed writer left in the page cache were read
 * back by recovery and then vouched for by logstore_log_sync() without
 * ever being fsynced, so a power loss after that sync lost them.
 */
static void test_sync_after_crash_recovery_is_durable(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	struct logstore_options opts;
	struct ls_power_loss_report rep;
	logstore_log *log;

	t_options(&opts, &ctx->clock, SEG16);
	opts.durability = LOGSTORE_BUFFERED;
	t_assert_ok(ls_fault_record_start());
	log = t_open(ctx->dir, &opts);
	for (int i = 0; i < 10; i++)
		t_append(log, &model, 100, (uint64_t)i);
	t_crash_close(log); /* the page cache holds the 10 entries */
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	t_assert_ok(logstore_log_sync(log)); /* says: all 10 are durable */
	t_crash_close(log);
	t_assert_ok(ls_fault_power_loss(LS_POWER_LOSS_DROP_ALL, 1, &rep));
	assert_false(rep.overflow);
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A rollover whose rename a power loss undoes. The rollover makes no
 * flush of its own: the new segment's first fdatasync covered its header
 * and records, and the appends were acknowledged. Open must give the
 * prepared file its name back and read every entry; a read-only handle
 * must read them too, before any writer has, without renaming anything.
 * (The next preparation fails, so no directory fsync covers the rename;
 * the prepared file was created, durably, before recording started.)
 */
static void test_power_loss_undoes_rollover_rename(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	struct logstore_options opts;
	struct ls_power_loss_report rep;
	logstore_log *log;
	char names[8][64], prepared[64];

	t_options(&opts, &ctx->clock, SEG16);
	log = t_open(ctx->dir, &opts);
	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	ls_prepare_wait_idle(log); /* the next segment is ready */
	t_assert_ok(ls_fault_record_start());
	ls_fault_set(LS_SYS_FALLOCATE, 1, ENOSPC); /* the one after it */
	for (int i = 0; i < 3; i++)
		t_append(log, &model, 1000, 10 + (uint64_t)i);
	ls_prepare_wait_idle(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 2);
	t_crash_close(log);
	t_assert_ok(ls_fault_power_loss(LS_POWER_LOSS_DROP_ALL, 1, &rep));
	assert_false(rep.overflow);
	assert_int_equal(rep.bytes_unsynced, 0); /* all was acknowledged */
	assert_true(rep.dir_ops_undone >= 1);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	assert_int_equal(t_files_with_prefix(ctx->dir, "prepared-", &prepared),
			 1);
	ls_fault_clear();

	opts.read_only = true;
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	struct logstore_start from9 = t_start_seq(9);
	t_assert_log(log, &from9, &model, 8);
	t_close(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);

	opts.read_only = false;
	log = t_open(ctx->dir, &opts);
	t_assert_adopted(log, ctx->dir, prepared, 2, &model);
	t_close(log);
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_sync_after_crash_recovery_is_durable, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_power_loss_undoes_rollover_rename, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_power_loss, t_setup,
					    t_teardown),
	};

	if (t_uring_available() != 0)
		return T_SKIP;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
