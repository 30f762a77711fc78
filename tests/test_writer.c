/* SPDX-License-Identifier: MIT */
/*
 * Goal: the speed-path API and machinery of engine/writer.c and
 * engine/prepare.c keep the durability contract: asynchronous appends
 * with logstore_log_wait_durable(), zero-copy claims (commit and abort),
 * rollover into background-prepared segments, the pipelining options, and
 * fail-stop with several batches in flight.
 *
 * Method: each test appends through the API, then reads everything back
 * (bytes, seqs, times) with a reader, before and after a reopen, and
 * checks files on disk. Faults come from the injection layer in
 * engine/sys.h. Nothing depends on timing: waits are for conditions (the
 * preparation thread going idle, a seq becoming durable), never sleeps.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "sys.h"

#define SEG16 16384u
#define SEG64 65536u

static struct t_ctx *ctx_of(void **state)
{
	return *state;
}

static struct logstore_stats stats_of(logstore_log *log)
{
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	return st;
}

static logstore_log *open_depth(struct t_ctx *ctx, uint64_t seg_bytes,
				uint32_t depth, int64_t delay_ns)
{
	struct logstore_options opts;
	t_options(&opts, &ctx->clock, seg_bytes);
	opts.pipeline_depth = depth;
	opts.batch_delay_ns = delay_ns;
	return t_open(ctx->dir, &opts);
}

/* Count the files in dir whose name starts with prefix. */
/* Async appends return their seq at once; waiting makes them durable. */
static void test_async_append_and_wait(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char buf[300];
	uint64_t seq = 0, last = 0;
	int64_t time_ns;
	logstore_log *log = open_depth(ctx, SEG64, 2, 0);

	for (int i = 0; i < 200; i++) {
		t_fill(buf, 1 + (size_t)i, 7 + (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
		t_assert_ok(logstore_log_append(
		    log, buf, 1 + (size_t)i, LOGSTORE_ASYNC, &seq, &time_ns));
		assert_int_equal(seq, last + 1);
		last = seq;
		t_entries_push(&model, seq, time_ns, buf, 1 + (size_t)i);
	}
	/* Only seqs that were handed out can be waited for. */
	t_assert_rc(logstore_log_wait_durable(log, last + 1, -1), -EINVAL);
	t_assert_ok(logstore_log_wait_durable(log, last, -1));
	assert_true(logstore_log_durable_seq(log) >= last);
	assert_true(stats_of(log).durable_seq >= last);
	assert_true(stats_of(log).fsyncs >= 1);
	/* Already durable: no wait even with a zero timeout. */
	t_assert_ok(logstore_log_wait_durable(log, last, 0));
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	log = open_depth(ctx, SEG64, 1, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/* wait_durable also syncs entries appended LOGSTORE_BUFFERED. */
static void test_wait_durable_syncs_buffered(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t seq = 0;
	logstore_log *log = open_depth(ctx, SEG64, 2, 0);

	for (int i = 0; i < 5; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_assert_ok(logstore_log_append(log, "buffered", 8,
						LOGSTORE_BUFFERED, &seq, NULL));
	}
	uint64_t before = stats_of(log).fsyncs;
	assert_true(logstore_log_durable_seq(log) < seq);
	t_assert_ok(logstore_log_wait_durable(log, seq, -1));
	assert_true(logstore_log_durable_seq(log) >= seq);
	assert_true(stats_of(log).fsyncs > before);
	t_close(log);
	t_entries_free(&model);
}

/*
 * Deferred appends return at once; a flusher writes them to the page cache
 * without an fsync (a follower sees them without anyone syncing), a
 * buffered append publishes every earlier deferred one with it, and close
 * makes all of them durable.
 */
static void test_deferred_append(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char buf[200];
	uint64_t seq = 0;
	int64_t time_ns;
	logstore_log *log = open_depth(ctx, SEG64, 2, 0);
	logstore_reader *r = NULL;
	struct logstore_entry e;
	const struct logstore_start oldest = {.kind = LOGSTORE_START_OLDEST};

	t_assert_ok(logstore_reader_open(log, &oldest, &r));
	uint64_t fsyncs = stats_of(log).fsyncs;
	for (int i = 0; i < 50; i++) {
		t_fill(buf, 1 + (size_t)i * 3, 40 + (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
		t_assert_ok(logstore_log_append(log, buf, 1 + (size_t)i * 3,
						LOGSTORE_DEFERRED, &seq,
						&time_ns));
		assert_int_equal(seq, (uint64_t)i + 1);
		t_entries_push(&model, seq, time_ns, buf, 1 + (size_t)i * 3);
	}
	/* The flushers publish them: wait for the last one, untimed. */
	for (size_t k = 0; k < model.n; k++) {
		t_assert_ok(logstore_reader_next_wait(r, &e, -1));
		assert_int_equal(e.seq, model.v[k].seq);
		assert_int_equal(e.len, model.v[k].len);
		assert_memory_equal(e.data, model.v[k].data, e.len);
	}
	/* Written, but no entry asked to be durable: nothing was synced. */
	assert_int_equal(stats_of(log).fsyncs, fsyncs);
	assert_true(logstore_log_durable_seq(log) < seq);

	/* A buffered append is visible on return, with what came before. */
	for (int i = 0; i < 5; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_assert_ok(logstore_log_append(log, "deferred", 8,
						LOGSTORE_DEFERRED, &seq,
						&time_ns));
		t_entries_push(&model, seq, time_ns, "deferred", 8);
	}
	t_clock_advance(&ctx->clock, 1000);
	t_assert_ok(logstore_log_append(log, "buffered", 8, LOGSTORE_BUFFERED,
					&seq, &time_ns));
	t_entries_push(&model, seq, time_ns, "buffered", 8);
	for (size_t k = 50; k < model.n; k++) {
		t_assert_ok(logstore_reader_next(r, &e));
		assert_int_equal(e.seq, model.v[k].seq);
		assert_memory_equal(e.data, model.v[k].data, e.len);
	}
	t_assert_rc(logstore_reader_next(r, &e), LOGSTORE_END);
	logstore_reader_close(r);

	/* Waiting makes a deferred entry durable. */
	t_clock_advance(&ctx->clock, 1000);
	t_assert_ok(logstore_log_append(log, "last", 4, LOGSTORE_DEFERRED,
					&seq, &time_ns));
	t_entries_push(&model, seq, time_ns, "last", 4);
	t_assert_ok(logstore_log_wait_durable(log, seq, -1));
	assert_true(logstore_log_durable_seq(log) >= seq);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	/* Deferred as the log's default; claims commit deferred too. */
	struct logstore_options opts;
	t_options(&opts, &ctx->clock, SEG64);
	opts.durability = LOGSTORE_DEFERRED;
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	struct logstore_claim claim;
	t_clock_advance(&ctx->clock, 1000);
	t_assert_ok(logstore_log_claim(log, 6, &claim));
	memcpy(claim.data, "claimd", 6);
	t_assert_ok(logstore_claim_commit(log, &claim,
					  LOGSTORE_DURABILITY_DEFAULT));
	t_entries_push(&model, claim.seq, claim.time_ns, "claimd", 6);
	t_clock_advance(&ctx->clock, 1000);
	t_assert_ok(logstore_log_append(log, "dflt", 4,
					LOGSTORE_DURABILITY_DEFAULT, &seq,
					&time_ns));
	t_entries_push(&model, seq, time_ns, "dflt", 4);
	t_close(log); /* close syncs */
	log = open_depth(ctx, SEG64, 1, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/* A claim is written in place and reads back like an append. */
static void test_claim_commit(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_claim claim;
	unsigned char want[1000];
	logstore_log *log = open_depth(ctx, SEG64, 2, 0);

	t_append(log, &model, 10, 1);
	for (int i = 0; i < 40; i++) {
		size_t len = (size_t)(i * 25);
		int durability = i % 3 == 0   ? LOGSTORE_DURABLE
				 : i % 3 == 1 ? LOGSTORE_BUFFERED
					      : LOGSTORE_ASYNC;
		t_clock_advance(&ctx->clock, 1000);
		t_fill(want, len, 100 + (uint64_t)i);
		t_assert_ok(logstore_log_claim(log, len, &claim));
		assert_int_equal(claim.len, len);
		assert_int_equal(claim.seq, model.n + 1);
		memcpy(claim.data, want, len);
		t_assert_ok(logstore_claim_commit(log, &claim, durability));
		t_entries_push(&model, claim.seq, claim.time_ns, want, len);
	}
	t_assert_ok(logstore_log_sync(log));
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	log = open_depth(ctx, SEG64, 2, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/* An aborted claim leaves no trace: its seq goes to the next entry. */
static void test_claim_abort(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_claim claim;
	uint64_t seq;
	logstore_log *log = open_depth(ctx, SEG64, 2, 0);

	t_append(log, &model, 50, 1);
	t_clock_advance(&ctx->clock, 1000);
	t_assert_ok(logstore_log_claim(log, 64, &claim));
	assert_int_equal(claim.seq, 2);
	memset(claim.data, 0xAB, 64);
	t_assert_ok(logstore_claim_abort(log, &claim));
	/* Nothing held any more: commit and abort now refuse. */
	t_assert_rc(logstore_claim_abort(log, &claim), -EINVAL);
	t_assert_rc(logstore_claim_commit(log, &claim, LOGSTORE_DURABLE),
		    -EINVAL);

	t_clock_advance(&ctx->clock, 1000);
	t_append_data(log, &model, "after", 5);
	assert_int_equal(model.v[1].seq, 2);

	/* An abort as the first entry of a batch, and a bad durability. */
	t_clock_advance(&ctx->clock, 1000);
	t_assert_ok(logstore_log_claim(log, 8, &claim));
	memcpy(claim.data, "12345678", 8);
	t_assert_rc(logstore_claim_commit(log, &claim, 42), -EINVAL);
	t_assert_ok(logstore_log_append(log, "x", 1, 0, &seq, NULL));
	assert_int_equal(seq, 3);
	t_entries_push(&model, seq, model.v[1].time_ns + 1, "x", 1);
	model.v[2].time_ns = 0; /* checked below from the reader */

	struct t_entries seen = {0};
	assert_int_equal(t_read_all(log, NULL, &seen), LOGSTORE_END);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.v[2].seq, 3);
	assert_int_equal(seen.v[2].len, 1);
	assert_memory_equal(seen.v[2].data, "x", 1);
	model.v[2].time_ns = seen.v[2].time_ns;
	t_entries_free(&seen);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	log = open_depth(ctx, SEG64, 2, 0);
	assert_int_equal(stats_of(log).recovery_bytes_dropped, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_claim_errors(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_claim claim, second;
	logstore_log *log = open_depth(ctx, SEG64, 2, 0);

	t_assert_rc(logstore_log_claim(log, SEG64, &claim), LOGSTORE_ETOOBIG);
	t_assert_rc(logstore_log_claim(log, 8, NULL), -EINVAL);
	t_assert_rc(logstore_claim_commit(log, &claim, 0), -EINVAL);
	t_assert_ok(logstore_log_claim(log, 8, &claim));
	/* One claim at a time per thread. */
	t_assert_rc(logstore_log_claim(log, 8, &second), -EINVAL);
	memcpy(claim.data, "abcdefgh", 8);
	t_assert_ok(logstore_claim_commit(log, &claim, LOGSTORE_DURABLE));
	t_close(log);
}

/*
 * Rollovers take the segment prepared in the background: many segments,
 * every entry intact, at most one prepared file at a time, none left
 * after close, and the old segments sealed (a reopen needs no scan).
 */
static void test_prepared_segment_rollover(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	char names[64][64];
	logstore_log *log = open_depth(ctx, SEG16, 2, 0);

	for (int i = 0; i < 90; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_append(log, &model, 900 + (size_t)i, (uint64_t)i);
		assert_true(t_files_with_prefix(ctx->dir, "prepared-", NULL) <= 1);
	}
	struct logstore_stats st = stats_of(log);
	assert_true(st.segments_created >= 8);
	ls_prepare_wait_idle(log);
	assert_int_equal(t_files_with_prefix(ctx->dir, "prepared-", NULL), 1);
	/* Every rollover took a prepared segment, and one more is ready. */
	st = stats_of(log);
	assert_int_equal(st.segments_prepared, st.segments_created);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	assert_int_equal(t_files_with_prefix(ctx->dir, "prepared-", NULL), 0);
	size_t nfiles = t_seg_files(ctx->dir, names, 64);
	assert_int_equal(nfiles, st.segments_created);

	log = open_depth(ctx, SEG16, 2, 0);
	t_assert_log(log, NULL, &model, 0);
	/* Every sealed segment carried its seal: nothing was rescanned. */
	size_t n;
	struct logstore_segment_info *segs = t_segments(log, &n);
	assert_int_equal(n, nfiles);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += segs[i].entries;
	assert_int_equal(total, model.n);
	free(segs);
	t_close(log);
	t_entries_free(&model);
}

/* A sealed segment's seal is on disk once the thread is idle. */
static void test_old_segment_sealed_in_background(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	char names[8][64];
	unsigned char seal[8];
	logstore_log *log = open_depth(ctx, SEG16, 1, 0);

	for (int i = 0; i < 10; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_append(log, &model, 1000, (uint64_t)i);
	}
	ls_prepare_wait_idle(log);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 2);
	char *path = t_path(ctx->dir, names[0]);
	t_assert_ok(t_read_at(path, seal, 8, LS_SEAL_OFFSET));
	assert_memory_equal(seal, ls_seal_magic, 8);
	free(path);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A segment smaller than 2 MiB is prepared in bursts of
 * LS_PREP_BURST_BYTES, each written back before the next (the last one
 * shorter here): every byte of the prepared file is zero, and a rollover
 * into it keeps every entry, before and after a reopen.
 */
static void test_small_segment_zero_filled_in_bursts(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	const uint64_t seg = 2 * LS_PREP_BURST_BYTES + 64 * 1024;
	char prepared[64];

	ls_fault_clear();
	logstore_log *log = open_depth(ctx, seg, 2, 0);
	t_clock_advance(&ctx->clock, 1000);
	t_append(log, &model, 1000, 0);
	ls_prepare_wait_idle(log);
	/* The first segment is filled by the appender, without write-back. */
	assert_int_equal(ls_fault_calls(LS_SYS_WRITEBACK), 3);
	assert_int_equal(t_files_with_prefix(ctx->dir, "prepared-", &prepared),
			 1);
	char *path = t_path(ctx->dir, prepared);
	assert_int_equal(t_file_size(path), (int64_t)seg);
	unsigned char *bytes = malloc(seg);
	assert_non_null(bytes);
	t_assert_ok(t_read_at(path, bytes, seg, 0));
	uint64_t nonzero = 0;
	for (uint64_t i = 0; i < seg; i++)
		nonzero += bytes[i] != 0;
	assert_int_equal(nonzero, 0);
	free(bytes);
	free(path);

	for (uint64_t i = 1; stats_of(log).segments_created < 2; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_append(log, &model, 4000, i);
	}
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	log = open_depth(ctx, seg, 2, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A preparation that fails (ENOSPC) fails the rollover that needs it,
 * not the log: the next append gets a segment prepared again, and
 * nothing written before is lost.
 */
static void test_failed_preparation_is_retried(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char buf[1000];
	uint64_t seq;

	/* fallocate 1: the first segment; 2: the first prepared one. */
	ls_fault_set(LS_SYS_FALLOCATE, 2, ENOSPC);
	logstore_log *log = open_depth(ctx, SEG16, 2, 0);
	for (int i = 0; i < 7; i++) {
		t_clock_advance(&ctx->clock, 1000);
		t_append(log, &model, 1000, (uint64_t)i);
	}
	t_fill(buf, sizeof(buf), 77);
	t_clock_advance(&ctx->clock, 1000);
	t_assert_rc(logstore_log_append(log, buf, sizeof(buf), 0, &seq, NULL),
		    -ENOSPC);
	assert_int_equal(stats_of(log).failed, 0);
	t_append_data(log, &model, buf, sizeof(buf));
	assert_int_equal(model.v[7].seq, 8);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	log = open_depth(ctx, SEG16, 2, 0);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_option_validation(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_options opts;
	logstore_log *log = NULL;

	t_options(&opts, &ctx->clock, SEG64);
	opts.pipeline_depth = LOGSTORE_PIPELINE_DEPTH_MAX + 1;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log), -EINVAL);
	assert_null(log);
	t_options(&opts, &ctx->clock, SEG64);
	opts.batch_delay_ns = -1;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log), -EINVAL);
	opts.batch_delay_ns = LOGSTORE_BATCH_DELAY_MAX_NS + 1;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log), -EINVAL);
	t_options(&opts, &ctx->clock, SEG64);
	opts.durability = 5; /* one past LOGSTORE_DEFERRED */
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log), -EINVAL);
	t_options(&opts, &ctx->clock, SEG64);
	opts.deferred_delay_ns = -1;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log), -EINVAL);
	opts.deferred_delay_ns = LOGSTORE_DEFERRED_DELAY_MAX_NS + 1;
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &log), -EINVAL);
	assert_null(log);

	/* The bounds themselves work, and ASYNC as the log's default. */
	for (uint32_t depth = 1; depth <= LOGSTORE_PIPELINE_DEPTH_MAX;
	     depth += LOGSTORE_PIPELINE_DEPTH_MAX - 1) {
		struct t_entries model = {0};
		t_rmrf(ctx->dir);
		t_options(&opts, &ctx->clock, SEG64);
		opts.pipeline_depth = depth;
		opts.batch_delay_ns = LOGSTORE_BATCH_DELAY_MAX_NS;
		opts.durability = LOGSTORE_ASYNC;
		log = t_open(ctx->dir, &opts);
		for (int i = 0; i < 30; i++) {
			t_clock_advance(&ctx->clock, 1000);
			t_append(log, &model, 200, (uint64_t)i);
		}
		t_assert_ok(logstore_log_wait_durable(
		    log, model.v[model.n - 1].seq, -1));
		t_assert_log(log, NULL, &model, 0);
		t_close(log);
		t_entries_free(&model);
	}
}

/*
 * With several batches in flight, an fsync error fails the log: nothing
 * after the failure is acknowledged, waits report it, and every entry
 * that was acknowledged durable before it survives a reopen intact.
 */
static void test_fail_stop_pipelined(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	unsigned char buf[500];
	uint64_t seq = 0;
	logstore_log *log = open_depth(ctx, 1024 * 1024, 4, 0);

	t_append(log, &model, 100, 1);
	ls_prepare_wait_idle(log);
	ls_fault_set(LS_SYS_URING_FSYNC, 3, EIO);
	int rc = 0;
	for (int i = 0; i < 2000 && rc == 0; i++) {
		t_fill(buf, sizeof(buf), 50 + (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
		int64_t time_ns;
		rc = logstore_log_append(log, buf, sizeof(buf),
					 i % 50 == 49 ? LOGSTORE_DURABLE
						      : LOGSTORE_ASYNC,
					 &seq, &time_ns);
		/* A failed append may still have reached the file. */
		if (rc != 0)
			seq = model.v[model.n - 1].seq + 1;
		t_entries_push(&model, seq, rc ? 0 : time_ns, buf, sizeof(buf));
	}
	/* Waiting for the last entry reports the failure (or it was). */
	if (rc == 0)
		rc = logstore_log_wait_durable(log, seq, -1);
	assert_int_equal(rc == LOGSTORE_EFAILED || rc == -EIO, 1);
	uint64_t durable = logstore_log_durable_seq(log);
	assert_true(durable < model.v[model.n - 1].seq);
	assert_int_not_equal(stats_of(log).failed, 0);
	t_assert_rc(
	    logstore_log_append(log, "x", 1, LOGSTORE_ASYNC, &seq, NULL),
	    LOGSTORE_EFAILED);
	t_assert_rc(logstore_log_wait_durable(log, durable + 1, -1),
		    LOGSTORE_EFAILED);
	logstore_log_close(log);
	ls_fault_clear();

	/* Everything acknowledged durable is there, byte for byte. */
	log = open_depth(ctx, 1024 * 1024, 4, 0);
	struct t_entries seen = {0};
	assert_int_equal(t_read_all(log, NULL, &seen), LOGSTORE_END);
	assert_true(seen.n >= durable);
	assert_true(seen.n <= model.n);
	for (size_t i = 0; i < seen.n; i++) {
		assert_int_equal(seen.v[i].seq, model.v[i].seq);
		if (model.v[i].time_ns)
			assert_int_equal(seen.v[i].time_ns, model.v[i].time_ns);
		assert_int_equal(seen.v[i].len, model.v[i].len);
		assert_memory_equal(seen.v[i].data, model.v[i].data,
				    model.v[i].len);
	}
	t_entries_free(&seen);
	t_close(log);
	t_entries_free(&model);
}

/* Many async producers and durable appenders at once, depth 4. */
struct mixed_arg {
	logstore_log *log;
	int id;
	int rc;
	uint64_t last;
};

static void *mixed_thread(void *p)
{
	struct mixed_arg *a = p;
	unsigned char buf[64];
	for (int i = 0; i < 300 && a->rc == 0; i++) {
		t_fill(buf, sizeof(buf), (uint64_t)a->id * 1000 + (uint64_t)i);
		buf[0] = (unsigned char)a->id;
		a->rc = logstore_log_append(a->log, buf, sizeof(buf),
					    a->id % 2 ? LOGSTORE_ASYNC
						      : LOGSTORE_DURABLE,
					    &a->last, NULL);
	}
	return NULL;
}

static void test_mixed_async_and_durable_threads(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct mixed_arg args[4];
	pthread_t threads[4];
	struct t_entries seen = {0};
	size_t count[4] = {0};
	unsigned char want[64];
	logstore_log *log = open_depth(ctx, 256 * 1024, 4, 0);

	for (int i = 0; i < 4; i++) {
		args[i] = (struct mixed_arg){.log = log, .id = i};
		assert_int_equal(
		    pthread_create(&threads[i], NULL, mixed_thread, &args[i]),
		    0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		t_assert_ok(args[i].rc);
	}
	for (int i = 0; i < 4; i++)
		t_assert_ok(logstore_log_wait_durable(log, args[i].last, -1));
	assert_int_equal(t_read_all(log, NULL, &seen), LOGSTORE_END);
	assert_int_equal(seen.n, 1200);
	for (size_t k = 0; k < seen.n; k++) {
		int id = seen.v[k].data[0];
		assert_true(id >= 0 && id < 4);
		assert_int_equal(seen.v[k].seq, k + 1);
		t_fill(want, sizeof(want), (uint64_t)id * 1000 + count[id]++);
		want[0] = (unsigned char)id;
		assert_int_equal(seen.v[k].len, sizeof(want));
		assert_memory_equal(seen.v[k].data, want, sizeof(want));
	}
	t_entries_free(&seen);
	t_close(log);
}

/*
 * Gathering (writer.c gather(), gather_complete()). A durable appender
 * gathers with a window that never ends, so only a wake-up ends its
 * sleep: a lost one hangs the test (bounded by HANG_NS, then it fails).
 */
#define HANG_NS (30LL * T_SECOND) /* bound against hangs only */

struct gather_arg {
	logstore_log *log;
	int mode; /* GATHER_APPEND, GATHER_CLAIM, GATHER_SYNC */
	int rc;
	uint64_t seq;
	int done;
};

enum { GATHER_APPEND, GATHER_CLAIM, GATHER_SYNC };

static void *gather_thread(void *p)
{
	struct gather_arg *a = p;
	int rc;
	if (a->mode == GATHER_SYNC) {
		rc = logstore_log_sync(a->log);
	} else if (a->mode == GATHER_CLAIM) {
		struct logstore_claim c;
		rc = logstore_log_claim(a->log, 5, &c);
		if (!rc) {
			memcpy(c.data, "claim", 5);
			a->seq = c.seq;
			rc =
			    logstore_claim_commit(a->log, &c, LOGSTORE_DURABLE);
		}
	} else {
		rc = logstore_log_append(a->log, "gathered", 8,
					 LOGSTORE_DURABLE, &a->seq, NULL);
	}
	a->rc = rc;
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Poll *flag (or a field of log under mu) until set; false at bound_ns. */
static bool wait_set(logstore_log *log, bool *field, int *flag,
		     int64_t bound_ns)
{
	int64_t end = ls_monotonic_ns() + bound_ns;
	for (;;) {
		bool set;
		if (field) {
			pthread_mutex_lock(&log->mu);
			set = *field;
			pthread_mutex_unlock(&log->mu);
		} else {
			set = __atomic_load_n(flag, __ATOMIC_SEQ_CST) != 0;
		}
		if (set)
			return true;
		if (ls_monotonic_ns() >= end)
			return false;
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

/* Make the next durable leader gather for 2 callers, forever. */
static void gather_forever(logstore_log *log)
{
	pthread_mutex_lock(&log->mu);
	log->gather_target = 2;
	log->gather_until_ns = INT64_MAX / 2;
	pthread_mutex_unlock(&log->mu);
}

/*
 * One durable appender gathers; a second caller (an append, a claim
 * commit) completes the gathering and its batch is written with one
 * fdatasync, held meanwhile: neither is acknowledged before it, mu is
 * not held across it (a deferred append goes through), a sync caller
 * that waited for the gathering returns, and every caller returns once
 * it completes (or fails, err) without the gatherer's window ending.
 */
static void gather_case(struct t_ctx *ctx, int mode, bool with_sync, int err)
{
	struct gather_arg g = {0}, c = {0}, s = {0};
	pthread_t tg, tc, ts;
	uint64_t seq;
	logstore_log *log = open_depth(ctx, SEG64 * 4, 2, 0);

	t_assert_ok(
	    logstore_log_append(log, "first", 5, LOGSTORE_DURABLE, NULL, NULL));
	ls_prepare_wait_idle(log);
	uint64_t fsyncs = stats_of(log).fsyncs;
	gather_forever(log);
	g = (struct gather_arg){.log = log, .mode = GATHER_APPEND};
	assert_int_equal(pthread_create(&tg, NULL, gather_thread, &g), 0);
	assert_true(wait_set(log, &log->gathering, NULL, HANG_NS));
	if (with_sync) {
		s = (struct gather_arg){.log = log, .mode = GATHER_SYNC};
		assert_int_equal(pthread_create(&ts, NULL, gather_thread, &s),
				 0);
		assert_true(wait_set(log, &log->sync_requested, NULL, HANG_NS));
	}
	ls_fault_set_hold(LS_SYS_FDATASYNC, 1);
	if (err)
		ls_fault_set(LS_SYS_FDATASYNC, 1, err);
	c = (struct gather_arg){.log = log, .mode = mode};
	assert_int_equal(pthread_create(&tc, NULL, gather_thread, &c), 0);
	assert_true(ls_fault_wait_held(LS_SYS_FDATASYNC, HANG_NS));
	assert_int_equal(__atomic_load_n(&g.done, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST), 0);
	assert_int_equal(logstore_log_durable_seq(log), 1);
	t_assert_ok(
	    logstore_log_append(log, "d", 1, LOGSTORE_DEFERRED, &seq, NULL));
	ls_fault_release(LS_SYS_FDATASYNC);
	assert_true(wait_set(log, NULL, &c.done, HANG_NS));
	assert_true(wait_set(log, NULL, &g.done, HANG_NS));
	if (with_sync)
		assert_true(wait_set(log, NULL, &s.done, HANG_NS));
	pthread_join(tc, NULL);
	pthread_join(tg, NULL);
	if (with_sync)
		pthread_join(ts, NULL);
	if (err) {
		t_assert_rc(g.rc, LOGSTORE_EFAILED);
		t_assert_rc(c.rc, LOGSTORE_EFAILED);
		assert_int_equal(logstore_log_durable_seq(log), 1);
		assert_int_not_equal(stats_of(log).failed, 0);
		logstore_log_close(log);
		return;
	}
	t_assert_ok(g.rc);
	t_assert_ok(c.rc);
	if (with_sync)
		t_assert_ok(s.rc);
	/* One batch, one fdatasync, for both callers. */
	assert_int_equal(stats_of(log).fsyncs, fsyncs + 1);
	assert_true(logstore_log_durable_seq(log) >= 3);
	assert_true(g.seq == 2 || c.seq == 2);
	t_close(log);
}

static void test_gather_completed_by_append(void **state)
{
	gather_case(ctx_of(state), GATHER_APPEND, false, 0);
}

static void test_gather_completed_by_claim(void **state)
{
	gather_case(ctx_of(state), GATHER_CLAIM, false, 0);
}

static void test_gather_with_sync_waiting(void **state)
{
	gather_case(ctx_of(state), GATHER_APPEND, true, 0);
}

static void test_gather_completed_fsync_fails(void **state)
{
	gather_case(ctx_of(state), GATHER_APPEND, false, EIO);
}

/*
 * logstore_log_wait_durable() with a timeout returns by it even while a
 * batch with durable callers is in flight (its fdatasync held): a
 * timeout of 0 only checks.
 */
struct timed_arg {
	logstore_log *log;
	uint64_t seq;
	int64_t timeout_ns;
	int rc;
	int done;
};

static void *timed_thread(void *p)
{
	struct timed_arg *a = p;
	a->rc = logstore_log_wait_durable(a->log, a->seq, a->timeout_ns);
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_wait_durable_timeout_while_in_flight(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct gather_arg g = {0};
	struct timed_arg w = {0};
	pthread_t tg, tw;
	logstore_log *log = open_depth(ctx, SEG64 * 4, 2, 0);

	t_assert_ok(
	    logstore_log_append(log, "first", 5, LOGSTORE_DURABLE, NULL, NULL));
	ls_prepare_wait_idle(log);
	ls_fault_set_hold(LS_SYS_FDATASYNC, 1);
	g = (struct gather_arg){.log = log, .mode = GATHER_APPEND};
	assert_int_equal(pthread_create(&tg, NULL, gather_thread, &g), 0);
	assert_true(ls_fault_wait_held(LS_SYS_FDATASYNC, HANG_NS));
	/* In the fill batch; the flushers wait for the batch in flight. */
	t_assert_ok(
	    logstore_log_append(log, "async", 5, LOGSTORE_ASYNC, &w.seq, NULL));
	/*
	 * 0 only checks; 50 ms waits in gather() behind the durable batch
	 * in flight, up to its deadline. Neither may wait for the held
	 * fsync, which is released only after both returned (or HANG_NS).
	 */
	const int64_t timeouts[] = {0, 50 * 1000 * 1000};
	bool returned[2];
	int rcs[2];
	for (int i = 0; i < 2; i++) {
		w = (struct timed_arg){
		    .log = log, .seq = w.seq, .timeout_ns = timeouts[i]};
		assert_int_equal(pthread_create(&tw, NULL, timed_thread, &w),
				 0);
		returned[i] = wait_set(log, NULL, &w.done, HANG_NS);
		if (!returned[i])
			ls_fault_release(LS_SYS_FDATASYNC);
		pthread_join(tw, NULL);
		rcs[i] = w.rc;
	}
	ls_fault_release(LS_SYS_FDATASYNC);
	pthread_join(tg, NULL);
	t_assert_ok(g.rc);
	for (int i = 0; i < 2; i++) {
		assert_true(returned[i]);
		t_assert_rc(rcs[i], -ETIMEDOUT);
	}
	t_close(log);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_async_append_and_wait),
	    T(test_gather_completed_by_append),
	    T(test_gather_completed_by_claim),
	    T(test_gather_with_sync_waiting),
	    T(test_gather_completed_fsync_fails),
	    T(test_wait_durable_timeout_while_in_flight),
	    T(test_wait_durable_syncs_buffered),
	    T(test_deferred_append),
	    T(test_claim_commit),
	    T(test_claim_abort),
	    T(test_claim_errors),
	    T(test_prepared_segment_rollover),
	    T(test_small_segment_zero_filled_in_bursts),
	    T(test_old_segment_sealed_in_background),
	    T(test_failed_preparation_is_retried),
	    T(test_option_validation),
	    T(test_fail_stop_pipelined),
	    T(test_mixed_async_and_durable_threads),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
