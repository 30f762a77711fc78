/* SPDX-License-Identifier: MIT */
/*
 * `logstore stat`: the log's figures.
 *
 * Two kinds of figures, and the output keeps them apart. The log's shape
 * (segments, entries, bytes, sequence numbers and times) comes from the
 * segment list and is the same whoever asks. The counters of struct
 * logstore_stats count what one handle did since it was opened: the CLI
 * opens the log read-only, so they show this process (nothing appended);
 * a service embedding logstore exports its writer's counters with
 * logstore_log_stats() or logstore_log_metrics_prometheus(). With
 * --prometheus the library's text comes first, then the log's shape as
 * gauges named logstore_log_*.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char stat_usage[] =
    "usage: logstore stat [--prometheus] DIR\n"
    "Print the log's figures: segments, entries, bytes, first and last\n"
    "sequence number and time, then the counters of this (read-only)\n"
    "handle. --prometheus prints them in the Prometheus text exposition\n"
    "format instead. Opens the log read-only.\n";

struct shape {
	uint64_t segments;
	uint64_t entries;
	uint64_t bytes;
	uint64_t file_bytes;
	uint64_t first_seq; /* 0 if empty */
	uint64_t last_seq;
	int64_t first_time;
	int64_t last_time;
};

static void shape_of(const struct logstore_segment_info *in, size_t n,
		     struct shape *s)
{
	memset(s, 0, sizeof(*s));
	s->segments = n;
	for (size_t i = 0; i < n; i++) {
		s->entries += in[i].entries;
		s->bytes += in[i].bytes;
		s->file_bytes += in[i].file_bytes;
		if (in[i].entries && s->first_seq == 0) {
			s->first_seq = in[i].first_seq;
			s->first_time = in[i].first_time_ns;
		}
		if (in[i].entries) {
			s->last_seq = in[i].last_seq;
			s->last_time = in[i].last_time_ns;
		}
	}
}

static void print_shape(const char *dir, const struct shape *s)
{
	char a[CLI_TIME_BYTES], b[CLI_TIME_BYTES];
	printf("log          %s\n", dir);
	printf("segments     %" PRIu64 " (%" PRIu64 " B of files)\n",
	       s->segments, s->file_bytes);
	printf("entries      %" PRIu64 " (%" PRIu64 " B of records)\n",
	       s->entries, s->bytes);
	if (s->entries) {
		cli_format_time(s->first_time, a);
		cli_format_time(s->last_time, b);
		printf("seq          %" PRIu64 " .. %" PRIu64 "\n",
		       s->first_seq, s->last_seq);
		printf("time         %s .. %s\n", a, b);
	}
}

static void print_histogram(const char *name,
			    const struct logstore_histogram *h, double scale)
{
	printf("  %-22s  count %" PRIu64, name, h->count);
	if (h->count)
		printf("  mean %.1f  p50 <= %.1f  p99 <= %.1f  max %.1f",
		       (double)h->sum / (double)h->count * scale,
		       (double)logstore_histogram_quantile(h, 0.5) * scale,
		       (double)logstore_histogram_quantile(h, 0.99) * scale,
		       (double)h->max * scale);
	putchar('\n');
}

static void print_stats(const struct logstore_stats *st)
{
	printf("figures      (the running writer's, as of its last commit; "
	       "without one, this command's own read-only handle's)\n");
	printf("  entries_appended        %" PRIu64 "\n", st->entries_appended);
	printf("  bytes_appended          %" PRIu64 "\n", st->bytes_appended);
	printf("  batches_written         %" PRIu64 "\n", st->batches_written);
	printf("  fsyncs                  %" PRIu64 "\n", st->fsyncs);
	printf("  segments_created        %" PRIu64 "\n", st->segments_created);
	printf("  segments_prepared       %" PRIu64 "\n", st->segments_prepared);
	printf("  segments_removed        %" PRIu64 "\n", st->segments_removed);
	printf("  recovery_bytes_dropped  %" PRIu64 "\n",
	       st->recovery_bytes_dropped);
	printf("  last_seq                %" PRIu64 "\n", st->last_seq);
	printf("  durable_seq             %" PRIu64 "\n", st->durable_seq);
	printf("  failed                  %d%s%s\n", st->failed,
	       st->failed ? " " : "",
	       st->failed ? logstore_strerror(st->failed) : "");
	printf("  failed_operations       %" PRIu64 "\n",
	       st->failed_operations);
	printf("  readers_open            %" PRIu64 "\n", st->readers_open);
	printf("  reader_wakeups          %" PRIu64 "\n", st->reader_wakeups);
	print_histogram("commit_latency_us", &st->commit_latency_ns, 1e-3);
	print_histogram("batch_entries", &st->batch_entries, 1);
}

static void gauge(const char *name, const char *help, double v)
{
	printf("# HELP logstore_log_%s %s\n# TYPE logstore_log_%s gauge\n"
	       "logstore_log_%s %.17g\n",
	       name, help, name, name, v);
}

/*
 * The library's text (the live writer's counters, or this handle's),
 * then the log's shape as
 * gauges of its own names (logstore_log_*), which the library cannot
 * know without listing the segments.
 */
static int print_prometheus(logstore_log *log, const char *dir,
			    const struct shape *s)
{
	size_t len = 0;
	int rc = logstore_log_metrics_prometheus(log, NULL, 0, &len);
	char *buf = rc == -ENOSPC ? malloc(len + 1) : NULL;
	if (buf)
		rc = logstore_log_metrics_prometheus(log, buf, len + 1, &len);
	if (rc) {
		free(buf);
		return cli_fail(dir, "metrics", rc ? rc : -ENOMEM);
	}
	fwrite(buf, 1, len, stdout);
	free(buf);
	gauge("segments", "Segment files of the log.", (double)s->segments);
	gauge("entries", "Entries in the log.", (double)s->entries);
	gauge("record_bytes", "Bytes of records in the log.", (double)s->bytes);
	gauge("file_bytes", "Bytes of segment files.", (double)s->file_bytes);
	gauge("first_seq", "Sequence number of the oldest entry; 0 if none.",
	      (double)s->first_seq);
	gauge("last_time_seconds",
	      "Time of the newest entry, seconds since the epoch; 0 if none.",
	      s->entries ? (double)s->last_time / 1e9 : 0);
	return 0;
}

int cli_stat(int argc, char **argv)
{
	bool prometheus = false;
	const struct cli_opt opts[] = {
	    {"--prometheus", NULL, NULL, &prometheus}};
	const char *pos[1];
	size_t npos;
	if (cli_wants_help(argc, argv))
		return fputs(stat_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, opts, 1, pos, 1, &npos, stat_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(stat_usage, "stat needs a directory");
	logstore_log *log;
	if (cli_open(pos[0], true, true, &log))
		return CLI_ERROR;
	struct logstore_segment_info *infos;
	size_t n;
	int status = cli_segments(log, pos[0], &infos, &n);
	if (!status) {
		struct shape s;
		struct logstore_stats st;
		shape_of(infos, n, &s);
		free(infos);
		if (prometheus) {
			status = print_prometheus(log, pos[0], &s);
		} else {
			logstore_log_stats(log, &st);
			print_shape(pos[0], &s);
			print_stats(&st);
		}
	}
	logstore_log_close(log);
	return status;
}
