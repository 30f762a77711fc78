/* SPDX-License-Identifier: MIT */
/*
 * Goal: logstore_log_verify finds every kind of damage it promises to
 * (a record's bytes, a sealed segment's index, bytes after a sealed
 * segment's records) and names the segment and the offset, passes a
 * healthy log (also beside a writer), and reports progress up to the
 * total; logstore_log_repair cuts a torn tail only after the cut bytes
 * are durable in a side file, refuses damage before the tail unless
 * forced, refuses to run beside a writer, and leaves the segment as it
 * was when writing the side file fails.
 *
 * Method: build logs through the API with small segments and a fake
 * clock, damage the files with t_write_at/t_flip_bit at offsets computed
 * from format.h (records of a fixed payload length have known offsets),
 * then check return codes, result fields, the detail text, the side
 * file's bytes, the segment's bytes on disk, and that the log reopens
 * with exactly the expected entries (t_assert_log). Faults come from the
 * engine's injection layer (sys.h).
 */
#include "helpers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "sys.h"

#define SEG64 (64u * 1024)
#define PAYLOAD 24u /* + 32 header = 56 bytes a record, 8-aligned */
#define RECORD (LS_RECORD_HEADER_BYTES + PAYLOAD)

static const char seg1[] = "00000000000000000001.seg";

/*
 * The log with 64 KiB segments, buffered: these tests append thousands
 * of entries and judge what is on disk after close (which syncs), not
 * what an fsync acknowledged, so one fsync per entry would only cost time.
 */
static logstore_log *open_rw(struct t_ctx *ctx)
{
	struct logstore_options o;
	t_options(&o, &ctx->clock, SEG64);
	o.durability = LOGSTORE_BUFFERED;
	return t_open(ctx->dir, &o);
}

/* n entries of PAYLOAD bytes, the clock moving 1 s each. */
static void fill(struct t_ctx *ctx, logstore_log *log, struct t_entries *m,
		 unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		t_clock_advance(&ctx->clock, T_SECOND);
		t_append(log, m, PAYLOAD, i);
	}
}

struct progress {
	unsigned calls;
	uint64_t last_done;
	uint64_t total;
	bool went_back;
};

static void on_progress(const struct logstore_verify_progress *p, void *ctx)
{
	struct progress *pr = ctx;
	pr->went_back |= p->bytes_done < pr->last_done;
	pr->last_done = p->bytes_done;
	pr->total = p->bytes_total;
	pr->calls++;
}

static void test_verify_healthy(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	logstore_log *log = open_rw(ctx);
	fill(ctx, log, &m, 3000); /* 168 KB of records: 3+ segments */
	size_t nsegs;
	free(t_segments(log, &nsegs));
	assert_true(nsegs >= 3);

	struct progress pr = {0};
	struct logstore_verify_result res;
	t_assert_ok(logstore_log_verify(log, on_progress, &pr, &res));
	assert_int_equal(res.segments, nsegs);
	assert_int_equal(res.entries, 3000);
	assert_int_equal(res.bytes, 3000 * RECORD);
	assert_true(res.index_entries > 0);
	assert_string_equal(res.bad_segment, "");
	assert_true(pr.calls >= nsegs);
	assert_false(pr.went_back);
	assert_int_equal(pr.last_done, pr.total);

	/* A read-only handle beside the writer sees the same. */
	struct logstore_options ro;
	t_options(&ro, &ctx->clock, SEG64);
	ro.read_only = true;
	logstore_log *reader = t_open(ctx->dir, &ro);
	t_assert_ok(logstore_log_verify(reader, NULL, NULL, &res));
	assert_int_equal(res.entries, 3000);
	t_close(reader);
	t_close(log);
	t_entries_free(&m);
}

/* A closed log of n entries in sealed 64 KiB segments. */
static void closed_log(struct t_ctx *ctx, unsigned n, struct t_entries *m)
{
	logstore_log *log = open_rw(ctx);
	fill(ctx, log, m, n);
	t_close(log);
}

static logstore_log *open_ro(struct t_ctx *ctx)
{
	struct logstore_options o;
	t_options(&o, &ctx->clock, SEG64);
	o.read_only = true;
	return t_open(ctx->dir, &o);
}

static void expect_damage(struct t_ctx *ctx, const char *seg, uint64_t off)
{
	struct logstore_verify_result res;
	logstore_log *log = open_ro(ctx);
	assert_int_equal(logstore_log_verify(log, NULL, NULL, &res),
			 LOGSTORE_ECORRUPT);
	assert_string_equal(res.bad_segment, seg);
	assert_int_equal(res.bad_offset, off);
	char want[128];
	snprintf(want, sizeof(want), "%s offset %llu", seg,
		 (unsigned long long)off);
	assert_non_null(strstr(logstore_error_detail(), want));
	t_close(log);
}

static void test_verify_finds_record_damage(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	closed_log(ctx, 3000, &m);
	char *path = t_path(ctx->dir, seg1);
	/* A payload bit of record 100 of the first (sealed) segment. */
	uint64_t off = LS_HEADER_BYTES + 100 * RECORD;
	assert_int_equal(t_flip_bit(path, off + 40, 3), 0);
	expect_damage(ctx, seg1, off);
	assert_non_null(strstr(logstore_error_detail(), "checksum mismatch"));
	free(path);
	t_entries_free(&m);
}

static void test_verify_finds_index_damage(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	closed_log(ctx, 3000, &m);
	char *path = t_path(ctx->dir, seg1);
	uint64_t index_off = ls_index_offset(SEG64);
	/* The second index entry's time: the index checksum fails. */
	assert_int_equal(t_flip_bit(path, index_off + 16, 0), 0);
	expect_damage(ctx, seg1, index_off);
	assert_non_null(strstr(logstore_error_detail(), "time index"));
	free(path);
	t_entries_free(&m);
}

static void test_verify_finds_bytes_after_sealed_records(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	/* 136-byte records leave room after the last one of a segment. */
	logstore_log *log = open_rw(ctx);
	for (unsigned i = 0; i < 1000; i++) {
		t_clock_advance(&ctx->clock, T_SECOND);
		t_append(log, &m, 100, i);
	}
	t_close(log);
	log = open_ro(ctx);
	size_t n;
	struct logstore_segment_info *in = t_segments(log, &n);
	uint64_t end = LS_HEADER_BYTES + in[0].bytes;
	free(in);
	assert_true(end + 24 <= ls_index_offset(SEG64));
	t_close(log);
	char *path = t_path(ctx->dir, seg1);
	assert_int_equal(t_write_at(path, "junk", 4, end + 16), 0);
	expect_damage(ctx, seg1, end + 16);
	free(path);
	t_entries_free(&m);
}

/* Retention while verify runs: after the first segment, remove two. */
struct retain_ctx {
	logstore_log *log;
	int64_t cutoff;
	size_t removed;
	int rc;
};

static void retain_on_progress(const struct logstore_verify_progress *p,
			       void *arg)
{
	struct retain_ctx *rc = arg;
	if (p->segment_index == 0 && rc->removed == 0)
		rc->rc = logstore_log_remove_older_than(rc->log, rc->cutoff,
							&rc->removed);
}

static void test_verify_beside_retention(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	logstore_log *log = open_rw(ctx);
	fill(ctx, log, &m, 4000);
	size_t n;
	struct logstore_segment_info *in = t_segments(log, &n);
	assert_true(n >= 4);
	struct retain_ctx rc = {.log = log, .cutoff = in[1].last_time_ns + 1};
	free(in);
	struct logstore_verify_result res;
	t_assert_ok(logstore_log_verify(log, retain_on_progress, &rc, &res));
	t_assert_ok(rc.rc);
	assert_int_equal(rc.removed, 2);
	assert_int_equal(res.segments, n - 1); /* the second went unread */
	t_close(log);
	t_entries_free(&m);
}

/* A segment file deleted by hand from the middle is a gap verify sees. */
static void test_verify_finds_missing_segment(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	closed_log(ctx, 3000, &m);
	logstore_log *log = open_ro(ctx);
	size_t n;
	struct logstore_segment_info *in = t_segments(log, &n);
	t_close(log);
	assert_true(n >= 3);
	char *path = t_path(ctx->dir, in[1].name);
	assert_int_equal(remove(path), 0);
	expect_damage(ctx, in[2].name, LS_HEADER_BYTES);
	assert_non_null(strstr(logstore_error_detail(), "does not follow"));
	free(path);
	free(in);
	t_entries_free(&m);
}

/* A one-segment log, closed, with junk after its records (a torn tail). */
static uint64_t torn_log(struct t_ctx *ctx, struct t_entries *m,
			 const char *junk, size_t len)
{
	logstore_log *log = open_rw(ctx);
	fill(ctx, log, m, 100);
	t_close(log);
	assert_int_equal(t_forget_clean_close(ctx->dir), 0); /* a crash */
	uint64_t end = LS_HEADER_BYTES + 100 * RECORD;
	char *path = t_path(ctx->dir, seg1);
	assert_int_equal(t_write_at(path, junk, len, end), 0);
	free(path);
	return end;
}

static void test_repair_cuts_torn_tail(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	static const char junk[16] = "TORN-TAIL-BYTES";
	uint64_t end = torn_log(ctx, &m, junk, sizeof(junk));
	char *side = t_path(ctx->dir, "cut.bin");
	struct logstore_repair_result res;
	t_assert_ok(logstore_log_repair(ctx->dir, side, 0, &res));
	assert_string_equal(res.segment, seg1);
	assert_int_equal(res.end_offset, end);
	assert_int_equal(res.cut_bytes, sizeof(junk));
	assert_false(res.forced);
	assert_string_equal(res.save_path, side);
	char got[sizeof(junk)];
	assert_int_equal(t_file_size(side), sizeof(junk));
	assert_int_equal(t_read_at(side, got, sizeof(got), 0), 0);
	assert_memory_equal(got, junk, sizeof(junk));
	/* Zeroed on disk, so a writer's open has nothing to drop. */
	char *path = t_path(ctx->dir, seg1);
	char zeros[sizeof(junk)] = {0};
	assert_int_equal(t_read_at(path, got, sizeof(got), end), 0);
	assert_memory_equal(got, zeros, sizeof(zeros));
	/* Nothing more to do; the log opens with every entry. */
	t_assert_ok(logstore_log_repair(ctx->dir, NULL, 0, &res));
	assert_int_equal(res.cut_bytes, 0);
	assert_string_equal(res.save_path, "");
	logstore_log *log = open_rw(ctx);
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	assert_int_equal(st.recovery_bytes_dropped, 0);
	t_assert_log(log, NULL, &m, 0);
	t_close(log);
	free(path);
	free(side);
	t_entries_free(&m);
}

static void test_repair_refuses_damage_unless_forced(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	closed_log(ctx, 100, &m); /* one segment, records 1..100 */
	assert_int_equal(t_forget_clean_close(ctx->dir), 0);
	char *path = t_path(ctx->dir, seg1);
	uint64_t bad = LS_HEADER_BYTES + 40 * RECORD;
	assert_int_equal(t_flip_bit(path, bad + 36, 1), 0); /* payload */
	uint8_t before[RECORD], after[RECORD];
	assert_int_equal(t_read_at(path, before, RECORD, bad), 0);

	struct logstore_repair_result res;
	assert_int_equal(logstore_log_repair(ctx->dir, NULL, 0, &res),
			 LOGSTORE_ECORRUPT);
	assert_non_null(strstr(logstore_error_detail(), "not cut"));
	assert_int_equal(t_read_at(path, after, RECORD, bad), 0);
	assert_memory_equal(before, after, RECORD);

	t_assert_ok(
	    logstore_log_repair(ctx->dir, NULL, LOGSTORE_REPAIR_FORCE, &res));
	assert_true(res.forced);
	assert_int_equal(res.end_offset, bad);
	assert_int_equal(res.cut_bytes, 60 * RECORD);
	assert_int_equal(t_file_size(res.save_path), 60 * RECORD);
	assert_int_equal(t_read_at(res.save_path, after, RECORD, 0), 0);
	assert_memory_equal(before, after, RECORD);
	/* Entries 1..40 remain, and appends go on from 41. */
	logstore_log *log = open_rw(ctx);
	m.n = 40;
	t_assert_log(log, NULL, &m, 0);
	uint64_t seq;
	t_clock_advance(&ctx->clock, T_SECOND);
	t_assert_ok(logstore_log_append(log, "x", 1, 0, &seq, NULL));
	assert_int_equal(seq, 41);
	t_close(log);
	m.n = 100;
	free(path);
	t_entries_free(&m);
}

static void test_repair_beside_writer_and_bad_dirs(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	struct logstore_repair_result res;
	/* An empty directory: nothing to do. */
	t_assert_ok(logstore_log_repair(ctx->dir, NULL, 0, &res));
	assert_string_equal(res.segment, "");
	char *missing = t_path(ctx->dir, "missing");
	assert_int_equal(logstore_log_repair(missing, NULL, 0, &res), -ENOENT);
	assert_int_equal(logstore_log_repair(ctx->dir, NULL, 0x100, &res),
			 -EINVAL);
	logstore_log *log = open_rw(ctx);
	fill(ctx, log, &m, 10);
	assert_int_equal(logstore_log_repair(ctx->dir, NULL, 0, &res),
			 LOGSTORE_ELOCKED);
	t_close(log);
	free(missing);
	t_entries_free(&m);
}

static void test_repair_side_file_failures(void **state)
{
	struct t_ctx *ctx = *state;
	struct t_entries m = {0};
	static const char junk[8] = "JUNKJUNK";
	uint64_t end = torn_log(ctx, &m, junk, sizeof(junk));
	char *path = t_path(ctx->dir, seg1);
	char *side = t_path(ctx->dir, "cut.bin");
	char got[sizeof(junk)];
	struct logstore_repair_result res;

	/* The side file exists: refused, nothing changes. */
	assert_int_equal(t_write_file(side, "old", 3), 0);
	assert_int_equal(logstore_log_repair(ctx->dir, side, 0, &res), -EEXIST);
	assert_int_equal(t_read_at(path, got, sizeof(got), end), 0);
	assert_memory_equal(got, junk, sizeof(junk));
	remove(side);

	/* Its fsync fails: no side file, the segment keeps its tail. */
	ls_fault_set(LS_SYS_FDATASYNC, 1, EIO);
	assert_int_equal(logstore_log_repair(ctx->dir, side, 0, &res), -EIO);
	ls_fault_clear();
	assert_false(t_file_exists(side));
	assert_int_equal(t_read_at(path, got, sizeof(got), end), 0);
	assert_memory_equal(got, junk, sizeof(junk));

	/* Zeroing the tail fails after the side file is durable. */
	ls_fault_set(LS_SYS_PWRITE, 2, EIO); /* 1: the side file */
	assert_int_equal(logstore_log_repair(ctx->dir, side, 0, &res), -EIO);
	ls_fault_clear();
	assert_true(t_file_exists(side));
	remove(side);
	/* A later repair finishes the job. */
	t_assert_ok(logstore_log_repair(ctx->dir, side, 0, &res));
	assert_int_equal(res.cut_bytes, sizeof(junk));
	logstore_log *log = open_rw(ctx);
	t_assert_log(log, NULL, &m, 0);
	t_close(log);
	free(path);
	free(side);
	t_entries_free(&m);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_verify_healthy),
	    T(test_verify_finds_record_damage),
	    T(test_verify_finds_index_damage),
	    T(test_verify_finds_bytes_after_sealed_records),
	    T(test_verify_beside_retention),
	    T(test_verify_finds_missing_segment),
	    T(test_repair_cuts_torn_tail),
	    T(test_repair_refuses_damage_unless_forced),
	    T(test_repair_beside_writer_and_bad_dirs),
	    T(test_repair_side_file_failures),
	};
	int skip = t_uring_available();

	if (skip)
		return skip;
	return cmocka_run_group_tests_name("verify", tests, NULL, NULL);
}
