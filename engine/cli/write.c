/* SPDX-License-Identifier: MIT */
/*
 * Subcommands that change the log: append, repair, retain, rm-segment.
 *
 * append, retain and rm-segment open the log as its writer (taking the
 * lock, so they fail with "locked by another writer" beside a running
 * one) and go through the public API. repair runs logstore_log_repair(),
 * which takes the lock itself and never appends.
 *
 * append: entries are appended buffered and made durable with one
 * logstore_log_sync() per APPEND_SYNC_ENTRIES lines, per line when stdin
 * is a terminal, and at the end; so when append exits 0 every entry it
 * read is durable, and -v prints the sequence numbers only once they are.
 * This gives piped input group commit without threads.
 *
 * Sections: append; repair; retain; rm-segment.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Lines appended between syncs when stdin is not a terminal. */
#define APPEND_SYNC_ENTRIES 4096u

/* ---- append ---- */

static const char append_usage[] =
    "usage: logstore append [--raw] [--buffered] [-v] DIR\n"
    "Append one entry per line of stdin (without its newline), or the whole\n"
    "of stdin as one entry with --raw. Creates the log if DIR is missing.\n"
    "Durable by default: when append exits 0, every entry is on disk.\n"
    "  --buffered  skip the syncs (the entries are durable at close anyway,\n"
    "              unless the machine loses power first)\n"
    "  -v          print each entry's sequence number, once durable\n"
    "Takes the writer lock: fails while another process writes the log.\n";

struct appender {
	const char *dir;
	logstore_log *log;
	bool verbose;
	bool buffered;
	uint64_t first_unsynced; /* seq of the first entry not yet synced */
	uint64_t last_seq;	 /* of the last entry appended; 0 if none */
	uint64_t pending;	 /* entries since the last sync */
};

/* Make everything appended durable, then print the seqs (-v). */
static int append_sync(struct appender *a)
{
	if (a->pending == 0)
		return 0;
	if (!a->buffered) {
		int rc = logstore_log_sync(a->log);
		if (rc)
			return cli_fail(a->dir, "sync", rc);
	}
	for (uint64_t s = a->first_unsynced; a->verbose && s <= a->last_seq;
	     s++)
		printf("%" PRIu64 "\n", s);
	fflush(stdout);
	a->pending = 0;
	return 0;
}

static int append_one(struct appender *a, const void *data, size_t len,
		      uint64_t line)
{
	uint64_t seq;
	int rc = logstore_log_append(a->log, data, len, LOGSTORE_BUFFERED, &seq,
				     NULL);
	if (rc) {
		char what[64];
		snprintf(what, sizeof(what), "append (line %" PRIu64 ")", line);
		return cli_fail(a->dir, what, rc);
	}
	if (a->pending++ == 0)
		a->first_unsynced = seq;
	a->last_seq = seq;
	return 0;
}

static int append_lines(struct appender *a, bool tty)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t lineno = 0;
	int status = 0;
	while (!status && (n = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			n--;
		status = append_one(a, line, (size_t)n, lineno);
		if (!status && (tty || a->pending >= APPEND_SYNC_ENTRIES))
			status = append_sync(a);
	}
	free(line);
	if (!status && ferror(stdin)) {
		fprintf(stderr, "logstore: stdin: %s\n", strerror(errno));
		status = CLI_ERROR;
	}
	return status;
}

static int append_raw(struct appender *a)
{
	size_t len = 0, cap = 64 * 1024;
	char *buf = malloc(cap);
	int status = 0;
	while (buf && !status) {
		if (len == cap) {
			char *p = realloc(buf, cap * 2);
			if (!p)
				break;
			buf = p;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, stdin);
		len += n;
		if (n == 0 && ferror(stdin)) {
			fprintf(stderr, "logstore: stdin: %s\n",
				strerror(errno));
			status = CLI_ERROR;
		}
		if (n == 0)
			break;
	}
	if (!buf || (!status && !feof(stdin) && !ferror(stdin)))
		status = cli_fail(a->dir, "reading stdin", -ENOMEM);
	if (!status)
		status = append_one(a, buf, len, 1);
	free(buf);
	return status;
}

int cli_append(int argc, char **argv)
{
	bool raw = false, buffered = false, verbose = false;
	const struct cli_opt opts[] = {
	    {"--raw", NULL, NULL, &raw},
	    {"--buffered", NULL, NULL, &buffered},
	    {"--verbose", "-v", NULL, &verbose},
	};
	const char *pos[1];
	size_t npos;
	if (cli_wants_help(argc, argv))
		return fputs(append_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, opts, 3, pos, 1, &npos, append_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(append_usage, "append needs a directory");
	struct appender a = {
	    .dir = pos[0], .verbose = verbose, .buffered = buffered};
	if (cli_open(a.dir, false, false, &a.log))
		return CLI_ERROR;
	int status = raw ? append_raw(&a) : append_lines(&a, isatty(0));
	if (!status)
		status = append_sync(&a);
	rc = logstore_log_close(a.log);
	if (rc && !status)
		status = cli_fail(a.dir, "close", rc);
	return status;
}

/* ---- repair ---- */

static const char repair_usage[] =
    "usage: logstore repair [--save FILE] [--force] DIR\n"
    "Cut a torn tail of the last segment: the bytes after its last valid\n"
    "record that are not zero (a write a crash interrupted). They are\n"
    "first copied to FILE (default DIR/<segment>.cut-<offset>, which must\n"
    "not exist) and made durable, then zeroed in the segment. An invalid\n"
    "record followed by valid ones is damage, not a tear: repair refuses\n"
    "it (exit 1, naming segment and offset) unless --force, which cuts at\n"
    "the damage and saves everything after it. Older segments are never\n"
    "changed; `logstore verify` reports damage there.\n"
    "Takes the writer lock: fails while another process writes the log.\n";

int cli_repair(int argc, char **argv)
{
	const char *save = NULL;
	bool force = false;
	const struct cli_opt opts[] = {
	    {"--save", NULL, &save, NULL},
	    {"--force", NULL, NULL, &force},
	};
	const char *pos[1];
	size_t npos;
	if (cli_wants_help(argc, argv))
		return fputs(repair_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, opts, 2, pos, 1, &npos, repair_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(repair_usage, "repair needs a directory");
	struct logstore_repair_result res;
	rc = logstore_log_repair(pos[0], save,
				 force ? LOGSTORE_REPAIR_FORCE : 0, &res);
	if (rc)
		return cli_fail(pos[0], "repair", rc);
	if (res.segment[0] == '\0')
		printf("%s: no segments: nothing to repair\n", pos[0]);
	else if (res.cut_bytes == 0)
		printf("%s: %s: records end at offset %" PRIu64
		       ": nothing to cut\n",
		       pos[0], res.segment, res.end_offset);
	else
		printf("%s: %s: cut %" PRIu64 " bytes after offset %" PRIu64
		       "%s, saved in %s\n",
		       pos[0], res.segment, res.cut_bytes, res.end_offset,
		       res.forced ? " (forced: damage, not a torn tail)" : "",
		       res.save_path);
	return CLI_OK;
}

/* ---- retain ---- */

static const char retain_usage[] =
    "usage: logstore retain --older-than DURATION DIR\n"
    "Remove every sealed segment whose newest entry is older than DURATION\n"
    "before now (units ns us ms s m h d, combined: 1h30m, 7d). The active\n"
    "segment is never removed. Prints the number of segments removed.\n"
    "Takes the writer lock: fails while another process writes the log.\n";

int cli_retain(int argc, char **argv)
{
	const char *older = NULL;
	const struct cli_opt opts[] = {{"--older-than", NULL, &older, NULL}};
	const char *pos[1];
	size_t npos;
	int64_t dur;
	if (cli_wants_help(argc, argv))
		return fputs(retain_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, opts, 1, pos, 1, &npos, retain_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(retain_usage, "retain needs a directory");
	if (!older)
		return cli_usage(retain_usage, "retain needs --older-than");
	if (cli_parse_duration(older, &dur))
		return cli_usage(retain_usage,
				 "--older-than: '%s' is not a duration", older);
	logstore_log *log;
	if (cli_open(pos[0], false, true, &log))
		return CLI_ERROR;
	size_t removed = 0;
	rc = logstore_log_remove_older_than(log, cli_now_ns() - dur, &removed);
	int status = rc ? cli_fail(pos[0], "retain", rc) : CLI_OK;
	if (!rc)
		printf("%s: removed %zu segments\n", pos[0], removed);
	rc = logstore_log_close(log);
	if (rc && !status)
		status = cli_fail(pos[0], "close", rc);
	return status;
}

/* ---- rm-segment ---- */

static const char rm_usage[] =
    "usage: logstore rm-segment DIR START\n"
    "Remove the segment that starts at START: its file name as `logstore\n"
    "ls` shows it (00000000000000000001.seg), or its start time (RFC 3339\n"
    "or nanoseconds since the epoch). The active (newest) segment cannot\n"
    "be removed. Takes the writer lock.\n";

/* START as a segment name -> its first time, from the list. */
static int start_of(logstore_log *log, const char *dir, const char *name,
		    int64_t *out)
{
	struct logstore_segment_info *infos;
	size_t n;
	if (cli_segments(log, dir, &infos, &n))
		return CLI_ERROR;
	size_t i = 0;
	while (i < n && strcmp(infos[i].name, name) != 0)
		i++;
	if (i < n)
		*out = infos[i].first_time_ns;
	free(infos);
	if (i < n)
		return 0;
	fprintf(stderr, "logstore: %s/%s: no such segment\n", dir, name);
	return CLI_ERROR;
}

int cli_rm_segment(int argc, char **argv)
{
	const char *pos[2];
	size_t npos;
	int64_t start;
	if (cli_wants_help(argc, argv))
		return fputs(rm_usage, stdout), CLI_OK;
	int rc = cli_parse(argc, argv, NULL, 0, pos, 2, &npos, rm_usage);
	if (rc)
		return rc;
	if (npos != 2)
		return cli_usage(rm_usage, "rm-segment needs DIR and START");
	size_t len = strlen(pos[1]);
	bool by_name = len > 4 && strcmp(pos[1] + len - 4, ".seg") == 0;
	if (!by_name && cli_parse_time(pos[1], &start))
		return cli_usage(rm_usage,
				 "START: '%s' is not a segment name or a time",
				 pos[1]);
	logstore_log *log;
	if (cli_open(pos[0], false, true, &log))
		return CLI_ERROR;
	int status = by_name ? start_of(log, pos[0], pos[1], &start) : 0;
	if (!status) {
		rc = logstore_log_remove_segment(log, start);
		status = rc ? cli_fail(pos[0], "rm-segment", rc) : CLI_OK;
	}
	if (!status)
		printf("%s: removed the segment starting at %" PRId64 "\n",
		       pos[0], start);
	rc = logstore_log_close(log);
	if (rc && !status)
		status = cli_fail(pos[0], "close", rc);
	return status;
}
