/* SPDX-License-Identifier: MIT */
/*
 * Goal: the log's figures (engine/stats.c): histogram buckets and
 * quantiles, the counters logstore_log_stats() returns after known work,
 * and the Prometheus text export.
 *
 * Method: histograms are fed known values and every bucket, the sum, the
 * max and quantiles are compared with values worked out by hand. The
 * counters are read after a known sequence of appends, failed calls and
 * readers, with a fake clock; one thread appends, so every batch holds
 * exactly one entry and the expected counts are exact. The Prometheus
 * text is checked for exact lines, for its length, and for -ENOSPC with
 * the needed size when the buffer is too small.
 */
#include "helpers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void test_histogram_buckets(void **state)
{
	(void)state;
	struct logstore_histogram h = {0};
	uint64_t values[] = {0, 1, 2, 3, 4, 5, 1000};
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		ls_histogram_record(&h, values[i]);
	assert_int_equal(h.count, 7);
	assert_int_equal(h.sum, 1015);
	assert_int_equal(h.max, 1000);
	assert_int_equal(h.buckets[0], 2); /* 0, 1 */
	assert_int_equal(h.buckets[1], 1); /* 2 */
	assert_int_equal(h.buckets[2], 1); /* 3 */
	assert_int_equal(h.buckets[3], 1); /* 4 */
	assert_int_equal(h.buckets[4], 1); /* 5: (4, 5] */
	/* 1000 in (896, 1024], the 4th quarter of (512, 1024]. */
	assert_int_equal(h.buckets[35], 1);
	uint64_t total = 0;
	for (int i = 0; i < LOGSTORE_HISTOGRAM_BUCKETS; i++)
		total += h.buckets[i];
	assert_int_equal(total, 7);

	/* Rank of q = 0.5 of 7 is 4: the 4th value (3) lies in bucket 2. */
	assert_int_equal(logstore_histogram_quantile(&h, 0.5), 3);
	assert_int_equal(logstore_histogram_quantile(&h, 0.0), 1);
	/* The top bucket's bound (1024) is capped at the max seen. */
	assert_int_equal(logstore_histogram_quantile(&h, 1.0), 1000);
	assert_int_equal(logstore_histogram_quantile(&h, 7.0), 1000);
	/* 6 of 7 values are <= 5: q = 6/7 reads bucket 4's bound. */
	assert_int_equal(logstore_histogram_quantile(&h, 6.0 / 7), 5);

	struct logstore_histogram empty = {0};
	assert_int_equal(logstore_histogram_quantile(&empty, 0.99), 0);
	assert_int_equal(logstore_histogram_quantile(NULL, 0.5), 0);

	/* Beyond the last bound: the last bucket. */
	ls_histogram_record(&empty, (uint64_t)1 << 60);
	assert_int_equal(empty.buckets[LOGSTORE_HISTOGRAM_BUCKETS - 1], 1);
}

/* The bucket a single value lands in. */
static unsigned bucket_holding(uint64_t v)
{
	struct logstore_histogram h = {0};
	ls_histogram_record(&h, v);
	for (unsigned i = 0; i < LOGSTORE_HISTOGRAM_BUCKETS; i++)
		if (h.buckets[i])
			return i;
	fail_msg("value %llu counted nowhere", (unsigned long long)v);
	return 0;
}

/* A value v lands where bound(i - 1) < v <= bound(i), within 25 %. */
static void check_bucket(uint64_t v)
{
	unsigned i = bucket_holding(v);
	uint64_t upper = logstore_histogram_bucket_upper(i);
	uint64_t lower = i ? logstore_histogram_bucket_upper(i - 1) : 0;
	if (v > upper || (i > 0 && v <= lower))
		fail_msg("value %llu in bucket %u (%llu, %llu]",
			 (unsigned long long)v, i, (unsigned long long)lower,
			 (unsigned long long)upper);
	if (v > 0 && i + 1 < LOGSTORE_HISTOGRAM_BUCKETS && upper - v > v / 4)
		fail_msg("value %llu: bound %llu is more than 25 %% above",
			 (unsigned long long)v, (unsigned long long)upper);
}

static void test_histogram_bounds(void **state)
{
	(void)state;
	const unsigned last = LOGSTORE_HISTOGRAM_BUCKETS - 1;
	for (unsigned i = 1; i < last; i++)
		assert_true(logstore_histogram_bucket_upper(i) >
			    logstore_histogram_bucket_upper(i - 1));
	assert_int_equal(logstore_histogram_bucket_upper(0), 1);
	assert_int_equal(logstore_histogram_bucket_upper(last - 1),
			 (uint64_t)1 << 38);
	assert_true(logstore_histogram_bucket_upper(last) == UINT64_MAX);
	assert_true(logstore_histogram_bucket_upper(1000) == UINT64_MAX);

	for (uint64_t v = 0; v <= 70000; v++)
		check_bucket(v);
	for (unsigned k = 2; k < 64; k++) {
		check_bucket(((uint64_t)1 << k) - 1);
		check_bucket((uint64_t)1 << k);
		check_bucket(((uint64_t)1 << k) + 1);
		check_bucket(((uint64_t)1 << k) + ((uint64_t)1 << (k - 1)));
	}
	check_bucket(UINT64_MAX);
	assert_int_equal(bucket_holding(((uint64_t)1 << 38) + 1), last);
}

static void test_counters_after_work(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	struct t_entries model = {0};
	for (int i = 0; i < 5; i++)
		t_append(log, &model, 100, (uint64_t)i);

	struct logstore_stats st;
	logstore_log_stats(log, &st);
	assert_int_equal(st.entries_appended, 5);
	assert_int_equal(st.bytes_appended, 500);
	assert_int_equal(st.durable_seq, 5);
	assert_int_equal(st.last_seq, 5);
	assert_int_equal(st.failed_operations, 0);
	/* One appender: one entry per batch, one histogram value each. */
	assert_int_equal(st.batches_written, 5);
	assert_int_equal(st.commit_latency_ns.count, 5);
	assert_int_equal(st.batch_entries.count, 5);
	assert_int_equal(st.batch_entries.sum, 5);
	assert_int_equal(st.batch_entries.buckets[0], 5);
	assert_true(st.commit_latency_ns.max > 0);
	assert_true(st.commit_latency_ns.sum >= st.commit_latency_ns.max);

	/* Failed calls are counted; nothing is appended by them. */
	t_assert_rc(logstore_log_append_at(log, 0, "x", 1, 0, NULL), -EINVAL);
	t_assert_rc(logstore_log_append_at(log, T_TIME0 - 1, "x", 1, 0, NULL),
		    LOGSTORE_ETIME);
	logstore_log_stats(log, &st);
	assert_int_equal(st.failed_operations, 2);
	assert_int_equal(st.entries_appended, 5);

	logstore_reader *a, *b;
	t_assert_ok(logstore_reader_open(log, NULL, &a));
	t_assert_ok(logstore_reader_open(log, NULL, &b));
	logstore_log_stats(log, &st);
	assert_int_equal(st.readers_open, 2);
	logstore_reader_close(a);
	logstore_log_stats(log, &st);
	assert_int_equal(st.readers_open, 1);
	logstore_reader_close(b);
	logstore_log_stats(log, &st);
	assert_int_equal(st.readers_open, 0);

	t_entries_free(&model);
	t_close(log);
}

/* The value of the line "name value" in text, or -1 if absent. */
static long long metric(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; (p = strstr(p, name)) != NULL; p += n) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	}
	return -1;
}

static void test_prometheus_text(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	struct t_entries model = {0};
	for (int i = 0; i < 3; i++)
		t_append(log, &model, 10, (uint64_t)i);

	size_t need = 0;
	t_assert_rc(logstore_log_metrics_prometheus(log, NULL, 0, &need),
		    -ENOSPC);
	assert_true(need > 0);
	char *buf = malloc(need + 1);
	assert_non_null(buf);
	size_t len = 0;
	/* Room for the text but not its NUL: still too small. */
	t_assert_rc(logstore_log_metrics_prometheus(log, buf, need, &len),
		    -ENOSPC);
	assert_int_equal(len, need);
	t_assert_ok(logstore_log_metrics_prometheus(log, buf, need + 1, &len));
	assert_int_equal(len, need);
	assert_int_equal(strlen(buf), len);

	assert_int_equal(metric(buf, "logstore_entries_appended_total"), 3);
	assert_int_equal(metric(buf, "logstore_bytes_appended_total"), 30);
	assert_int_equal(metric(buf, "logstore_batches_written_total"), 3);
	assert_int_equal(metric(buf, "logstore_durable_seq"), 3);
	assert_int_equal(metric(buf, "logstore_failed"), 0);
	assert_int_equal(metric(buf, "logstore_readers_open"), 0);
	assert_non_null(
	    strstr(buf, "# TYPE logstore_entries_appended_total counter\n"));
	assert_non_null(
	    strstr(buf, "# TYPE logstore_commit_latency_seconds histogram\n"));
	assert_int_equal(metric(buf, "logstore_batch_entries_bucket{le=\"1\"}"),
			 3);
	assert_int_equal(
	    metric(buf, "logstore_batch_entries_bucket{le=\"+Inf\"}"), 3);
	/* Bounds exported at the powers of two only, 2^0 to 2^38. */
	assert_int_equal(metric(buf, "logstore_batch_entries_bucket{le=\"4\"}"),
			 3);
	assert_int_equal(
	    metric(buf, "logstore_batch_entries_bucket{le=\"2.74877907e+11\"}"),
	    3);
	assert_null(strstr(buf, "logstore_batch_entries_bucket{le=\"5\"}"));
	assert_null(strstr(buf, "logstore_batch_entries_bucket{le=\"3\"}"));
	assert_int_equal(metric(buf, "logstore_batch_entries_sum"), 3);
	assert_int_equal(metric(buf, "logstore_batch_entries_count"), 3);
	assert_int_equal(metric(buf, "logstore_commit_latency_seconds_count"),
			 3);
	/* The text ends with a newline and nothing else follows. */
	assert_int_equal(buf[len - 1], '\n');

	t_assert_rc(logstore_log_metrics_prometheus(NULL, buf, need, &len),
		    -EINVAL);
	t_assert_rc(logstore_log_metrics_prometheus(log, buf, need, NULL),
		    -EINVAL);
	free(buf);
	t_entries_free(&model);
	t_close(log);
}

/*
 * A read-only handle shows the live writer's figures (copied into LOCK
 * after each commit), and its own once the writer has closed.
 */
static void test_read_only_sees_writer_figures(void **state)
{
	struct t_ctx *ctx = *state;
	logstore_log *log = t_open_small(ctx, 0);
	struct t_entries model = {0};
	for (int i = 0; i < 4; i++)
		t_append(log, &model, 50, (uint64_t)i);

	struct logstore_options opts;
	t_options(&opts, &ctx->clock, 0);
	opts.read_only = true;
	logstore_log *ro = t_open(ctx->dir, &opts);
	struct logstore_stats mine, theirs;
	logstore_log_stats(log, &mine);
	logstore_log_stats(ro, &theirs);
	assert_int_equal(theirs.entries_appended, 4);
	assert_int_equal(theirs.bytes_appended, 200);
	assert_int_equal(theirs.durable_seq, 4);
	assert_int_equal(theirs.batches_written, mine.batches_written);
	assert_int_equal(theirs.batch_entries.count, mine.batch_entries.count);
	assert_int_equal(theirs.commit_latency_ns.sum,
			 mine.commit_latency_ns.sum);
	assert_memory_equal(theirs.commit_latency_ns.buckets,
			    mine.commit_latency_ns.buckets,
			    sizeof(mine.commit_latency_ns.buckets));
	assert_memory_equal(theirs.batch_entries.buckets,
			    mine.batch_entries.buckets,
			    sizeof(mine.batch_entries.buckets));
	/* Where 0.1.0 read its figures stays empty (struct ls_shm). */
	assert_int_equal(atomic_load(&log->shm->stats_v1_version), 0);

	t_append(log, &model, 50, 9);
	logstore_log_stats(ro, &theirs);
	assert_int_equal(theirs.entries_appended, 5);
	assert_int_equal(theirs.last_seq, 5);

	t_close(log);
	logstore_log_stats(ro, &theirs);
	assert_int_equal(theirs.entries_appended, 0); /* its own, now */
	assert_int_equal(theirs.last_seq, 5);
	t_close(ro);
	t_entries_free(&model);
}

int main(void)
{
	int rc = t_uring_available();
	if (rc)
		return rc;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_histogram_buckets),
	    cmocka_unit_test(test_histogram_bounds),
	    cmocka_unit_test_setup_teardown(test_counters_after_work, t_setup,
					    t_teardown),
	    cmocka_unit_test_setup_teardown(test_prometheus_text, t_setup,
					    t_teardown),
	    cmocka_unit_test_setup_teardown(test_read_only_sees_writer_figures,
					    t_setup, t_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
