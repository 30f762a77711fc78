/* SPDX-License-Identifier: MIT */
/*
 * Goal: the public behaviour of a log through include/logstore.h: appends
 * and reads, segment rollover by size and by time, seeking by time and by
 * sequence number, time rules, locking, the segment list, removal and
 * retention (by call and by the compactor thread), batches, limits and
 * option checks, read-only handles, durability modes and tailing readers.
 * It covers what the Go library elgopher/logstore tests, plus the
 * contracts of this API.
 *
 * Method: every test gets a fresh directory under /tmp and a fake clock
 * (no test depends on timing). The test keeps a model of what it appended
 * (seq, time, payload) and reads the log back comparing byte for byte;
 * sizes and names of the files on disk are checked with stat/readdir.
 * Small segments (16 or 64 KiB) make rollovers cheap. The only wait is
 * for the compactor thread, polled with a generous bound: correctness
 * never depends on how long it takes.
 */
#include "helpers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "format.h"

#define SEG16 16384u
#define SEG64 65536u

static struct t_ctx *ctx_of(void **state)
{
	return *state;
}

static logstore_log *open_ro(struct t_ctx *ctx)
{
	struct logstore_options opts;

	t_options(&opts, &ctx->clock, 0);
	opts.read_only = true;
	return t_open(ctx->dir, &opts);
}

static struct logstore_stats stats_of(logstore_log *log)
{
	struct logstore_stats st;

	memset(&st, 0xff, sizeof(st));
	logstore_log_stats(log, &st);
	return st;
}

/* Expected segment of every entry, by simulating the size rollover. */
static void split_by_size(const struct t_entries *model, uint64_t seg_bytes,
			  uint64_t *first_seq_of_seg, size_t *nseg)
{
	uint64_t cap = t_data_bytes(seg_bytes);
	uint64_t used = cap + 1;

	*nseg = 0;
	for (size_t i = 0; i < model->n; i++) {
		uint64_t rec = ls_record_bytes(model->v[i].len);

		if (used + rec > cap) {
			first_seq_of_seg[(*nseg)++] = model->v[i].seq;
			used = 0;
		}
		used += rec;
	}
}

static void test_version_and_null(void **state)
{
	(void)state;
	assert_int_equal(logstore_version(), LOGSTORE_VERSION_NUMBER);
	assert_int_equal(logstore_log_close(NULL), 0);
	logstore_reader_close(NULL);
}

static void test_append_one(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG64);
	struct t_entries model = {0};
	uint64_t seq = 0;
	int64_t time_ns = 0;

	t_assert_ok(logstore_log_append(log, "data1", 5, 0, &seq, &time_ns));
	assert_int_equal(seq, 1);
	assert_int_equal(time_ns, T_TIME0);
	t_entries_push(&model, seq, time_ns, "data1", 5);
	t_assert_log(log, NULL, &model, 0);
	/* Either out-parameter may be NULL. */
	t_assert_ok(logstore_log_append(log, "x", 1, 0, NULL, NULL));
	t_close(log);
	t_entries_free(&model);
}

/* Empty payloads are entries too. */
static void test_empty_payload(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_entry e;
	unsigned char buf[4];

	t_append_data(log, &model, "", 0);
	t_append_data(log, &model, "z", 1);
	t_append_data(log, &model, "", 0);
	t_assert_log(log, NULL, &model, 0);
	t_assert_ok(logstore_log_last_entry(log, &e, buf, sizeof(buf)));
	assert_int_equal(e.seq, 3);
	assert_int_equal(e.len, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_append_two(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG64);
	struct t_entries model = {0};

	t_append_data(log, &model, "data1", 5);
	t_clock_advance(&ctx->clock, 3600 * T_SECOND);
	t_append_data(log, &model, "data2", 5);
	assert_int_equal(model.v[0].time_ns, T_TIME0);
	assert_int_equal(model.v[1].time_ns, T_TIME0 + 3600 * T_SECOND);
	assert_int_equal(model.v[1].seq, 2);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_open_creates_dir(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	char *dir = t_path(ctx->dir, "missing");
	struct logstore_options opts;
	logstore_log *log;

	t_options(&opts, &ctx->clock, SEG16);
	log = t_open(dir, &opts);
	assert_true(t_file_exists(dir));
	t_close(log);
	free(dir);
}

static void test_new_segment_at_size_limit(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	uint64_t per = t_data_bytes(SEG16) / ls_record_bytes(1000);
	struct logstore_segment_info *segs;
	size_t n;

	for (uint64_t i = 0; i < per; i++)
		t_append(log, &model, 1000, i);
	segs = t_segments(log, &n);
	assert_int_equal(n, 1);
	assert_int_equal(segs[0].entries, per);
	free(segs);

	t_append(log, &model, 1000, per);
	segs = t_segments(log, &n);
	assert_int_equal(n, 2);
	assert_int_equal(segs[0].entries, per);
	assert_int_equal(segs[1].entries, 1);
	assert_int_equal(segs[1].first_seq, per + 1);
	free(segs);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/* Records may end exactly at the index region: the segment is full. */
static void test_segment_filled_exactly(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	uint64_t rec = t_data_bytes(SEG16) / 4;
	struct logstore_segment_info *segs;
	size_t n;

	assert_int_equal(rec % LS_RECORD_ALIGN, 0);
	for (int i = 0; i < 4; i++)
		t_append(log, &model, rec - LS_RECORD_HEADER_BYTES, i);
	segs = t_segments(log, &n);
	assert_int_equal(n, 1);
	assert_int_equal(segs[0].entries, 4);
	assert_int_equal(segs[0].bytes, t_data_bytes(SEG16));
	free(segs);
	t_append(log, &model, 1, 99);
	segs = t_segments(log, &n);
	assert_int_equal(n, 2);
	assert_int_equal(segs[1].first_seq, 5);
	free(segs);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_new_segment_at_duration_limit(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_options opts;
	struct t_entries model = {0};
	struct logstore_segment_info *segs;
	logstore_log *log;
	size_t n;

	t_options(&opts, &ctx->clock, SEG64);
	opts.segment_duration_ns = T_SECOND;
	log = t_open(ctx->dir, &opts);
	t_append_data(log, &model, "data1", 5);
	t_clock_advance(&ctx->clock, T_SECOND / 2);
	t_append_data(log, &model, "data2", 5);
	segs = t_segments(log, &n);
	assert_int_equal(n, 1);
	free(segs);

	/* Past first time + duration: a new segment. */
	t_clock_set(&ctx->clock, T_TIME0 + T_SECOND + 1);
	t_append_data(log, &model, "data3", 5);
	segs = t_segments(log, &n);
	assert_int_equal(n, 2);
	assert_int_equal(segs[0].entries, 2);
	assert_int_equal(segs[1].entries, 1);
	assert_int_equal(segs[1].first_time_ns, T_TIME0 + T_SECOND + 1);
	assert_int_equal(segs[1].first_seq, 3);
	free(segs);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void assert_seg_files_exact(const char *dir, uint64_t seg_bytes,
				   size_t expect)
{
	char names[64][64];
	size_t n = t_seg_files(dir, names, 64);

	assert_int_equal(n, expect);
	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		char *path = t_path(dir, names[i]);

		assert_int_equal(t_file_size(path), (int64_t)seg_bytes);
		free(path);
	}
}

/* Two writers one after the other; every segment file stays at the limit. */
static void test_segment_files_never_exceed_limit(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_segment_info *segs;
	size_t n;

	for (int round = 0; round < 2; round++) {
		logstore_log *log = t_open_small(ctx, SEG16);

		for (int i = 0; i < 120; i++) {
			uint64_t seed = (uint64_t)round * 1000 + (uint64_t)i;

			t_clock_advance(&ctx->clock, 1000);
			t_append(log, &model, 1 + t_mix(seed) % 3000, seed);
		}
		segs = t_segments(log, &n);
		assert_true(n >= 2);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(segs[i].file_bytes, SEG16);
			assert_true(segs[i].bytes <= t_data_bytes(SEG16));
		}
		free(segs);
		assert_seg_files_exact(ctx->dir, SEG16, n);
		t_assert_log(log, NULL, &model, 0);
		t_close(log);
	}
	t_entries_free(&model);
}

static void test_read_across_segments_and_writers(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log;
	size_t n;

	log = t_open_small(ctx, SEG64);
	for (int i = 0; i < 300; i++)
		t_append(log, &model, 1 + t_mix((uint64_t)i) % 500,
			 (uint64_t)i);
	t_close(log);

	log = t_open_small(ctx, SEG64);
	for (int i = 300; i < 600; i++)
		t_append(log, &model, 1 + t_mix((uint64_t)i) % 500,
			 (uint64_t)i);
	free(t_segments(log, &n));
	assert_true(n >= 3);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	/* And through a read-only handle. */
	log = open_ro(ctx);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/*
 * 20 entries of 1000 bytes, 1000 ns apart, in 16 KiB segments: three
 * segments. Returns the open log.
 */
static logstore_log *build_timed_log(struct t_ctx *ctx, struct t_entries *model,
				     uint64_t *per)
{
	logstore_log *log = t_open_small(ctx, SEG16);

	*per = t_data_bytes(SEG16) / ls_record_bytes(1000);
	for (int i = 0; i < 20; i++) {
		t_append(log, model, 1000, (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
	}
	return log;
}

static void test_start_time_before_first(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	struct logstore_start start = t_start_time(T_TIME0 - 3600 * T_SECOND);

	t_assert_log(log, &start, &model, 0);
	start = t_start_time(model.v[0].time_ns);
	t_assert_log(log, &start, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_start_time_after_last(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	int64_t last = model.v[model.n - 1].time_ns;
	struct logstore_start start = t_start_time(last + 1);
	logstore_reader *reader;
	struct logstore_entry e;

	t_assert_ok(logstore_reader_open(log, &start, &reader));
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	/* An entry appended later at a time >= start is then read. */
	t_clock_set(&ctx->clock, last + 5);
	t_append_data(log, &model, "later", 5);
	t_assert_ok(logstore_reader_next(reader, &e));
	assert_int_equal(e.seq, model.v[model.n - 1].seq);
	assert_int_equal(e.time_ns, last + 5);
	assert_int_equal(e.len, 5);
	assert_memory_equal(e.data, "later", 5);
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	logstore_reader_close(reader);
	t_close(log);
	t_entries_free(&model);
}

static void test_start_time_at_end_of_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	struct logstore_start start;

	/* The last entry of the first and of the second segment. */
	start = t_start_time(model.v[per - 1].time_ns);
	t_assert_log(log, &start, &model, per - 1);
	start = t_start_time(model.v[2 * per - 1].time_ns);
	t_assert_log(log, &start, &model, 2 * per - 1);
	/* The last entry of the log. */
	start = t_start_time(model.v[model.n - 1].time_ns);
	t_assert_log(log, &start, &model, model.n - 1);
	t_close(log);
	t_entries_free(&model);
}

static void test_start_time_between_entries(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	struct logstore_start start;

	start = t_start_time(model.v[2].time_ns + 1);
	t_assert_log(log, &start, &model, 3);
	start = t_start_time(model.v[3].time_ns - 1);
	t_assert_log(log, &start, &model, 3);
	/* Between the last of segment 1 and the first of segment 2. */
	start = t_start_time(model.v[per - 1].time_ns + 1);
	t_assert_log(log, &start, &model, per);
	t_close(log);
	t_entries_free(&model);
}

static void test_start_time_at_second_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	struct logstore_segment_info *segs;
	struct logstore_start start;
	size_t n;

	segs = t_segments(log, &n);
	assert_int_equal(n, 3);
	assert_int_equal(segs[1].first_seq, per + 1);
	assert_int_equal(segs[1].first_time_ns, model.v[per].time_ns);
	start = t_start_time(segs[1].first_time_ns);
	t_assert_log(log, &start, &model, per);
	free(segs);
	t_close(log);
	t_entries_free(&model);
}

static void test_start_seq(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	struct logstore_start start;
	logstore_reader *reader;
	struct logstore_entry e;

	start = t_start_seq(0);
	t_assert_log(log, &start, &model, 0);
	start = t_start_seq(1);
	t_assert_log(log, &start, &model, 0);
	start = t_start_seq(5);
	t_assert_log(log, &start, &model, 4);
	start = t_start_seq(per);
	t_assert_log(log, &start, &model, per - 1);
	start = t_start_seq(per + 1);
	t_assert_log(log, &start, &model, per);
	start = t_start_seq(model.n);
	t_assert_log(log, &start, &model, model.n - 1);

	/* Past the end: END, then the next appended entry. */
	start = t_start_seq(model.n + 1);
	t_assert_ok(logstore_reader_open(log, &start, &reader));
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	t_append_data(log, &model, "next", 4);
	t_assert_ok(logstore_reader_next(reader, &e));
	assert_int_equal(e.seq, model.n);
	assert_memory_equal(e.data, "next", 4);
	logstore_reader_close(reader);
	t_close(log);
	t_entries_free(&model);
}

static void test_start_invalid(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct logstore_start start = {.kind = 9};
	logstore_reader *reader = NULL;

	t_append_data(log, NULL, "a", 1);
	t_assert_rc(logstore_reader_open(log, &start, &reader), -EINVAL);
	t_close(log);
}

static void test_forced_time_rejected(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	uint64_t seq = 0;

	t_assert_ok(
	    logstore_log_append_at(log, T_TIME0 + 100, "a", 1, 0, &seq));
	assert_int_equal(seq, 1);
	t_entries_push(&model, 1, T_TIME0 + 100, "a", 1);

	seq = 77;
	t_assert_rc(logstore_log_append_at(log, T_TIME0 + 100, "b", 1, 0, &seq),
		    LOGSTORE_ETIME);
	t_assert_rc(logstore_log_append_at(log, T_TIME0 + 50, "c", 1, 0, &seq),
		    LOGSTORE_ETIME);
	t_assert_rc(logstore_log_append_at(log, 0, "d", 1, 0, &seq), -EINVAL);
	t_assert_rc(logstore_log_append_at(log, -5, "e", 1, 0, &seq), -EINVAL);
	t_assert_log(log, NULL, &model, 0);
	assert_int_equal(stats_of(log).last_seq, 1);

	/* No sequence number was consumed. */
	t_assert_ok(
	    logstore_log_append_at(log, T_TIME0 + 101, "f", 1, 0, &seq));
	assert_int_equal(seq, 2);
	t_entries_push(&model, 2, T_TIME0 + 101, "f", 1);
	/* The fake clock (T_TIME0) is behind: automatic time is last + 1. */
	t_append_data(log, &model, "g", 1);
	assert_int_equal(model.v[2].seq, 3);
	assert_int_equal(model.v[2].time_ns, T_TIME0 + 102);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_auto_time_bumped(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};

	t_append_data(log, &model, "a", 1);
	assert_int_equal(model.v[0].time_ns, T_TIME0);
	/* Clock stalls. */
	t_append_data(log, &model, "b", 1);
	assert_int_equal(model.v[1].time_ns, T_TIME0 + 1);
	/* Clock goes back. */
	t_clock_set(&ctx->clock, T_TIME0 - T_SECOND);
	t_append_data(log, &model, "c", 1);
	assert_int_equal(model.v[2].time_ns, T_TIME0 + 2);
	/* Clock moves on. */
	t_clock_set(&ctx->clock, T_TIME0 + T_SECOND);
	t_append_data(log, &model, "d", 1);
	assert_int_equal(model.v[3].time_ns, T_TIME0 + T_SECOND);
	t_close(log);

	/* After reopen with a clock behind the last entry. */
	t_clock_set(&ctx->clock, T_TIME0);
	log = t_open_small(ctx, SEG16);
	t_append_data(log, &model, "e", 1);
	assert_int_equal(model.v[4].time_ns, T_TIME0 + T_SECOND + 1);
	assert_int_equal(model.v[4].seq, 5);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_second_writer_locked(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct logstore_options opts;
	logstore_log *other = NULL;
	logstore_log *ro;
	struct t_entries model = {0};

	t_append_data(log, &model, "held", 4);
	t_options(&opts, &ctx->clock, SEG16);
	t_assert_rc(logstore_log_open(ctx->dir, &opts, &other),
		    LOGSTORE_ELOCKED);

	/* A read-only open works while the writer holds the lock. */
	ro = open_ro(ctx);
	t_assert_log(ro, NULL, &model, 0);
	t_append_data(log, &model, "more", 4);
	t_assert_log(ro, NULL, &model, 0);
	t_close(ro);

	/* The lock goes with the writer. */
	t_close(log);
	log = t_open(ctx->dir, &opts);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_segments_list(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_segment_info *segs;
	uint64_t firsts[64];
	size_t n, nexp;

	segs = t_segments(log, &n);
	assert_int_equal(n, 0);
	free(segs);

	for (int i = 0; i < 40; i++) {
		t_clock_advance(&ctx->clock, 1000 + i);
		t_append(log, &model, 1 + t_mix((uint64_t)i) % 1500,
			 (uint64_t)i);
	}
	split_by_size(&model, SEG16, firsts, &nexp);
	segs = t_segments(log, &n);
	assert_int_equal(n, nexp);
	assert_true(n >= 3);
	for (size_t s = 0; s < n; s++) {
		uint64_t first = firsts[s];
		uint64_t last = s + 1 < n ? firsts[s + 1] - 1 : model.n;
		uint64_t bytes = 0;
		char name[64];

		for (uint64_t q = first; q <= last; q++)
			bytes += ls_record_bytes(model.v[q - 1].len);
		snprintf(name, sizeof(name), "%020" PRIu64 ".seg", first);
		assert_string_equal(segs[s].name, name);
		assert_int_equal(segs[s].first_seq, first);
		assert_int_equal(segs[s].last_seq, last);
		assert_int_equal(segs[s].first_time_ns,
				 model.v[first - 1].time_ns);
		assert_int_equal(segs[s].last_time_ns,
				 model.v[last - 1].time_ns);
		assert_int_equal(segs[s].entries, last - first + 1);
		assert_int_equal(segs[s].bytes, bytes);
		assert_int_equal(segs[s].file_bytes, SEG16);
		assert_int_equal(segs[s].active, s == n - 1);
		if (s)
			assert_true(segs[s].first_time_ns >
				    segs[s - 1].last_time_ns);
	}
	free(segs);

	/* cap smaller than n: fills cap, reports n. */
	struct logstore_segment_info two[2];
	size_t count = 0;

	t_assert_ok(logstore_log_segments(log, two, 2, &count));
	assert_int_equal(count, n);
	assert_int_equal(two[1].first_seq, firsts[1]);
	t_close(log);
	t_entries_free(&model);
}

static void test_remove_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log;
	struct logstore_segment_info *segs, *after;
	size_t n, n2;
	char *path;

	log = t_open_small(ctx, SEG16);
	t_assert_rc(logstore_log_remove_segment(log, T_TIME0),
		    LOGSTORE_ENOTFOUND);
	t_close(log);

	log = build_timed_log(ctx, &model, &per);
	segs = t_segments(log, &n);
	assert_int_equal(n, 3);
	t_assert_rc(logstore_log_remove_segment(log, segs[0].first_time_ns + 1),
		    LOGSTORE_ENOTFOUND);
	t_assert_rc(logstore_log_remove_segment(log, segs[2].first_time_ns),
		    LOGSTORE_EACTIVE);

	path = t_path(ctx->dir, segs[0].name);
	assert_true(t_file_exists(path));
	t_assert_ok(logstore_log_remove_segment(log, segs[0].first_time_ns));
	assert_false(t_file_exists(path));
	free(path);
	after = t_segments(log, &n2);
	assert_int_equal(n2, 2);
	assert_string_equal(after[0].name, segs[1].name);
	assert_string_equal(after[1].name, segs[2].name);
	assert_int_equal(after[0].first_seq, segs[1].first_seq);
	free(after);
	t_assert_rc(logstore_log_remove_segment(log, segs[0].first_time_ns),
		    LOGSTORE_ENOTFOUND);
	assert_int_equal(stats_of(log).segments_removed, 1);
	assert_seg_files_exact(ctx->dir, SEG16, 2);

	/* The oldest entry is now the first of the second segment. */
	t_assert_log(log, NULL, &model, per);
	free(segs);
	t_close(log);
	t_entries_free(&model);
}

static void test_last_entry(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_entry e;
	unsigned char buf[64];

	t_assert_rc(logstore_log_last_entry(log, &e, buf, sizeof(buf)),
		    LOGSTORE_END);
	t_append_data(log, &model, "first", 5);
	t_append_data(log, &model, "second", 6);
	t_append_data(log, &model, "the third one", 13);

	for (int round = 0; round < 3; round++) {
		memset(buf, 0xee, sizeof(buf));
		memset(&e, 0, sizeof(e));
		t_assert_ok(logstore_log_last_entry(log, &e, buf, sizeof(buf)));
		assert_int_equal(e.seq, 3);
		assert_int_equal(e.time_ns, model.v[2].time_ns);
		assert_int_equal(e.len, 13);
		assert_ptr_equal(e.data, buf);
		assert_memory_equal(buf, "the third one", 13);

		/* At most cap bytes are copied; len stays the full length. */
		memset(buf, 0xee, sizeof(buf));
		t_assert_ok(logstore_log_last_entry(log, &e, buf, 4));
		assert_int_equal(e.len, 13);
		assert_memory_equal(buf, "the ", 4);
		assert_int_equal(buf[4], 0xee);

		t_close(log);
		/* Again after reopen (round 0), and read-only (round 1). */
		if (round == 0)
			log = t_open_small(ctx, SEG16);
		else
			log = open_ro(ctx);
	}
	t_close(log);
	t_entries_free(&model);
}

/*
 * Four segments by duration (1 s): segment k holds 3 entries at
 * T_TIME0 + k * 10 s + {0, 1, 2} ns. The last one is active.
 */
static logstore_log *build_aged_log(struct t_ctx *ctx, struct t_entries *model)
{
	struct logstore_options opts;
	logstore_log *log;

	t_options(&opts, &ctx->clock, SEG16);
	opts.segment_duration_ns = T_SECOND;
	log = t_open(ctx->dir, &opts);
	for (int k = 0; k < 4; k++) {
		t_clock_set(&ctx->clock, T_TIME0 + k * 10 * T_SECOND);
		for (int j = 0; j < 3; j++)
			t_append(log, model, 100, (uint64_t)(k * 3 + j));
	}
	return log;
}

static void test_retention_remove_older_than(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_aged_log(ctx, &model);
	struct logstore_segment_info *segs, *after;
	char names[8][64];
	size_t n, n2, removed = 99;

	segs = t_segments(log, &n);
	assert_int_equal(n, 4);
	assert_int_equal(segs[1].last_time_ns, T_TIME0 + 10 * T_SECOND + 2);

	/* Nothing is older than the oldest entry. */
	t_assert_ok(logstore_log_remove_older_than(log, T_TIME0, &removed));
	assert_int_equal(removed, 0);
	/* The cutoff equals segment 1's newest entry: only segment 0 goes. */
	t_assert_ok(logstore_log_remove_older_than(log, segs[1].last_time_ns,
						   &removed));
	assert_int_equal(removed, 1);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 3);
	assert_string_equal(names[0], segs[1].name);
	after = t_segments(log, &n2);
	assert_int_equal(n2, 3);
	assert_string_equal(after[0].name, segs[1].name);
	free(after);

	/* A cutoff past everything: every sealed one, never the active. */
	t_assert_ok(logstore_log_remove_older_than(
	    log, T_TIME0 + 1000 * T_SECOND, &removed));
	assert_int_equal(removed, 2);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 1);
	assert_string_equal(names[0], segs[3].name);
	after = t_segments(log, &n2);
	assert_int_equal(n2, 1);
	assert_true(after[0].active);
	free(after);
	t_assert_ok(logstore_log_remove_older_than(
	    log, T_TIME0 + 1000 * T_SECOND, NULL));
	t_assert_log(log, NULL, &model, 9);
	assert_int_equal(stats_of(log).segments_removed, 3);
	free(segs);
	t_close(log);
	t_entries_free(&model);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};

	nanosleep(&ts, NULL);
}

static void test_compactor(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log = build_aged_log(ctx, &model);
	struct logstore_segment_info *segs, *after;
	char names[8][64];
	size_t n, n2 = 0;

	segs = t_segments(log, &n);
	assert_int_equal(n, 4);
	t_assert_rc(logstore_compactor_stop(log), -ENOENT);
	t_assert_rc(logstore_compactor_start(log, -1, T_SECOND), -EINVAL);

	/* Clock at 25 s, retention 10 s: segments 0 and 1 (newest < 15 s). */
	t_clock_set(&ctx->clock, T_TIME0 + 25 * T_SECOND);
	t_assert_ok(logstore_compactor_start(log, 1000000, 10 * T_SECOND));
	t_assert_rc(logstore_compactor_start(log, 1000000, 10 * T_SECOND),
		    -EALREADY);
	for (int i = 0; i < 10000; i++) {
		free(t_segments(log, &n2));
		if (n2 <= 2)
			break;
		sleep_ms(1);
	}
	t_assert_ok(logstore_compactor_stop(log));
	t_assert_rc(logstore_compactor_stop(log), -ENOENT);

	after = t_segments(log, &n2);
	assert_int_equal(n2, 2);
	assert_string_equal(after[0].name, segs[2].name);
	assert_string_equal(after[1].name, segs[3].name);
	free(after);
	assert_int_equal(t_seg_files(ctx->dir, names, 8), 2);
	assert_string_equal(names[0], segs[2].name);
	assert_string_equal(names[1], segs[3].name);
	t_assert_log(log, NULL, &model, 6);
	free(segs);
	t_close(log);
	t_entries_free(&model);
}

static void check_batch_model(struct t_entries *model,
			      struct logstore_batch_entry *b, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (model->n) {
			const struct t_entry *prev = &model->v[model->n - 1];

			assert_int_equal(b[i].seq, prev->seq + 1);
			assert_true(b[i].time_ns > prev->time_ns);
		}
		t_entries_push(model, b[i].seq, b[i].time_ns, b[i].data,
			       b[i].len);
	}
}

static void test_append_batch(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_batch_entry b[5];
	static const char *words[5] = {"alpha", "beta", "gamma", "delta",
				       "epsilon"};
	struct logstore_batch_entry *huge;

	t_append_data(log, &model, "before", 6);
	for (int i = 0; i < 5; i++)
		b[i] = (struct logstore_batch_entry){.data = words[i],
						     .len = strlen(words[i])};
	t_assert_ok(logstore_log_append_batch(log, b, 5, 0));
	assert_int_equal(b[0].seq, 2);
	assert_int_equal(b[4].seq, 6);
	/* The clock stalls at T_TIME0: automatic times are last + 1. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(b[i].time_ns, T_TIME0 + 1 + i);
	check_batch_model(&model, b, 5);

	/* Forced times. */
	for (int i = 0; i < 3; i++) {
		b[i].time_ns = T_TIME0 + 1000 * (i + 1);
		b[i].seq = 0;
	}
	t_assert_ok(logstore_log_append_batch(log, b, 3, LOGSTORE_DURABLE));
	assert_int_equal(b[0].seq, 7);
	assert_int_equal(b[2].time_ns, T_TIME0 + 3000);
	check_batch_model(&model, b, 3);

	/* Forced times that do not increase, or not after the last entry. */
	b[0].time_ns = T_TIME0 + 5000;
	b[1].time_ns = T_TIME0 + 5000;
	t_assert_rc(logstore_log_append_batch(log, b, 2, 0), LOGSTORE_ETIME);
	b[0].time_ns = T_TIME0 + 3000;
	b[1].time_ns = T_TIME0 + 6000;
	t_assert_rc(logstore_log_append_batch(log, b, 2, 0), LOGSTORE_ETIME);
	t_assert_rc(logstore_log_append_batch(log, b, 0, 0), -EINVAL);
	huge = calloc(LOGSTORE_BATCH_ENTRIES_MAX + 1, sizeof(*huge));
	assert_non_null(huge);
	for (size_t i = 0; i <= LOGSTORE_BATCH_ENTRIES_MAX; i++)
		huge[i] = (struct logstore_batch_entry){.data = "x", .len = 1};
	t_assert_rc(logstore_log_append_batch(
			log, huge, LOGSTORE_BATCH_ENTRIES_MAX + 1, 0),
		    -EINVAL);
	free(huge);
	assert_int_equal(stats_of(log).last_seq, 9);
	t_assert_log(log, NULL, &model, 0);

	/* Nothing was consumed by the failures. */
	t_append_data(log, &model, "after", 5);
	assert_int_equal(model.v[model.n - 1].seq, 10);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_batch_too_big(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_options opts;
	struct t_entries model = {0};
	struct logstore_batch_entry b[10];
	static unsigned char payload[10][2000];
	logstore_log *log;
	size_t n;

	for (int i = 0; i < 10; i++)
		t_fill(payload[i], sizeof(payload[i]), (uint64_t)i);
	t_options(&opts, &ctx->clock, SEG64);
	opts.batch_bytes_max = LOGSTORE_BATCH_BYTES_MIN;
	log = t_open(ctx->dir, &opts);
	for (int i = 0; i < 3; i++)
		b[i] = (struct logstore_batch_entry){.data = payload[i],
						     .len = 2000};
	t_assert_rc(logstore_log_append_batch(log, b, 3, 0), LOGSTORE_ETOOBIG);
	free(t_segments(log, &n));
	assert_int_equal(n, 0);
	assert_int_equal(stats_of(log).last_seq, 0);
	for (int i = 0; i < 3; i++)
		b[i].len = 1000;
	t_assert_ok(logstore_log_append_batch(log, b, 3, 0));
	assert_int_equal(b[0].seq, 1);
	check_batch_model(&model, b, 3);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	t_entries_free(&model);

	/* A batch larger than a segment, with room in the batch buffer. */
	t_rmrf(ctx->dir);
	t_options(&opts, &ctx->clock, SEG16);
	log = t_open(ctx->dir, &opts);
	assert_true(10 * ls_record_bytes(1000) > t_data_bytes(SEG16));
	for (int i = 0; i < 10; i++)
		b[i] = (struct logstore_batch_entry){.data = payload[i],
						     .len = 1000};
	t_assert_rc(logstore_log_append_batch(log, b, 10, 0), LOGSTORE_ETOOBIG);
	free(t_segments(log, &n));
	assert_int_equal(n, 0);
	t_append_data(log, &model, "ok", 2);
	assert_int_equal(model.v[0].seq, 1);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

/* A batch that does not fit the active segment goes whole to a new one. */
static void test_batch_lands_in_one_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_batch_entry b[3];
	static unsigned char payload[3][1000];
	struct logstore_segment_info *segs;
	size_t n;

	assert_true(5 * ls_record_bytes(1000) <= t_data_bytes(SEG16));
	assert_true(8 * ls_record_bytes(1000) > t_data_bytes(SEG16));
	for (int i = 0; i < 5; i++)
		t_append(log, &model, 1000, (uint64_t)i);
	for (int i = 0; i < 3; i++) {
		t_fill(payload[i], 1000, 100 + (uint64_t)i);
		b[i] = (struct logstore_batch_entry){.data = payload[i],
						     .len = 1000};
	}
	t_assert_ok(logstore_log_append_batch(log, b, 3, 0));
	check_batch_model(&model, b, 3);
	segs = t_segments(log, &n);
	assert_int_equal(n, 2);
	assert_int_equal(segs[0].entries, 5);
	assert_int_equal(segs[1].first_seq, 6);
	assert_int_equal(segs[1].entries, 3);
	free(segs);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_entry_too_big(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_options opts;
	struct t_entries model = {0};
	uint64_t max = t_data_bytes(SEG16) - LS_RECORD_HEADER_BYTES;
	unsigned char *buf = malloc(LOGSTORE_BATCH_BYTES_DEFAULT + 1);
	logstore_log *log;
	uint64_t seq = 0;
	size_t n;

	assert_non_null(buf);
	t_fill(buf, LOGSTORE_BATCH_BYTES_DEFAULT + 1, 5);
	log = t_open_small(ctx, SEG16);
	t_assert_rc(logstore_log_append(log, buf, max + 1, 0, &seq, NULL),
		    LOGSTORE_ETOOBIG);
	t_assert_rc(logstore_log_append_at(log, T_TIME0, buf, max + 1, 0, &seq),
		    LOGSTORE_ETOOBIG);
	free(t_segments(log, &n));
	assert_int_equal(n, 0);
	/* The largest entry a segment holds fills it exactly. */
	t_append_data(log, &model, buf, max);
	assert_int_equal(model.v[0].seq, 1);
	t_append_data(log, &model, "small", 5);
	assert_int_equal(model.v[1].seq, 2);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);

	/* An entry larger than batch_bytes_max, in a segment with room. */
	t_rmrf(ctx->dir);
	t_options(&opts, &ctx->clock, 4u * 1024 * 1024);
	log = t_open(ctx->dir, &opts);
	t_assert_rc(logstore_log_append(log, buf,
					LOGSTORE_BATCH_BYTES_DEFAULT + 1, 0,
					&seq, NULL),
		    LOGSTORE_ETOOBIG);
	assert_int_equal(stats_of(log).last_seq, 0);
	t_close(log);
	opts.batch_bytes_max = LOGSTORE_BATCH_BYTES_MIN;
	log = t_open(ctx->dir, &opts);
	t_assert_rc(logstore_log_append(log, buf, LOGSTORE_BATCH_BYTES_MIN + 1,
					0, &seq, NULL),
		    LOGSTORE_ETOOBIG);
	t_assert_ok(logstore_log_append(log, buf, 100, 0, &seq, NULL));
	assert_int_equal(seq, 1);
	t_close(log);
	free(buf);
	t_entries_free(&model);
}

static void expect_einval(struct t_ctx *ctx, struct logstore_options *opts,
			  const char *what)
{
	logstore_log *log = NULL;
	int rc = logstore_log_open(ctx->dir, opts, &log);

	if (rc != -EINVAL) {
		print_error("options with %s: open returned %d (%s)\n", what,
			    rc, logstore_strerror(rc));
		if (rc == 0)
			logstore_log_close(log);
		fail();
	}
}

static void test_bad_options(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_options opts;
	logstore_log *log;

	t_options(&opts, NULL, LOGSTORE_SEGMENT_BYTES_MIN - 4096);
	expect_einval(ctx, &opts, "segment_bytes_max too small");
	t_options(&opts, NULL, (uint64_t)LOGSTORE_SEGMENT_BYTES_MAX + 4096);
	expect_einval(ctx, &opts, "segment_bytes_max too large");
	t_options(&opts, NULL, LOGSTORE_SEGMENT_BYTES_MIN + 100);
	expect_einval(ctx, &opts, "segment_bytes_max not a multiple of 4096");
	t_options(&opts, NULL, 0);
	opts.batch_bytes_max = LOGSTORE_BATCH_BYTES_MIN - 1;
	expect_einval(ctx, &opts, "batch_bytes_max too small");
	opts.batch_bytes_max = LOGSTORE_BATCH_BYTES_MAX + 1;
	expect_einval(ctx, &opts, "batch_bytes_max too large");
	t_options(&opts, NULL, 0);
	opts.durability = 7;
	expect_einval(ctx, &opts, "durability 7");
	t_options(&opts, NULL, 0);
	opts.durability = -1;
	expect_einval(ctx, &opts, "durability -1");

	/* The limits themselves are fine; so are NULL options. */
	t_options(&opts, &ctx->clock, LOGSTORE_SEGMENT_BYTES_MIN);
	opts.batch_bytes_max = LOGSTORE_BATCH_BYTES_MIN;
	t_close(t_open(ctx->dir, &opts));
	t_close(t_open(ctx->dir, NULL));
	log = t_open_small(ctx, SEG16);
	t_append_data(log, NULL, "ok", 2);
	t_close(log);
}

static void test_read_only_rejects_writes(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	struct logstore_batch_entry b = {.data = "x", .len = 1};
	struct logstore_segment_info *segs;
	size_t n;
	uint64_t seq;

	t_append_data(log, &model, "kept", 4);
	t_close(log);
	log = open_ro(ctx);
	t_assert_rc(logstore_log_append(log, "x", 1, 0, &seq, NULL),
		    LOGSTORE_EREADONLY);
	t_assert_rc(
	    logstore_log_append_at(log, T_TIME0 + T_SECOND, "x", 1, 0, &seq),
	    LOGSTORE_EREADONLY);
	t_assert_rc(logstore_log_append_batch(log, &b, 1, 0),
		    LOGSTORE_EREADONLY);
	t_assert_rc(logstore_log_sync(log), LOGSTORE_EREADONLY);
	segs = t_segments(log, &n);
	assert_int_equal(n, 1);
	t_assert_rc(logstore_log_remove_segment(log, segs[0].first_time_ns),
		    LOGSTORE_EREADONLY);
	free(segs);
	t_assert_rc(logstore_log_remove_older_than(log, INT64_MAX, NULL),
		    LOGSTORE_EREADONLY);
	t_assert_rc(logstore_compactor_start(log, T_SECOND, T_SECOND),
		    LOGSTORE_EREADONLY);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	assert_seg_files_exact(ctx->dir, SEG16, 1);
	t_entries_free(&model);
}

static void test_read_only_missing_dir(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	char *dir = t_path(ctx->dir, "nothing-here");
	struct logstore_options opts;
	logstore_log *log = NULL;

	t_options(&opts, &ctx->clock, SEG16);
	opts.read_only = true;
	t_assert_rc(logstore_log_open(dir, &opts, &log), -ENOENT);
	assert_false(t_file_exists(dir));
	free(dir);
}

static void test_strerror(void **state)
{
	static const int codes[] = {
	    LOGSTORE_ECORRUPT, LOGSTORE_ELOCKED,   LOGSTORE_EFAILED,
	    LOGSTORE_ETIME,    LOGSTORE_ETOOBIG,   LOGSTORE_ENOTFOUND,
	    LOGSTORE_EACTIVE,  LOGSTORE_EREADONLY, LOGSTORE_EFORMAT,
	};
	size_t count = sizeof(codes) / sizeof(codes[0]);
	const char *s;

	(void)state;
	for (size_t i = 0; i < count; i++) {
		s = logstore_strerror(codes[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
		/* Each of our codes has its own name. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, logstore_strerror(codes[j]));
	}
	static const int others[] = {0,	      LOGSTORE_END, -EIO,  -ENOSPC,
				     -EINVAL, -ENOENT,	    -99999};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		s = logstore_strerror(others[i]);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
	assert_string_not_equal(logstore_strerror(-EIO),
				logstore_strerror(-ENOSPC));
	assert_non_null(logstore_error_detail());
}

static void test_seq_continues_after_reopen(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	logstore_log *log;

	for (int round = 0; round < 3; round++) {
		log = t_open_small(ctx, SEG16);
		assert_int_equal(stats_of(log).last_seq, model.n);
		for (int i = 0; i < 7; i++)
			t_append(log, &model, 900, model.n);
		assert_int_equal(model.v[model.n - 1].seq, model.n);
		t_close(log);
	}
	log = t_open_small(ctx, SEG16);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_buffered_then_sync(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct logstore_options opts;
	struct t_entries model = {0};
	struct logstore_stats st;
	logstore_log *log;
	uint64_t bytes = 0;

	t_options(&opts, &ctx->clock, SEG16);
	opts.durability = LOGSTORE_BUFFERED;
	log = t_open(ctx->dir, &opts);
	for (int i = 0; i < 50; i++) {
		t_append(log, &model, 10 + (size_t)i * 20, (uint64_t)i);
		bytes += 10 + (uint64_t)i * 20;
	}
	st = stats_of(log);
	assert_int_equal(st.last_seq, 50);
	assert_int_equal(st.entries_appended, 50);
	assert_int_equal(st.bytes_appended, bytes);
	assert_int_equal(st.failed, 0);
	/* Buffered entries are visible before they are durable. */
	t_assert_log(log, NULL, &model, 0);
	t_assert_ok(logstore_log_sync(log));
	st = stats_of(log);
	assert_int_equal(st.durable_seq, 50);
	t_close(log);

	/* Per-call buffered on a durable log. */
	log = t_open_small(ctx, SEG16);
	for (int i = 0; i < 10; i++) {
		unsigned char buf[64];
		uint64_t seq;
		int64_t time_ns;

		t_fill(buf, sizeof(buf), 1000 + (uint64_t)i);
		t_assert_ok(logstore_log_append(
		    log, buf, sizeof(buf), LOGSTORE_BUFFERED, &seq, &time_ns));
		t_entries_push(&model, seq, time_ns, buf, sizeof(buf));
	}
	t_assert_ok(logstore_log_sync(log));
	assert_int_equal(stats_of(log).durable_seq, 60);
	/* A durable append makes everything before it durable too. */
	t_append_data(log, &model, "durable", 7);
	st = stats_of(log);
	assert_int_equal(st.durable_seq, 61);
	assert_int_equal(st.last_seq, 61);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	log = t_open_small(ctx, SEG16);
	t_assert_log(log, NULL, &model, 0);
	t_close(log);
	t_entries_free(&model);
}

static void test_reader_sees_later_appends(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	struct t_entries model = {0};
	logstore_reader *reader;
	struct logstore_entry e;
	size_t n;

	t_assert_ok(logstore_reader_open(log, NULL, &reader));
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	t_append_data(log, &model, "one", 3);
	t_assert_ok(logstore_reader_next(reader, &e));
	assert_int_equal(e.seq, 1);
	assert_int_equal(e.len, 3);
	assert_memory_equal(e.data, "one", 3);
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);

	/* Keep up across rollovers, reading after every few appends. */
	for (int i = 0; i < 60; i++) {
		t_clock_advance(&ctx->clock, 10);
		t_append(log, &model, 700, (uint64_t)i);
		if (i % 3 != 2)
			continue;
		for (size_t k = model.n - 3; k < model.n; k++) {
			t_assert_ok(logstore_reader_next(reader, &e));
			assert_int_equal(e.seq, model.v[k].seq);
			assert_int_equal(e.time_ns, model.v[k].time_ns);
			assert_int_equal(e.len, model.v[k].len);
			assert_memory_equal(e.data, model.v[k].data, e.len);
		}
		t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	}
	free(t_segments(log, &n));
	assert_true(n >= 3);
	logstore_reader_close(reader);
	t_close(log);
	t_entries_free(&model);
}

static void test_reader_survives_segment_removal(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	struct logstore_segment_info *segs;
	logstore_reader *reader;
	struct logstore_entry e;
	size_t n;
	char *path;

	segs = t_segments(log, &n);
	t_assert_ok(logstore_reader_open(log, NULL, &reader));
	t_assert_ok(logstore_reader_next(reader, &e));
	assert_int_equal(e.seq, 1);
	t_assert_ok(logstore_log_remove_segment(log, segs[0].first_time_ns));
	path = t_path(ctx->dir, segs[0].name);
	assert_false(t_file_exists(path));
	free(path);
	/* The entry returned before the removal stays readable. */
	assert_memory_equal(e.data, model.v[0].data, model.v[0].len);
	for (size_t k = 1; k < model.n; k++) {
		t_assert_ok(logstore_reader_next(reader, &e));
		assert_int_equal(e.seq, model.v[k].seq);
		assert_int_equal(e.time_ns, model.v[k].time_ns);
		assert_int_equal(e.len, model.v[k].len);
		assert_memory_equal(e.data, model.v[k].data, e.len);
	}
	t_assert_rc(logstore_reader_next(reader, &e), LOGSTORE_END);
	logstore_reader_close(reader);
	/* A new reader starts at the oldest remaining entry. */
	t_assert_log(log, NULL, &model, per);
	free(segs);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A read-only handle opened before the writer appends sees what the
 * writer's own handle sees: last entry, segment list, seeks by time and
 * by sequence number into sealed and active segments.
 */
static void test_read_only_follows_writer(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	logstore_log *log = t_open_small(ctx, SEG16);
	logstore_log *ro = open_ro(ctx);
	struct t_entries model = {0};
	struct logstore_segment_info *mine, *theirs;
	struct logstore_entry e;
	unsigned char buf[1000];
	size_t n, n2;

	for (int i = 0; i < 20; i++) {
		t_append(log, &model, 1000, (uint64_t)i);
		t_clock_advance(&ctx->clock, 1000);
	}
	t_assert_ok(logstore_log_last_entry(ro, &e, buf, sizeof(buf)));
	assert_int_equal(e.seq, 20);
	assert_memory_equal(buf, model.v[19].data, 1000);
	assert_int_equal(stats_of(ro).last_seq, 20);
	mine = t_segments(log, &n);
	theirs = t_segments(ro, &n2);
	assert_int_equal(n2, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(theirs[i].name, mine[i].name);
		assert_int_equal(theirs[i].first_seq, mine[i].first_seq);
		assert_int_equal(theirs[i].last_seq, mine[i].last_seq);
		assert_int_equal(theirs[i].last_time_ns, mine[i].last_time_ns);
		assert_int_equal(theirs[i].entries, mine[i].entries);
		assert_int_equal(theirs[i].bytes, mine[i].bytes);
		assert_int_equal(theirs[i].active, mine[i].active);
	}
	free(mine);
	free(theirs);
	for (size_t k = 0; k < model.n; k++) {
		struct logstore_start start = t_start_time(model.v[k].time_ns);

		t_assert_log(ro, &start, &model, k);
		start = t_start_seq(k + 1);
		t_assert_log(ro, &start, &model, k);
	}
	t_close(ro);
	t_close(log);
	t_entries_free(&model);
}

/*
 * A read-only reader inside a segment that was still active when it last
 * looked: the writer appends to it, rolls over and removes it. The reader
 * reads the rest of it from its mapping, then moves to the next segment.
 */
static void test_read_only_reader_in_removed_unsealed_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	t_options(&opts, &ctx->clock, SEG64);
	opts.segment_duration_ns = 100 * T_SECOND;
	logstore_log *w = t_open(ctx->dir, &opts);
	for (uint64_t i = 0; i < 3; i++)
		t_append(w, &model, 10, i);
	logstore_log *ro = open_ro(ctx);
	logstore_reader *rd;
	struct logstore_entry e;
	t_assert_ok(logstore_reader_open(ro, NULL, &rd));
	for (size_t i = 0; i < 3; i++) {
		t_assert_ok(logstore_reader_next(rd, &e));
		assert_int_equal(e.seq, model.v[i].seq);
	}
	t_assert_rc(logstore_reader_next(rd, &e), LOGSTORE_END);
	for (uint64_t i = 3; i < 6; i++)
		t_append(w, &model, 10, i);
	t_clock_advance(&ctx->clock, 1000 * T_SECOND); /* duration rollover */
	t_append(w, &model, 10, 6);
	t_assert_ok(logstore_log_remove_segment(w, model.v[0].time_ns));
	for (size_t i = 3; i < 7; i++) {
		t_assert_ok(logstore_reader_next(rd, &e));
		assert_int_equal(e.seq, model.v[i].seq);
		assert_int_equal(e.len, model.v[i].len);
		assert_memory_equal(e.data, model.v[i].data, e.len);
	}
	t_assert_rc(logstore_reader_next(rd, &e), LOGSTORE_END);
	logstore_reader_close(rd);
	t_close(ro);
	t_close(w);
	t_entries_free(&model);
}

/*
 * A read-only handle saw an empty last segment (a crash after creating
 * it); the next writer deletes it in recovery and creates a new file with
 * the same name. The reader must read the new file, not the old mapping.
 */
static void test_read_only_follows_recreated_segment(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	struct logstore_options opts;
	char names[4][64];
	unsigned char zeros[4096] = {0};
	t_options(&opts, &ctx->clock, SEG64);
	opts.segment_duration_ns = 100 * T_SECOND;
	logstore_log *w = t_open(ctx->dir, &opts);
	for (uint64_t i = 0; i < 3; i++)
		t_append(w, &model, 10, i);
	t_clock_advance(&ctx->clock, 1000 * T_SECOND);
	struct t_entries lost = {0};
	t_append(w, &lost, 10, 3); /* seq 4 in a new segment */
	t_close(w);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0);
	/* The crash: the new segment's first record never reached the disk. */
	assert_int_equal(t_seg_files(ctx->dir, names, 4), 2);
	char *path = t_path(ctx->dir, names[1]);
	assert_int_equal(t_write_at(path, zeros, sizeof(zeros), 4096), 0);

	logstore_log *ro = open_ro(ctx);
	logstore_reader *rd;
	struct logstore_entry e;
	t_assert_ok(logstore_reader_open(ro, NULL, &rd));
	for (size_t i = 0; i < 3; i++)
		t_assert_ok(logstore_reader_next(rd, &e));
	t_assert_rc(logstore_reader_next(rd, &e), LOGSTORE_END);

	w = t_open(ctx->dir, &opts);
	t_clock_advance(&ctx->clock, T_SECOND);
	for (uint64_t i = 3; i < 6; i++)
		t_append(w, &model, 10, 10 + i);
	assert_int_equal(model.v[3].seq, 4);
	for (size_t i = 3; i < 6; i++) {
		t_assert_ok(logstore_reader_next(rd, &e));
		assert_int_equal(e.seq, model.v[i].seq);
		assert_memory_equal(e.data, model.v[i].data, e.len);
	}
	t_assert_rc(logstore_reader_next(rd, &e), LOGSTORE_END);
	logstore_reader_close(rd);
	t_close(ro);
	t_close(w);
	free(path);
	t_entries_free(&lost);
	t_entries_free(&model);
}

/*
 * A read-only handle (a reader process) open while the writer's retention
 * removes the oldest segment: new readers start at the oldest entry still
 * in the log, and the segment list follows the removal.
 */
static void test_read_only_after_writer_retention(void **state)
{
	struct t_ctx *ctx = ctx_of(state);
	struct t_entries model = {0};
	uint64_t per;
	logstore_log *log = build_timed_log(ctx, &model, &per);
	logstore_log *ro = open_ro(ctx);
	struct logstore_segment_info *segs;
	struct logstore_start start;
	size_t n, removed = 0;

	segs = t_segments(ro, &n);
	assert_int_equal(n, 3);
	free(segs);
	t_assert_ok(logstore_log_remove_older_than(log, model.v[per].time_ns,
						   &removed));
	assert_int_equal(removed, 1);

	t_assert_log(ro, NULL, &model, per);
	start = t_start_time(model.v[0].time_ns);
	t_assert_log(ro, &start, &model, per);
	start = t_start_seq(1);
	t_assert_log(ro, &start, &model, per);
	segs = t_segments(ro, &n);
	assert_int_equal(n, 2);
	assert_int_equal(segs[0].first_seq, per + 1);
	free(segs);
	t_close(ro);
	t_close(log);
	t_entries_free(&model);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_version_and_null),
	    T(test_append_one),
	    T(test_empty_payload),
	    T(test_append_two),
	    T(test_open_creates_dir),
	    T(test_new_segment_at_size_limit),
	    T(test_segment_filled_exactly),
	    T(test_new_segment_at_duration_limit),
	    T(test_segment_files_never_exceed_limit),
	    T(test_read_across_segments_and_writers),
	    T(test_start_time_before_first),
	    T(test_start_time_after_last),
	    T(test_start_time_at_end_of_segment),
	    T(test_start_time_between_entries),
	    T(test_start_time_at_second_segment),
	    T(test_start_seq),
	    T(test_start_invalid),
	    T(test_forced_time_rejected),
	    T(test_auto_time_bumped),
	    T(test_second_writer_locked),
	    T(test_segments_list),
	    T(test_remove_segment),
	    T(test_last_entry),
	    T(test_retention_remove_older_than),
	    T(test_compactor),
	    T(test_append_batch),
	    T(test_batch_too_big),
	    T(test_batch_lands_in_one_segment),
	    T(test_entry_too_big),
	    T(test_bad_options),
	    T(test_read_only_rejects_writes),
	    T(test_read_only_missing_dir),
	    T(test_read_only_follows_writer),
	    T(test_read_only_after_writer_retention),
	    T(test_read_only_reader_in_removed_unsealed_segment),
	    T(test_read_only_follows_recreated_segment),
	    T(test_strerror),
	    T(test_seq_continues_after_reopen),
	    T(test_buffered_then_sync),
	    T(test_reader_sees_later_appends),
	    T(test_reader_survives_segment_removal),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
