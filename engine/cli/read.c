/* SPDX-License-Identifier: MIT */
/*
 * Subcommands that only read: ls, cat, stat, verify (tail is in tail.c).
 *
 * Each opens the log read-only (no lock, nothing changes on disk), so it
 * works while another process writes, and on a directory it may not
 * write. Entries are printed from the reader's zero-copy view; nothing
 * is buffered beyond stdio's own buffer, so cat of a large log runs in
 * constant memory.
 *
 * Sections: entry printing (shared with tail.c); ls; cat; stat; verify.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- entry printing ---- */

int cli_entry_format_parse(const char *format, const char *time,
			   struct cli_entry_format *out)
{
	memset(out, 0, sizeof(*out));
	if (!format || strcmp(format, "text") == 0)
		out->payload = CLI_PAYLOAD_TEXT;
	else if (strcmp(format, "hex") == 0)
		out->payload = CLI_PAYLOAD_HEX;
	else if (strcmp(format, "base64") == 0)
		out->payload = CLI_PAYLOAD_BASE64;
	else
		return -EINVAL;
	if (!time || strcmp(time, "rfc3339") == 0)
		out->time_ns = false;
	else if (strcmp(time, "ns") == 0)
		out->time_ns = true;
	else
		return -EINVAL;
	return 0;
}

static void put_payload(FILE *f, const struct cli_entry_format *fmt,
			const struct logstore_entry *e)
{
	if (fmt->payload == CLI_PAYLOAD_HEX)
		cli_put_hex(f, e->data, e->len);
	else if (fmt->payload == CLI_PAYLOAD_BASE64)
		cli_put_base64(f, e->data, e->len);
	else if (fmt->json)
		cli_put_json_string(f, e->data, e->len);
	else
		cli_put_text(f, e->data, e->len);
}

void cli_entry_print(FILE *f, const struct cli_entry_format *fmt,
		     const struct logstore_entry *e)
{
	char t[CLI_TIME_BYTES];
	cli_format_time(e->time_ns, t);
	if (fmt->json) {
		static const char *const names[] = {"text", "hex", "base64"};
		fprintf(f,
			"{\"seq\":%" PRIu64
			",\"time\":\"%s\",\"time_ns\":%" PRId64
			",\"len\":%zu,\"%s\":",
			e->seq, t, e->time_ns, e->len, names[fmt->payload]);
		if (fmt->payload != CLI_PAYLOAD_TEXT)
			putc('"', f);
		put_payload(f, fmt, e);
		if (fmt->payload != CLI_PAYLOAD_TEXT)
			putc('"', f);
		fputs("}\n", f);
		return;
	}
	if (fmt->time_ns)
		fprintf(f, "%" PRIu64 " %" PRId64 " ", e->seq, e->time_ns);
	else
		fprintf(f, "%" PRIu64 " %s ", e->seq, t);
	put_payload(f, fmt, e);
	putc('\n', f);
}

/* ---- ls ---- */

static const char ls_usage[] =
    "usage: logstore ls [--json] DIR\n"
    "List the segments, oldest first: name, start and end time (first and\n"
    "newest entry), first and last sequence number, entries, record bytes,\n"
    "file bytes, and whether appends go to it (active). --json prints one\n"
    "JSON object per segment and line. Opens the log read-only.\n";

static void ls_print(const struct logstore_segment_info *in, bool json)
{
	char start[CLI_TIME_BYTES], end[CLI_TIME_BYTES];
	cli_format_time(in->first_time_ns, start);
	cli_format_time(in->last_time_ns, end);
	if (json) {
		printf("{\"name\":\"%s\",\"start\":\"%s\",\"start_ns\":%" PRId64
		       ",\"end\":\"%s\",\"end_ns\":%" PRId64
		       ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
		       ",\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"file_bytes\":%" PRIu64 ",\"active\":%s}\n",
		       in->name, start, in->first_time_ns, end,
		       in->last_time_ns, in->first_seq, in->last_seq,
		       in->entries, in->bytes, in->file_bytes,
		       in->active ? "true" : "false");
		return;
	}
	printf("%-24s  %-30s  %-30s  %10" PRIu64 "  %10" PRIu64 "  %9" PRIu64
	       "  %11" PRIu64 "  %11" PRIu64 "  %s\n",
	       in->name, start, end, in->first_seq, in->last_seq, in->entries,
	       in->bytes, in->file_bytes, in->active ? "yes" : "no");
}

/* The segment list; *infos is malloc'ed. Returns 0 or CLI_ERROR. */
int cli_segments(logstore_log *log, const char *dir,
		 struct logstore_segment_info **infos, size_t *count)
{
	size_t n = 0;
	*infos = NULL;
	int rc = logstore_log_segments(log, NULL, 0, &n);
	for (int tries = 0; !rc && tries < 8; tries++) {
		free(*infos);
		*infos = calloc(n + 1, sizeof(**infos));
		if (!*infos)
			return cli_fail(dir, "segments", -ENOMEM);
		size_t cap = n + 1;
		rc = logstore_log_segments(log, *infos, cap, &n);
		if (!rc && n <= cap) {
			*count = n;
			return 0;
		}
	}
	free(*infos);
	*infos = NULL;
	return cli_fail(dir, "segments", rc ? rc : -EAGAIN);
}

int cli_ls(int argc, char **argv)
{
	bool json = false;
	const struct cli_opt opts[] = {{"--json", NULL, NULL, &json}};
	const char *pos[1];
	size_t npos;
	if (cli_wants_help(argc, argv))
		return fputs(ls_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, opts, 1, pos, 1, &npos, ls_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(ls_usage, "ls needs a directory");
	logstore_log *log;
	if (cli_open(pos[0], true, true, &log))
		return CLI_ERROR;
	struct logstore_segment_info *infos;
	size_t n;
	rc = cli_segments(log, pos[0], &infos, &n);
	if (!rc && !json)
		printf("%-24s  %-30s  %-30s  %10s  %10s  %9s  %11s  %11s  %s\n",
		       "segment", "start", "end", "first_seq", "last_seq",
		       "entries", "bytes", "file_bytes", "active");
	for (size_t i = 0; !rc && i < n; i++)
		ls_print(&infos[i], json);
	free(infos);
	logstore_log_close(log);
	return rc;
}

/* ---- cat ---- */

static const char cat_usage[] =
    "usage: logstore cat [--from-time TIME | --from-seq SEQ] [--count N]\n"
    "                    [--format text|hex|base64] [--time rfc3339|ns]\n"
    "                    [--json] DIR\n"
    "Print entries, oldest first, one per line: \"SEQ TIME PAYLOAD\".\n"
    "  --from-time TIME  start at the first entry at or after TIME: RFC 3339\n"
    "                    (2026-11-24T09:40:00.123456789Z, +hh:mm offsets) or\n"
    "                    nanoseconds since the Unix epoch\n"
    "  --from-seq SEQ    start at sequence number SEQ\n"
    "  --count N         print at most N entries\n"
    "  --format F        payload as text (non-printable bytes as \\xNN, \\n,\n"
    "                    \\t, \\r, \\\\), hex or base64; default text\n"
    "  --time T          times as RFC 3339 in UTC with nanoseconds (default)\n"
    "                    or as integer nanoseconds\n"
    "  --json            one JSON object per line: seq, time, time_ns, len\n"
    "                    and the payload under the format's name (text is\n"
    "                    a JSON string; invalid UTF-8 bytes as \\u00NN)\n"
    "Opens the log read-only.\n";

struct cat_args {
	const char *dir;
	struct logstore_start start;
	uint64_t count; /* UINT64_MAX: all */
	struct cli_entry_format fmt;
};

static int cat_parse(int argc, char **argv, struct cat_args *a)
{
	const char *from_time = NULL, *from_seq = NULL, *count = NULL;
	const char *format = NULL, *time = NULL;
	bool json = false;
	const struct cli_opt opts[] = {
	    {"--from-time", NULL, &from_time, NULL},
	    {"--from-seq", NULL, &from_seq, NULL},
	    {"--count", "-n", &count, NULL},
	    {"--format", NULL, &format, NULL},
	    {"--time", NULL, &time, NULL},
	    {"--json", NULL, NULL, &json},
	};
	const char *pos[1];
	size_t npos;
	int rc = cli_parse(argc, argv, opts, 6, pos, 1, &npos, cat_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(cat_usage, "cat needs a directory");
	a->dir = pos[0];
	a->count = UINT64_MAX;
	a->start.kind = LOGSTORE_START_OLDEST;
	if (from_time && from_seq)
		return cli_usage(
		    cat_usage, "--from-time and --from-seq exclude each other");
	if (from_time && cli_parse_time(from_time, &a->start.time_ns))
		return cli_usage(cat_usage,
				 "--from-time: '%s' is not an "
				 "RFC 3339 time or nanoseconds",
				 from_time);
	if (from_time)
		a->start.kind = LOGSTORE_START_TIME;
	if (from_seq && cli_parse_u64(from_seq, &a->start.seq))
		return cli_usage(cat_usage, "--from-seq: '%s' is not a number",
				 from_seq);
	if (from_seq)
		a->start.kind = LOGSTORE_START_SEQ;
	if (count && cli_parse_u64(count, &a->count))
		return cli_usage(cat_usage, "--count: '%s' is not a number",
				 count);
	if (cli_entry_format_parse(format, time, &a->fmt))
		return cli_usage(cat_usage, "unknown --format or --time");
	a->fmt.json = json;
	return 0;
}

int cli_cat(int argc, char **argv)
{
	struct cat_args a;
	if (cli_wants_help(argc, argv))
		return fputs(cat_usage, stdout), CLI_OK;
	int rc = cat_parse(argc, argv, &a);
	if (rc)
		return rc;
	logstore_log *log;
	if (cli_open(a.dir, true, true, &log))
		return CLI_ERROR;
	logstore_reader *r;
	rc = logstore_reader_open(log, &a.start, &r);
	if (rc) {
		cli_fail(a.dir, "reader open", rc);
		logstore_log_close(log);
		return CLI_ERROR;
	}
	struct logstore_entry e;
	uint64_t n = 0;
	while (n < a.count && (rc = logstore_reader_next(r, &e)) == 0) {
		cli_entry_print(stdout, &a.fmt, &e);
		n++;
	}
	int status = CLI_OK;
	if (rc < 0)
		status = cli_fail(a.dir, "read", rc);
	if (fflush(stdout) != 0 && status == CLI_OK) {
		fprintf(stderr, "logstore: stdout: %s\n", strerror(errno));
		status = CLI_ERROR;
	}
	logstore_reader_close(r);
	logstore_log_close(log);
	return status;
}

/* ---- verify ---- */

static const char verify_usage[] =
    "usage: logstore verify [--quiet] DIR\n"
    "Check every record of every segment (checksum, sequence number, time,\n"
    "segment salt), the time index and seal of every sealed segment, that\n"
    "only zeros follow the records of a sealed segment, and that segments\n"
    "follow each other. Shows a progress bar when stderr is a terminal.\n"
    "Exit 1 names the first damaged segment and the byte offset in it.\n"
    "Opens the log read-only: safe beside a running writer, whose active\n"
    "segment is checked up to its committed end.\n";

static void verify_bar(const struct logstore_verify_progress *p, void *ctx)
{
	(void)ctx;
	double frac = p->bytes_total
			  ? (double)p->bytes_done / (double)p->bytes_total
			  : 1.0;
	int width = 30, filled = (int)(frac * width + 0.5);
	if (filled > width)
		filled = width;
	fprintf(stderr, "\r[%.*s%*s] %3.0f%%  segment %zu/%zu %s ", filled,
		"##############################", width - filled, "",
		frac * 100, p->segment_index + 1, p->segment_count,
		p->segment ? p->segment : "");
}

int cli_verify(int argc, char **argv)
{
	bool quiet = false;
	const struct cli_opt opts[] = {{"--quiet", "-q", NULL, &quiet}};
	const char *pos[1];
	size_t npos;
	if (cli_wants_help(argc, argv))
		return fputs(verify_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, opts, 1, pos, 1, &npos, verify_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(verify_usage, "verify needs a directory");
	logstore_log *log;
	if (cli_open(pos[0], true, true, &log))
		return CLI_ERROR;
	bool bar = !quiet && isatty(STDERR_FILENO);
	struct logstore_verify_result res;
	rc = logstore_log_verify(log, bar ? verify_bar : NULL, NULL, &res);
	if (bar)
		fputc('\n', stderr);
	int status = CLI_OK;
	if (rc)
		status = cli_fail(pos[0], "verify", rc);
	else if (!quiet)
		printf("%s: OK: %" PRIu64 " segments, %" PRIu64
		       " entries, %" PRIu64 " record bytes, %" PRIu64
		       " index entries checked\n",
		       pos[0], res.segments, res.entries, res.bytes,
		       res.index_entries);
	logstore_log_close(log);
	return status;
}
