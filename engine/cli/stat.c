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
 * logstore_log_stats() or logstore_log_metrics_prometheus().
 */
#include "cli.h"

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

static void print_stats(const struct logstore_stats *st)
{
	printf("this handle  (read-only; counts since it was opened)\n");
	printf("  entries_appended        %" PRIu64 "\n", st->entries_appended);
	printf("  bytes_appended          %" PRIu64 "\n", st->bytes_appended);
	printf("  batches_written         %" PRIu64 "\n", st->batches_written);
	printf("  fsyncs                  %" PRIu64 "\n", st->fsyncs);
	printf("  segments_created        %" PRIu64 "\n", st->segments_created);
	printf("  segments_removed        %" PRIu64 "\n", st->segments_removed);
	printf("  recovery_bytes_dropped  %" PRIu64 "\n",
	       st->recovery_bytes_dropped);
	printf("  last_seq                %" PRIu64 "\n", st->last_seq);
	printf("  durable_seq             %" PRIu64 "\n", st->durable_seq);
	printf("  failed                  %d%s%s\n", st->failed,
	       st->failed ? " " : "",
	       st->failed ? logstore_strerror(st->failed) : "");
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
		logstore_log_stats(log, &st);
		print_shape(pos[0], &s);
		print_stats(&st);
		free(infos);
	}
	logstore_log_close(log);
	return status;
}
