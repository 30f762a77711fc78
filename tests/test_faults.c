/* SPDX-License-Identifier: MIT */
/*
 * Goal: the engine's behaviour under failing system calls, beyond what
 * test_recovery covers. EINTR and EAGAIN, injected at every kind of call
 * and io_uring completion, are completed transparently; so are short
 * pwrites. EIO on an fsync while several threads wait makes the log
 * fail-stop with no later acknowledgement, and no entry is acknowledged
 * or shown to readers before its fsync completes. EIO on the fdatasync
 * that seals a segment fails the log too; reopening recovers. ENOSPC when
 * creating or extending a segment, or on a data write, is a clear error
 * that loses nothing written before, and the log reopens.
 *
 * Method: a fixed workload (durable and buffered appends, batches,
 * rollovers in 16 KiB segments, sync, retention, close, reopen) runs with
 * one fault armed through the fault layer (sys.h); afterwards the test
 * checks that the fault was consumed (the call count passed it), and
 * reads the log back against a model of what was acknowledged. Ordering
 * questions use holds (a completion blocked until the test releases it)
 * and the engine's own counters, not sleeps; waits are bounded only to
 * turn a hang into a failure.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

#define SEG16 16384u
#define HANG_NS (30LL * T_SECOND) /* bound against hangs only */
#define THREADS 4

static struct logstore_stats stats_of(logstore_log *log)
{
	struct logstore_stats st;

	logstore_log_stats(log, &st);
	return st;
}

/*
 * A log whose durable batches go through io_uring, as asynchronous ones
 * do (by default a durable appender that leads writes its batch with
 * pwrite and fdatasync): for the tests of io_uring faults, and for those
 * that count pwrite calls of segment files only.
 */
static logstore_log *open_uring(struct t_ctx *ctx)
{
	logstore_log *log = t_open_small(ctx, SEG16);

	ls_writer_durable_uring(log, true);
	return log;
}

static const char *op_name(enum ls_sys_op op)
{
	static const char *const names[] = {
	    "open",   "pwrite", "fdatasync",   "fallocate",   "mmap",
	    "rename", "unlink", "uring_write", "uring_fsync", "uring_enter",
	    "writeback",
	};
	return names[op];
}

/*
 * The workload: appends of every kind across rollovers, a sync, a
 * retention pass, a clean close and a reopen (recovery), then a crash
 * and a reopen (scan recovery). Returns with the log closed. Before each
 * close it waits for the background preparation of the next segment,
 * so that the calls it makes do not depend on timing.
 */
static void workload(struct t_ctx *ctx, struct t_entries *model)
{
	/* This handle's durable batches use io_uring; later ones pwrite. */
	logstore_log *log = open_uring(ctx);
	struct logstore_batch_entry b[3];
	unsigned char buf[3][900];
	size_t removed = 0;

	for (int i = 0; i < 30; i++) {
		t_clock_advance(&ctx->clock, 10);
		if (i % 5 == 4) {
			for (int k = 0; k < 3; k++) {
				t_fill(buf[k], sizeof(buf[k]),
				       (uint64_t)(i * 3 + k));
				b[k] = (struct logstore_batch_entry){
				    .data = buf[k], .len = sizeof(buf[k])};
			}
			t_assert_ok(logstore_log_append_batch(
			    log, b, 3,
			    i % 2 ? LOGSTORE_DURABLE : LOGSTORE_BUFFERED));
			for (int k = 0; k < 3; k++)
				t_entries_push(model, b[k].seq, b[k].time_ns,
					       b[k].data, b[k].len);
			continue;
		}
		t_append(log, model, 500 + (size_t)i * 10, (uint64_t)i);
	}
	t_assert_ok(logstore_log_sync(log));
	ls_prepare_wait_idle(log);
	t_close(log);
	log = t_open_small(ctx, SEG16);
	t_assert_log(log, NULL, model, 0);
	t_clock_advance(&ctx->clock, 10);
	t_append(log, model, 700, 1000);
	/* Retention: drop the first segment (entries are 1 ns apart). */
	size_t n;
	struct logstore_segment_info *segs = t_segments(log, &n);
	assert_true(n >= 3);
	uint64_t keep_from = segs[1].first_seq;
	t_assert_ok(logstore_log_remove_older_than(
	    log, segs[0].last_time_ns + 1, &removed));
	free(segs);
	assert_int_equal(removed, 1);
	size_t first = 0;
	while (model->v[first].seq < keep_from)
		first++;
	t_assert_log(log, NULL, model, first);
	ls_prepare_wait_idle(log);
	t_crash_close(log);
	log = t_open_small(ctx, SEG16);
	t_assert_log(log, NULL, model, first);
	assert_int_equal(stats_of(log).failed, 0);
	ls_prepare_wait_idle(log);
	t_close(log);
}

/* Calls of each kind the workload makes when nothing fails. */
static uint64_t baseline[LS_SYS_OP_COUNT];

static void count_baseline(struct t_ctx *ctx)
{
	struct t_entries model = {0};

	t_rmrf(ctx->dir);
	ls_fault_clear();
	workload(ctx, &model);
	for (int op = 0; op < LS_SYS_OP_COUNT; op++) {
		baseline[op] = ls_fault_calls((enum ls_sys_op)op);
		/* Every kind of call is made, so every kind is tested. */
		if (baseline[op] == 0) {
			print_error("the workload makes no %s call\n",
				    op_name((enum ls_sys_op)op));
			fail();
		}
	}
	t_entries_free(&model);
}

/* Run the workload with calls nth..nth+count-1 of op failing with err. */
static void transparent(struct t_ctx *ctx, enum ls_sys_op op, uint64_t nth,
			uint64_t count, int err)
{
	struct t_entries model = {0};

	t_rmrf(ctx->dir);
	ls_fault_clear();
	ls_fault_set_repeat(op, nth, count, err);
	workload(ctx, &model);
	/* The retried calls come on top of the workload's own. */
	if (ls_fault_calls(op) < baseline[op] + count) {
		print_error("%s: %llu calls, expected %llu + %llu retried\n",
			    op_name(op), (unsigned long long)ls_fault_calls(op),
			    (unsigned long long)baseline[op],
			    (unsigned long long)count);
		fail();
	}
	ls_fault_clear();
	t_entries_free(&model);
}

/*
 * EINTR at the first, second, a middle and the last call of each kind:
 * three in a row each time.
 */
static void test_eintr_everywhere(void **state)
{
	struct t_ctx *ctx = *state;

	count_baseline(ctx);
	for (int op = 0; op < LS_SYS_OP_COUNT; op++) {
		uint64_t n = baseline[op];
		uint64_t at[] = {1, 2, (n + 1) / 2, n};
		for (size_t i = 0; i < 4; i++)
			if (at[i] >= 1 && at[i] <= n)
				transparent(ctx, (enum ls_sys_op)op, at[i], 3,
					    EINTR);
	}
}

/* io_uring completions (and the submit call) may also say EAGAIN. */
static void test_eagain_on_io_uring(void **state)
{
	struct t_ctx *ctx = *state;
	static const enum ls_sys_op ops[] = {
	    LS_SYS_URING_WRITE, LS_SYS_URING_FSYNC, LS_SYS_URING_ENTER};

	count_baseline(ctx);
	for (size_t i = 0; i < 3; i++)
		for (uint64_t nth = 1; nth <= baseline[ops[i]]; nth += 7)
			transparent(ctx, ops[i], nth, 2, EAGAIN);
}

/* Short pwrites: zero-fill, header, seal, index, buffered batches. */
static void test_short_pwrite_completed(void **state)
{
	struct t_ctx *ctx = *state;
	static const uint32_t cut[] = {1, 100, 5000};

	count_baseline(ctx);
	for (uint64_t nth = 1; nth <= baseline[LS_SYS_PWRITE]; nth++) {
		struct t_entries model = {0};

		t_rmrf(ctx->dir);
		ls_fault_clear();
		ls_fault_set_short(LS_SYS_PWRITE, nth, cut[nth % 3]);
		workload(ctx, &model);
		/* The rest of the short write was a call of its own. */
		assert_int_equal(ls_fault_calls(LS_SYS_PWRITE),
				 baseline[LS_SYS_PWRITE] + 1);
		t_entries_free(&model);
	}
	ls_fault_clear();
}

/* ---- fail-stop with waiters ---- */

struct appender {
	logstore_log *log;
	int id;
	int rc;		  /* of its append */
	_Atomic int done; /* the append returned */
	uint64_t seq;
};

static void *append_one(void *arg)
{
	struct appender *a = arg;
	unsigned char buf[64];

	t_fill(buf, sizeof(buf), 500 + (uint64_t)a->id);
	a->rc = logstore_log_append(a->log, buf, sizeof(buf), LOGSTORE_DURABLE,
				    &a->seq, NULL);
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * T_SECOND + ts.tv_nsec;
}

/* Wait until the log has placed want entries in batches (bounded). */
static void wait_entries(logstore_log *log, uint64_t want)
{
	int64_t end = mono_ns() + HANG_NS;

	while (stats_of(log).entries_appended < want && mono_ns() < end)
		usleep(100);
	assert_true(stats_of(log).entries_appended >= want);
}

/*
 * The fsync of a batch is held; meanwhile a reader sees nothing of it,
 * its appender is not acknowledged, and more appenders queue in the next
 * batch. Then the fsync completes with ok (all acknowledged, in order)
 * or with EIO (nobody acknowledged, the log fail-stop, readers go on).
 */
static void held_fsync(struct t_ctx *ctx, int err, enum ls_sys_op op)
{
	struct t_entries model = {0};
	struct appender a[THREADS];
	pthread_t th[THREADS];
	logstore_log *log = op == LS_SYS_URING_FSYNC ? open_uring(ctx)
						     : t_open_small(ctx, SEG16);
	logstore_reader *reader;
	struct logstore_entry e;

	for (int i = 0; i < 3; i++)
		t_append(log, &model, 100, (uint64_t)i);
	t_assert_ok(logstore_reader_open(log, NULL, &reader));
	uint64_t base = stats_of(log).entries_appended;

	ls_prepare_wait_idle(log); /* its fdatasync is not the one held */
	ls_fault_set_hold(op, 1);
	if (err)
		ls_fault_set(op, 1, err);
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct appender){.log = log, .id = i};
		assert_int_equal(
		    pthread_create(&th[i], NULL, append_one, &a[i]), 0);
		if (i == 0)
			assert_true(ls_fault_wait_held(op, HANG_NS));
	}
	wait_entries(log, base + THREADS);
	/* Nothing of the held batch or the queued one is visible or acked. */
	for (int i = 0; i < 3; i++)
		t_assert_ok(logstore_reader_next(reader, &e));
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(__atomic_load_n(&a[i].done, __ATOMIC_SEQ_CST),
				 0);
	assert_int_equal(stats_of(log).durable_seq, 3);

	ls_fault_release(op);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < THREADS; i++) {
		if (err)
			assert_true(a[i].rc == -err ||
				    a[i].rc == LOGSTORE_EFAILED);
		else
			t_assert_ok(a[i].rc);
	}
	if (err) {
		assert_int_equal(stats_of(log).failed, -err);
		t_assert_rc(logstore_log_append(log, "x", 1, 0, NULL, NULL),
			    LOGSTORE_EFAILED);
		t_assert_rc(logstore_log_sync(log), LOGSTORE_EFAILED);
		assert_int_equal(stats_of(log).durable_seq, 3);
		/* Committed entries stay readable; nothing new shows. */
		t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
		t_assert_log(log, NULL, &model, 0);
	} else {
		for (int i = 0; i < THREADS; i++)
			t_assert_ok(logstore_reader_next(reader, &e));
		assert_int_equal(e.seq, 3 + THREADS);
	}
	logstore_reader_close(reader);
	logstore_log_close(log);
	ls_fault_clear();

	/* Reopen: acknowledged entries are there, appending works. */
	log = t_open_small(ctx, SEG16);
	struct t_entries got = {0};
	assert_int_equal(t_read_all(log, NULL, &got), LOGSTORE_END);
	assert_true(got.n >= 3);
	if (!err)
		assert_int_equal(got.n, 3 + THREADS);
	for (size_t i = 0; i < 3; i++)
		assert_memory_equal(got.v[i].data, model.v[i].data,
				    model.v[i].len);
	for (size_t i = 3; i < got.n; i++) {
		/* Unacknowledged entries may be there, whole and right. */
		unsigned char want[64];
		bool found = false;
		assert_int_equal(got.v[i].seq, i + 1);
		assert_int_equal(got.v[i].len, sizeof(want));
		for (int k = 0; k < THREADS && !found; k++) {
			t_fill(want, sizeof(want), 500 + (uint64_t)k);
			found = memcmp(got.v[i].data, want, 64) == 0;
		}
		assert_true(found);
	}
	uint64_t seq = 0;
	t_assert_ok(logstore_log_append(log, "again", 5, 0, &seq, NULL));
	assert_int_equal(seq, got.n + 1);
	t_entries_free(&got);
	t_close(log);
	t_entries_free(&model);
}

static void test_no_ack_before_fsync_completes(void **state)
{
	held_fsync(*state, 0, LS_SYS_URING_FSYNC);
}

/* The same when the leader writes with pwrite and syncs with fdatasync. */
static void test_no_ack_before_fdatasync_completes(void **state)
{
	held_fsync(*state, 0, LS_SYS_FDATASYNC);
}

static void test_fdatasync_eio_with_waiters_fail_stop(void **state)
{
	held_fsync(*state, EIO, LS_SYS_FDATASYNC);
}

static void test_fsync_eio_with_waiters_fail_stop(void **state)
{
	held_fsync(*state, EIO, LS_SYS_URING_FSYNC);
}

/* A late fsync completion while others append: nothing lost or reordered. */
static void test_delayed_completions(void **state)
{
	struct t_ctx *ctx = *state;
	struct appender a[THREADS];
	pthread_t th[THREADS];
	logstore_log *log = open_uring(ctx);

	ls_fault_set_delay(LS_SYS_URING_FSYNC, 1, 20 * 1000 * 1000);
	ls_fault_set_delay(LS_SYS_URING_WRITE, 2, 10 * 1000 * 1000);
	for (int i = 0; i < THREADS; i++) {
		a[i] = (struct appender){.log = log, .id = i};
		assert_int_equal(
		    pthread_create(&th[i], NULL, append_one, &a[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		t_assert_ok(a[i].rc);
	}
	assert_true(ls_fault_calls(LS_SYS_URING_FSYNC) >= 1);
	t_crash_close(log);
	log = t_open_small(ctx, SEG16);
	struct t_entries got = {0};
	assert_int_equal(t_read_all(log, NULL, &got), LOGSTORE_END);
	assert_int_equal(got.n, THREADS);
	for (int i = 0; i < THREADS; i++) {
		unsigned char want[64];
		t_fill(want, sizeof(want), 500 + (uint64_t)i);
		assert_memory_equal(got.v[a[i].seq - 1].data, want, 64);
	}
	t_entries_free(&got);
	t_close(log);
}

/* ---- EIO while sealing, ENOSPC ---- */

static void test_seal_fdatasync_eio_fail_stop(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	logstore_log *log = open_uring(ctx); /* appends fsync through it */
	unsigned char buf[1000];
	uint64_t seq;

	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	/*
	 * The next segment is prepared in the background; once that is
	 * done, the next append rolls over (with no flush of its own) and
	 * the old segment's seal is the first fdatasync: the appends'
	 * fsyncs go through io_uring, the next preparation's come after.
	 */
	ls_prepare_wait_idle(log);
	ls_fault_set(LS_SYS_FDATASYNC, 1, EIO);
	t_fill(buf, sizeof(buf), 9);
	/*
	 * The seal fails in the background, before or after this append's
	 * own write: it is acknowledged, or it fails with the log.
	 */
	int64_t time_ns = 0;
	int rc = logstore_log_append(log, buf, sizeof(buf), 0, &seq, &time_ns);
	assert_true(rc == 0 || rc == LOGSTORE_EFAILED);
	if (rc == 0)
		t_entries_push(&model, seq, time_ns, buf, sizeof(buf));
	ls_prepare_wait_idle(log);
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EFAILED);
	assert_string_not_equal(logstore_error_detail(), "");
	assert_int_equal(stats_of(log).failed, -EIO);
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EFAILED);
	t_assert_log(log, NULL, &model, 0); /* committed data stays readable */
	logstore_log_close(log);
	ls_fault_clear();
	log = t_open_small(ctx, SEG16);
	/* An append that failed with the log may still have reached disk. */
	struct t_entries got = {0};
	assert_int_equal(t_read_all(log, NULL, &got), LOGSTORE_END);
	assert_true(got.n == model.n || (rc != 0 && got.n == model.n + 1));
	for (size_t i = 0; i < got.n; i++) {
		const unsigned char *want = i < model.n ? model.v[i].data : buf;
		size_t len = i < model.n ? model.v[i].len : sizeof(buf);
		assert_int_equal(got.v[i].seq, i + 1);
		assert_int_equal(got.v[i].len, len);
		assert_memory_equal(got.v[i].data, want, len);
	}
	size_t n = got.n;
	if (n > model.n)
		t_entries_push(&model, got.v[n - 1].seq, got.v[n - 1].time_ns,
			       buf, sizeof(buf));
	t_entries_free(&got);
	t_append(log, &model, 10, 77);
	assert_int_equal(model.v[model.n - 1].seq, n + 1);
	t_close(log);
	t_entries_free(&model);
}

/* EIO on the new segment's header write at rollover: fail-stop. */
static void test_activation_header_eio_fail_stop(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	logstore_log *log = t_open_small(ctx, SEG16);
	unsigned char buf[1000];
	uint64_t seq;
	char names[8][64];

	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	ls_prepare_wait_idle(log);
	/* Durable appends leave no batch to write: the header is first. */
	ls_fault_set(LS_SYS_PWRITE, 1, EIO);
	t_fill(buf, sizeof(buf), 9);
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    LOGSTORE_EFAILED);
	assert_int_equal(stats_of(log).failed, -EIO);
	assert_non_null(strstr(logstore_error_detail(), "failed"));
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EFAILED);
	t_assert_log(log, NULL, &model, 0);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	logstore_log_close(log);
	ls_fault_clear();
	log = t_open_small(ctx, SEG16);
	t_assert_log(log, NULL, &model, 0);
	t_append_data(log, &model, buf, sizeof(buf));
	assert_int_equal(model.v[7].seq, 8);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A segment that cannot be renamed after its rollover (EIO on every
 * rename): its records are durable under its prepared name, appends go
 * on, readers see everything, and the next open adopts the file.
 */
/*
 * A log of 16 KiB segments whose second segment took three records with
 * every rename failing (EIO, still set on return): they stay in its
 * prepared file.
 */
static logstore_log *roll_renames_failing(struct t_ctx *ctx,
					  struct t_entries *model)
{
	logstore_log *log = t_open_small(ctx, SEG16);

	for (int i = 0; i < 7; i++)
		t_append(log, model, 1000, (uint64_t)i);
	ls_prepare_wait_idle(log);
	ls_fault_set_repeat(LS_SYS_RENAME, 1, 1000, EIO);
	for (int i = 0; i < 3; i++)
		t_append(log, model, 1000, 10 + (uint64_t)i);
	return log;
}

static void test_rename_eio_keeps_prepared_name(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	logstore_log *log = roll_renames_failing(ctx, &model);
	char names[8][64], prepared[64];

	assert_true(ls_fault_calls(LS_SYS_RENAME) >= 1);
	assert_int_equal(stats_of(log).failed, 0);
	t_assert_log(log, NULL, &model, 0);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	t_close(log); /* tries once more, and fails */
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	assert_int_equal(t_files_with_prefix(ctx->dir, "prepared-", &prepared),
			 1);
	ls_fault_clear();
	log = t_open_small(ctx, SEG16);
	t_assert_adopted(log, ctx->dir, prepared, 2, &model);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A crash leaves the newest records in a prepared file whose rename was
 * lost, with a torn tail after them: logstore_log_repair() adopts the
 * file as a writer's open would (it holds LOCK), then cuts and saves that
 * tail; the next open reads every entry.
 */
static void test_repair_adopts_prepared_segment(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	logstore_log *log = roll_renames_failing(ctx, &model);
	char names[8][64], prepared[64];
	static const char junk[24] = "TORN-TAIL-OF-A-PREPARED";

	t_crash_close(log);
	ls_fault_clear();
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	assert_int_equal(t_files_with_prefix(ctx->dir, "prepared-", &prepared),
			 1);
	uint64_t end = LS_HEADER_BYTES + 3 * ls_record_bytes(1000);
	char *path = t_path(ctx->dir, prepared);
	assert_int_equal(t_write_at(path, junk, sizeof(junk), end), 0);
	free(path);

	char *side = t_path(ctx->dir, "cut.bin");
	struct logstore_repair_result res;
	t_assert_ok(logstore_log_repair(ctx->dir, side, 0, &res));
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 2);
	assert_string_equal(res.segment, names[1]);
	assert_int_equal(res.end_offset, end);
	assert_int_equal(res.cut_bytes, sizeof(junk));
	char got[sizeof(junk)];
	assert_int_equal(t_read_at(side, got, sizeof(got), 0), 0);
	assert_memory_equal(got, junk, sizeof(junk));
	free(side);

	log = t_open_small(ctx, SEG16);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 0);
	t_assert_adopted(log, ctx->dir, prepared, 2, &model);
	t_close(log);
	t_entries_free(&model);
}

/* Recovery that cannot zero a torn tail fails open clearly, loses nothing. */
static void test_recovery_write_eio(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	struct logstore_options opts;
	logstore_log *log = t_open_small(ctx, SEG16);
	char names[4][64];

	for (int i = 0; i < 5; i++)
		t_append(log, &model, 300, (uint64_t)i);
	size_t nsegs;
	struct logstore_segment_info *segs = t_segments(log, &nsegs);
	uint64_t end = 4096 + segs[0].bytes;
	free(segs);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0);
	assert_int_equal(t_seg_files(ctx->dir, names, 4), 1);
	char *path = t_path(ctx->dir, names[0]);
	/* Garbage after the last record: a torn tail to zero. */
	unsigned char junk[104]; /* whole 8-byte units, as recovery counts */
	t_fill(junk, sizeof(junk), 77);
	assert_int_equal(t_write_at(path, junk, sizeof(junk), end), 0);
	free(path);

	t_options(&opts, &ctx->clock, SEG16);
	ls_fault_set(LS_SYS_PWRITE, 1, EIO);
	logstore_log *bad = NULL;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &bad), -EIO);
	assert_null(bad);
	assert_non_null(strstr(logstore_error_detail(), names[0]));
	ls_fault_clear();
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, sizeof(junk));
	t_close(log);
	t_entries_free(&model);
}

/*
 * ENOSPC at each step of creating the first segment (on the appender)
 * and of preparing the next one (in the background) or starting it at a
 * rollover: open of the new file, zero-fill (extending it), header. The
 * append that needs the segment gets -ENOSPC with the file named;
 * nothing is left half made; the log is not failed and the next append
 * succeeds.
 *
 * first_nth: the call of op to fail while the first segment is created.
 * roll_nth: the call of op to fail from a rollover on (the new
 * segment's header is the first pwrite, the old one's index and seal the
 * second and third, then the background preparation of the segment
 * after it zero-fills). roll_now: that call belongs to the rollover
 * itself, not to the preparation of the segment after it.
 */
static void enospc_at(struct t_ctx *ctx, enum ls_sys_op op, uint64_t first_nth,
		      uint64_t roll_nth, bool roll_now)
{
	struct t_entries model = {0};
	logstore_log *log = open_uring(ctx); /* counts segment pwrites */
	unsigned char buf[1000];
	uint64_t seq;
	char names[8][64];

	t_fill(buf, sizeof(buf), 1);
	/* The first segment. */
	ls_fault_set(op, first_nth, ENOSPC);
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	assert_non_null(strstr(logstore_error_detail(), ".seg"));
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 0);
	assert_int_equal(stats_of(log).failed, 0);
	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	ls_prepare_wait_idle(log); /* the next segment is ready */
	ls_fault_set(op, roll_nth, ENOSPC);
	size_t segs = 1;
	if (!roll_now) {
		/* This rollover takes the ready segment... */
		t_append(log, &model, 1000, 100);
		ls_prepare_wait_idle(log);
		for (int i = 0; i < 6; i++)
			t_append(log, &model, 1000, 101 + (uint64_t)i);
		segs = 2; /* ...and the next one finds none. */
	}
	size_t before = model.n;
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	assert_non_null(strstr(logstore_error_detail(), "seg"));
	assert_int_equal(t_seg_files(ctx->dir, names, 8), segs);
	assert_int_equal(stats_of(log).failed, 0);
	t_assert_log(log, NULL, &model, 0);
	/* Space again: the same log rolls over. */
	t_append_data(log, &model, buf, sizeof(buf));
	assert_int_equal(model.v[before].seq, before + 1);
	logstore_log_close(log);
	ls_fault_clear();
	log = t_open_small(ctx, SEG16);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_enospc_creating_segment(void **state)
{
	enospc_at(*state, LS_SYS_OPEN, 1, 1, false);
}

static void test_enospc_zero_filling_segment(void **state)
{
	enospc_at(*state, LS_SYS_PWRITE, 1, 4, false);
}

static void test_enospc_writing_header(void **state)
{
	enospc_at(*state, LS_SYS_PWRITE, 2, 1, true);
}

/* A disk full for a while: every rollover fails until space returns. */
static void test_enospc_persistent_then_space(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries model = {0};
	logstore_log *log = t_open_small(ctx, SEG16);
	unsigned char buf[1000];
	uint64_t seq;

	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	/*
	 * The disk fills once the next segment is ready: this rollover
	 * takes it, and every preparation after it fails (the first in the
	 * background, then one retry per rollover) until space returns.
	 */
	ls_prepare_wait_idle(log);
	ls_fault_set_repeat(LS_SYS_FALLOCATE, 1, 5, ENOSPC);
	for (int i = 0; i < 7; i++)
		t_append(log, &model, 1000, 50 + (uint64_t)i);
	t_fill(buf, sizeof(buf), 3);
	for (int i = 0; i < 5; i++)
		t_assert_rc(
		    logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	t_append_data(log, &model, buf, sizeof(buf));
	assert_int_equal(model.v[14].seq, 15);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * ENOSPC on a durable data write (io_uring) or a buffered one (pwrite):
 * the log fails (the write may be partly on disk), the cause is named,
 * and a reopen keeps everything acknowledged before.
 */
static void enospc_on_data(struct t_ctx *ctx, enum ls_sys_op op, int durability)
{
	struct t_entries model = {0};
	logstore_log *log = op == LS_SYS_URING_WRITE ? open_uring(ctx)
						     : t_open_small(ctx, SEG16);
	uint64_t seq;

	for (int i = 0; i < 5; i++)
		t_append(log, &model, 200, (uint64_t)i);
	t_assert_ok(logstore_log_sync(log));
	ls_prepare_wait_idle(log); /* its zero-fill is not the pwrite failed */
	ls_fault_set(op, 1, ENOSPC);
	int rc = logstore_log_append(log, "full", 4, durability, &seq, NULL);
	assert_true(rc == -ENOSPC || rc == LOGSTORE_EFAILED);
	assert_int_equal(stats_of(log).failed, -ENOSPC);
	assert_non_null(strstr(logstore_error_detail(), "No space"));
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EFAILED);
	t_assert_log(log, NULL, &model, 0);
	logstore_log_close(log);
	ls_fault_clear();
	log = t_open_small(ctx, SEG16);
	/*
	 * The injected error replaced the result of a write the kernel did
	 * make: the unacknowledged entry may be there, whole.
	 */
	struct t_entries got = {0};
	assert_int_equal(t_read_all(log, NULL, &got), LOGSTORE_END);
	assert_true(got.n == 5 || got.n == 6);
	if (got.n == 6) {
		assert_int_equal(got.v[5].len, 4);
		assert_memory_equal(got.v[5].data, "full", 4);
		t_entries_push(&model, got.v[5].seq, got.v[5].time_ns, "full",
			       4);
	}
	t_entries_free(&got);
	t_assert_log(log, NULL, &model, 0);
	t_append(log, &model, 10, 99);
	t_close(log);
	t_entries_free(&model);
}

static void test_enospc_on_durable_write(void **state)
{
	enospc_on_data(*state, LS_SYS_URING_WRITE, LOGSTORE_DURABLE);
}

static void test_enospc_on_direct_durable_write(void **state)
{
	enospc_on_data(*state, LS_SYS_PWRITE, LOGSTORE_DURABLE);
}

static void test_enospc_on_buffered_write(void **state)
{
	enospc_on_data(*state, LS_SYS_PWRITE, LOGSTORE_BUFFERED);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_eintr_everywhere),
	    T(test_eagain_on_io_uring),
	    T(test_short_pwrite_completed),
	    T(test_no_ack_before_fsync_completes),
	    T(test_fsync_eio_with_waiters_fail_stop),
	    T(test_no_ack_before_fdatasync_completes),
	    T(test_fdatasync_eio_with_waiters_fail_stop),
	    T(test_delayed_completions),
	    T(test_seal_fdatasync_eio_fail_stop),
	    T(test_activation_header_eio_fail_stop),
	    T(test_rename_eio_keeps_prepared_name),
	    T(test_repair_adopts_prepared_segment),
	    T(test_recovery_write_eio),
	    T(test_enospc_creating_segment),
	    T(test_enospc_zero_filling_segment),
	    T(test_enospc_writing_header),
	    T(test_enospc_persistent_then_space),
	    T(test_enospc_on_durable_write),
	    T(test_enospc_on_direct_durable_write),
	    T(test_enospc_on_buffered_write),
	};

	if (t_uring_available() != 0)
		return T_SKIP;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
