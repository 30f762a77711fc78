/* SPDX-License-Identifier: MIT */
/*
 * `logstore tail`: the last entries of a log, and with -f the entries
 * appended after them, as another process appends them.
 *
 * Following uses logstore_reader_next_wait(): the reader sleeps on a
 * futex in the LOCK file's shared mapping until the writer publishes a
 * group commit, so tail -f neither polls nor spins a core, and sees an
 * entry about one group commit after it is written. The log is opened
 * read-only, so tail runs beside the writer in another process. Each
 * entry is flushed to stdout as soon as it is printed, so a pipe sees it
 * at once.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* TEMP until main merge */
int logstore_reader_next_wait(logstore_reader *reader,
			      struct logstore_entry *entry, int64_t timeout_ns);

static const char tail_usage[] =
    "usage: logstore tail [-n N] [-f] [--timeout DURATION]\n"
    "                     [--format text|hex|base64] [--time rfc3339|ns]\n"
    "                     [--json] DIR\n"
    "Print the last N entries (default 10) as `logstore cat` does.\n"
    "  -f, --follow        then print entries as they are appended (by this\n"
    "                      or another process), until interrupted\n"
    "  --timeout DURATION  with -f: exit 0 once no entry came for DURATION\n"
    "                      (units ns us ms s m h d)\n"
    "Opens the log read-only: runs beside the writer.\n";

struct tail_args {
	const char *dir;
	uint64_t count;
	bool follow;
	int64_t timeout_ns; /* < 0: wait forever */
	struct cli_entry_format fmt;
};

static int tail_parse(int argc, char **argv, struct tail_args *a)
{
	const char *count = NULL, *timeout = NULL, *format = NULL;
	const char *time = NULL;
	bool json = false;
	const struct cli_opt opts[] = {
	    {"--lines", "-n", &count, NULL},
	    {"--follow", "-f", NULL, &a->follow},
	    {"--timeout", NULL, &timeout, NULL},
	    {"--format", NULL, &format, NULL},
	    {"--time", NULL, &time, NULL},
	    {"--json", NULL, NULL, &json},
	};
	const char *pos[1];
	size_t npos;
	int rc = cli_parse(argc, argv, opts, 6, pos, 1, &npos, tail_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(tail_usage, "tail needs a directory");
	a->dir = pos[0];
	a->count = 10;
	a->timeout_ns = -1;
	if (count && cli_parse_u64(count, &a->count))
		return cli_usage(tail_usage, "-n: '%s' is not a number", count);
	if (timeout && !a->follow)
		return cli_usage(tail_usage, "--timeout needs -f");
	if (timeout && cli_parse_duration(timeout, &a->timeout_ns))
		return cli_usage(tail_usage,
				 "--timeout: '%s' is not a duration", timeout);
	if (cli_entry_format_parse(format, time, &a->fmt))
		return cli_usage(tail_usage, "unknown --format or --time");
	a->fmt.json = json;
	return 0;
}

/* Where to start: count entries before the end. */
static struct logstore_start tail_start(logstore_log *log, uint64_t count)
{
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	struct logstore_start s = {.kind = LOGSTORE_START_SEQ,
				   .seq = st.last_seq + 1};
	if (st.last_seq == 0)
		s.kind = LOGSTORE_START_OLDEST;
	else if (count > 0 && count <= st.last_seq)
		s.seq = st.last_seq - count + 1;
	else if (count > 0)
		s.kind = LOGSTORE_START_OLDEST;
	return s;
}

static int tail_run(const struct tail_args *a, logstore_reader *r)
{
	struct logstore_entry e;
	int rc;
	while ((rc = logstore_reader_next(r, &e)) == 0)
		cli_entry_print(stdout, &a->fmt, &e);
	fflush(stdout);
	while (rc == LOGSTORE_END && a->follow) {
		rc = logstore_reader_next_wait(r, &e, a->timeout_ns);
		if (rc == 0) {
			cli_entry_print(stdout, &a->fmt, &e);
			if (fflush(stdout) != 0)
				return cli_fail("stdout", "write", -errno);
			rc = LOGSTORE_END;
		} else if (rc == LOGSTORE_END && a->timeout_ns >= 0) {
			break; /* idle for the whole timeout */
		}
	}
	return rc < 0 ? cli_fail(a->dir, "read", rc) : CLI_OK;
}

int cli_tail(int argc, char **argv)
{
	struct tail_args a = {0};
	if (cli_wants_help(argc, argv))
		return fputs(tail_usage, stdout), CLI_OK;
	int rc = tail_parse(argc, argv, &a);
	if (rc)
		return rc;
	logstore_log *log;
	if (cli_open(a.dir, true, true, &log))
		return CLI_ERROR;
	struct logstore_start s = tail_start(log, a.count);
	logstore_reader *r;
	rc = logstore_reader_open(log, &s, &r);
	int status = rc ? cli_fail(a.dir, "reader open", rc) : CLI_OK;
	if (!rc) {
		status = tail_run(&a, r);
		logstore_reader_close(r);
	}
	logstore_log_close(log);
	return status;
}
