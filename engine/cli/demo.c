/* SPDX-License-Identifier: MIT */
/*
 * `logstore demo`: the README's first command.
 *
 * It writes nothing itself: every byte on disk is written by the library
 * through the public API in include/logstore.h, so this file doubles as
 * an end-to-end check of that API.
 *
 * Command:
 *   logstore demo DIR [--entries N] [--threads N]
 *       Opens (and creates) the log in DIR with small segments, has N
 *       threads append entries durably at the same time, then reads every
 *       entry back and compares it byte for byte with what was written,
 *       seeks by time and by sequence number, and prints what it did.
 *
 * Invariants the demo checks: the acknowledged sequence numbers of this
 * run are dense (one per entry, no gaps, no duplicates); a scan from the
 * oldest entry sees sequence numbers +1 and strictly increasing times;
 * every entry of this run reads back with the time it was acknowledged
 * with and the payload it was written with; a seek by time or sequence
 * number lands exactly on the expected entry.
 *
 * Normal path: parse_args -> demo_run (open, append, index, scan, seek,
 * report, close) -> "OK" and exit 0. Entries already in DIR are kept and
 * scanned, but only this run's entries are compared, so the demo can run
 * again on the same directory.
 *
 * Failure modes: a usage error exits 2 with the usage on stderr; an error
 * returned by the library exits 1 with logstore_strerror() and
 * logstore_error_detail() on stderr, naming the directory; a mismatch
 * found by a check exits 1. The log is closed on every path after open
 * (readers first), so the final sync runs even when a check fails.
 *
 * Sections, in order: limits and types; arguments; payloads; errors;
 * appends; checks of the acknowledgements; scan; seeks; report; entry
 * point.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* realpath, clock_gettime */
#endif

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "logstore.h"

/* ---- limits and types ---------------------------------------------- */

/*
 * Segments of 1 MiB: a default demo writes about 5 MB of records, so
 * several segments appear and the scan and the seeks cross segment
 * boundaries. The engine's default is 64 MiB (README "Segment size").
 */
#define DEMO_SEGMENT_BYTES (1024u * 1024)
#define DEMO_THREADS_DEFAULT 4u
#define DEMO_ENTRIES_DEFAULT 5000u
/* More threads than this only measure the scheduler on small machines. */
#define DEMO_THREADS_MAX 256u
/* Per thread; with 256 threads the acknowledgements take 1 GiB at most. */
#define DEMO_ENTRIES_MAX 1000000u
/* Payload lengths vary over [MIN, MAX] so records have different sizes. */
#define DEMO_PAYLOAD_BYTES_MIN 16u
#define DEMO_PAYLOAD_BYTES_MAX 400u
/* Mismatches printed before the scan stops listing them. */
#define DEMO_MISMATCHES_SHOWN_MAX 10u
/* Segments listed one per line; the rest are summed up in one line. */
#define DEMO_SEGMENTS_SHOWN_MAX 32u
#define DEMO_DETAIL_BYTES 256u

_Static_assert(DEMO_PAYLOAD_BYTES_MIN <= DEMO_PAYLOAD_BYTES_MAX,
	       "payload length range is not empty");
_Static_assert(DEMO_ENTRIES_MAX <= UINT32_MAX / DEMO_THREADS_MAX,
	       "an entry's index fits in 32 bits");

struct demo_config {
	const char *dir;  /* log directory, as given */
	unsigned threads; /* appending threads */
	unsigned entries; /* entries appended by each thread */
};

/* What the log acknowledged for one entry; indexed thread * entries + c. */
struct ack {
	uint64_t seq;	 /* 0 until acknowledged */
	int64_t time_ns; /* the entry's time */
};

struct demo {
	struct demo_config config;
	logstore_log *log;
	struct ack *acks;	 /* config.threads * config.entries */
	uint32_t *by_seq;	 /* seq - first_seq -> index into acks */
	uint64_t total;		 /* entries this run appends */
	uint64_t first_seq;	 /* first seq of this run */
	uint64_t prior_last_seq; /* last seq before this run; 0 if none */
	double append_s;	 /* wall time of the appends */
	double scan_s;		 /* wall time of the scan */
	uint64_t scanned;	 /* entries seen by the scan, older ones too */
	char path[PATH_MAX];	 /* absolute directory path */
};

struct worker {
	pthread_t thread_id;
	struct demo *demo;
	unsigned thread;		/* 0 .. threads - 1 */
	int rc;				/* first error, or 0 */
	char detail[DEMO_DETAIL_BYTES]; /* its logstore_error_detail() */
};

/* ---- arguments ----------------------------------------------------- */

static const char usage_line[] =
    "usage: logstore demo DIR [--entries N] [--threads N]\n";

static void usage_full(void)
{
	printf("%s\n"
	       "demo DIR   Open (or create) the log in DIR. From --threads "
	       "threads\n"
	       "           (default %u) append --entries entries each "
	       "(default %u)\n"
	       "           durably, read everything back and compare it byte "
	       "for byte,\n"
	       "           seek by time and by sequence number, print what "
	       "was done\n"
	       "           and \"OK\". Entries already in DIR are kept.\n"
	       "\n"
	       "Exit status: 0 OK, 1 an error or a mismatch, 2 bad usage.\n",
	       usage_line, DEMO_THREADS_DEFAULT, DEMO_ENTRIES_DEFAULT);
}

static int parse_unsigned(const char *text, unsigned max, unsigned *out)
{
	char *end = NULL;
	unsigned long value;

	if (text == NULL || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < 1 || value > max)
		return -EINVAL;
	*out = (unsigned)value;
	return 0;
}

/* Parses the value of option name into *out. Returns 0 or -EINVAL. */
static int parse_option(const char *name, const char *value, unsigned max,
			unsigned *out)
{
	if (parse_unsigned(value, max, out) == 0)
		return 0;
	fprintf(stderr, "logstore: %s needs a number from 1 to %u\n", name,
		max);
	return -EINVAL;
}

/* Parses the demo's arguments after "demo". Returns 0 or -EINVAL. */
static int parse_demo_args(int argc, char **argv, struct demo_config *config)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		int rc = 0;

		if (strcmp(arg, "--entries") == 0) {
			rc = parse_option(arg, value, DEMO_ENTRIES_MAX,
					  &config->entries);
			i++;
		} else if (strcmp(arg, "--threads") == 0) {
			rc = parse_option(arg, value, DEMO_THREADS_MAX,
					  &config->threads);
			i++;
		} else if (arg[0] == '-' || config->dir != NULL) {
			fprintf(stderr, "logstore: unexpected argument '%s'\n",
				arg);
			rc = -EINVAL;
		} else {
			config->dir = arg;
		}
		if (rc != 0)
			return rc;
	}
	if (config->dir == NULL || config->dir[0] == '\0') {
		fprintf(stderr, "logstore: demo needs a directory\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- payloads ------------------------------------------------------ */

/* A small integer hash, so lengths look random but are reproducible. */
static uint32_t mix(uint32_t a, uint32_t b)
{
	uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u);

	h ^= h >> 16;
	h *= 0x85EBCA6Bu;
	h ^= h >> 13;
	h *= 0xC2B2AE35u;
	h ^= h >> 16;
	return h;
}

/*
 * The payload of entry counter of thread: "thread T entry C " followed
 * by a repeating pattern, cut to a length in [MIN, MAX] that depends on
 * both numbers. Pure: the scan calls it again to know what to expect.
 * out: buf, at least DEMO_PAYLOAD_BYTES_MAX bytes. Returns the length.
 */
static size_t payload_make(unsigned thread, unsigned counter, char *buf)
{
	static const char pattern[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	const size_t period = sizeof(pattern) - 1;
	size_t len = DEMO_PAYLOAD_BYTES_MIN +
		     mix(thread, counter) %
			 (DEMO_PAYLOAD_BYTES_MAX - DEMO_PAYLOAD_BYTES_MIN + 1);
	char prefix[48];
	int prefix_len = snprintf(prefix, sizeof(prefix), "thread %u entry %u ",
				  thread, counter);
	size_t start = (size_t)thread * 7 + counter;

	for (size_t i = 0; i < len; i++) {
		if (i < (size_t)prefix_len)
			buf[i] = prefix[i];
		else
			buf[i] = pattern[(start + i) % period];
	}
	return len;
}

/* ---- errors -------------------------------------------------------- */

/* Prints a library error for the demo's directory; returns exit code 1. */
static int report_error(const char *dir, const char *what, int rc,
			const char *detail)
{
	fprintf(stderr, "logstore: %s: %s: %s (%d)%s%s\n", dir, what,
		logstore_strerror(rc), rc, detail[0] ? ": " : "", detail);
	return 1;
}

/* The same for an error of the calling thread's last logstore call. */
static int fail(const struct demo *demo, const char *what, int rc)
{
	char detail[DEMO_DETAIL_BYTES];

	/* Copy first: the detail lives until the next logstore call. */
	snprintf(detail, sizeof(detail), "%s", logstore_error_detail());
	return report_error(demo->config.dir, what, rc, detail);
}

static int mismatch(const struct demo *demo, const char *what, uint64_t seq)
{
	fprintf(stderr, "logstore: %s: MISMATCH at seq %" PRIu64 ": %s\n",
		demo->config.dir, seq, what);
	return 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- appends ------------------------------------------------------- */

static void *worker_run(void *arg)
{
	struct worker *worker = arg;
	struct demo *demo = worker->demo;
	unsigned entries = demo->config.entries;
	struct ack *acks = demo->acks + (size_t)worker->thread * entries;
	char buf[DEMO_PAYLOAD_BYTES_MAX];

	for (unsigned counter = 0; counter < entries; counter++) {
		size_t len = payload_make(worker->thread, counter, buf);
		int rc = logstore_log_append(
		    demo->log, buf, len, LOGSTORE_DURABLE, &acks[counter].seq,
		    &acks[counter].time_ns);
		if (rc != 0) {
			worker->rc = rc;
			snprintf(worker->detail, sizeof(worker->detail), "%s",
				 logstore_error_detail());
			break;
		}
	}
	return NULL;
}

/* Runs the appending threads and waits for them. Returns 0 or 1. */
static int append_all(struct demo *demo)
{
	unsigned threads = demo->config.threads;
	struct worker *workers = calloc(threads, sizeof(*workers));
	unsigned started = 0;
	int status = 0;
	double start;

	if (workers == NULL)
		return report_error(demo->config.dir, "demo", -ENOMEM, "");
	start = now_s();
	for (; started < threads; started++) {
		struct worker *worker = &workers[started];
		int rc;

		worker->demo = demo;
		worker->thread = started;
		rc = pthread_create(&worker->thread_id, NULL, worker_run,
				    worker);
		if (rc != 0) {
			status = report_error(demo->config.dir,
					      "starting a thread", -rc, "");
			break;
		}
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(workers[i].thread_id, NULL);
		if (workers[i].rc != 0 && status == 0)
			status = report_error(demo->config.dir, "append",
					      workers[i].rc, workers[i].detail);
	}
	demo->append_s = now_s() - start;
	free(workers);
	return status;
}

/* ---- checks of the acknowledgements ---------------------------------- */

/*
 * Builds demo->by_seq and checks that this run's sequence numbers are
 * exactly first_seq .. first_seq + total - 1, each acknowledged once, and
 * that their times increase with them. Returns 0 or 1.
 */
static int index_acks(struct demo *demo)
{
	uint64_t first = UINT64_MAX;

	for (uint64_t i = 0; i < demo->total; i++)
		if (demo->acks[i].seq < first)
			first = demo->acks[i].seq;
	if (first <= demo->prior_last_seq)
		return mismatch(demo,
				"acknowledged seq not after the "
				"entries already in the log",
				first);
	demo->first_seq = first;
	for (uint64_t i = 0; i < demo->total; i++)
		demo->by_seq[i] = UINT32_MAX;
	for (uint64_t i = 0; i < demo->total; i++) {
		uint64_t offset = demo->acks[i].seq - first;

		if (offset >= demo->total)
			return mismatch(demo, "acknowledged seqs have a gap",
					demo->acks[i].seq);
		if (demo->by_seq[offset] != UINT32_MAX)
			return mismatch(demo, "seq acknowledged twice",
					demo->acks[i].seq);
		demo->by_seq[offset] = (uint32_t)i;
	}
	for (uint64_t i = 1; i < demo->total; i++)
		if (demo->acks[demo->by_seq[i]].time_ns <=
		    demo->acks[demo->by_seq[i - 1]].time_ns)
			return mismatch(demo,
					"acknowledged time not increasing",
					first + i);
	return 0;
}

/*
 * Compares an entry of this run with what was written and acknowledged
 * for its seq. Returns NULL when it matches, else what differs.
 */
static const char *entry_differs(const struct demo *demo,
				 const struct logstore_entry *entry)
{
	uint32_t index = demo->by_seq[entry->seq - demo->first_seq];
	unsigned thread = index / demo->config.entries;
	unsigned counter = index % demo->config.entries;
	char expected[DEMO_PAYLOAD_BYTES_MAX];
	size_t len = payload_make(thread, counter, expected);

	if (entry->time_ns != demo->acks[index].time_ns)
		return "time differs from the acknowledged time";
	if (entry->len != len)
		return "payload length differs";
	if (memcmp(entry->data, expected, len) != 0)
		return "payload bytes differ";
	return NULL;
}

static bool is_ours(const struct demo *demo, uint64_t seq)
{
	return seq >= demo->first_seq && seq - demo->first_seq < demo->total;
}

/* ---- scan ---------------------------------------------------------- */

/* Checks one scanned entry against its predecessor; counts mismatches. */
static unsigned scan_check(const struct demo *demo,
			   const struct logstore_entry *entry,
			   const struct logstore_entry *prev, bool first)
{
	const char *what = NULL;

	if (!first && entry->seq != prev->seq + 1)
		what = "seq is not the previous seq + 1";
	else if (!first && entry->time_ns <= prev->time_ns)
		what = "time is not after the previous entry's time";
	else if (is_ours(demo, entry->seq))
		what = entry_differs(demo, entry);
	if (what == NULL)
		return 0;
	mismatch(demo, what, entry->seq);
	return 1;
}

/*
 * Reads the whole log from the oldest entry and checks every entry.
 * Returns 0, or 1 after printing what failed.
 */
static int scan_all(struct demo *demo)
{
	struct logstore_entry entry, prev = {0};
	logstore_reader *reader = NULL;
	uint64_t ours = 0;
	unsigned bad = 0;
	double start = now_s();
	int rc = logstore_reader_open(demo->log, NULL, &reader);

	if (rc != 0)
		return fail(demo, "reader open", rc);
	while ((rc = logstore_reader_next(reader, &entry)) == 0) {
		if (bad < DEMO_MISMATCHES_SHOWN_MAX)
			bad +=
			    scan_check(demo, &entry, &prev, demo->scanned == 0);
		ours += is_ours(demo, entry.seq);
		demo->scanned++;
		prev = entry;
	}
	demo->scan_s = now_s() - start;
	if (rc != LOGSTORE_END) {
		rc = fail(demo, "reader next", rc);
		logstore_reader_close(reader);
		return rc;
	}
	logstore_reader_close(reader);
	if (bad != 0)
		return 1;
	if (ours != demo->total ||
	    prev.seq != demo->first_seq + demo->total - 1)
		return mismatch(demo,
				"scan did not end with all entries of "
				"this run",
				prev.seq);
	return 0;
}

/* ---- seeks --------------------------------------------------------- */

/*
 * Opens a reader at start and checks that its first entry has seq
 * expect_seq and the right contents. Returns 0 or 1.
 */
static int seek_check(struct demo *demo, const struct logstore_start *start,
		      uint64_t expect_seq)
{
	struct logstore_entry entry;
	logstore_reader *reader = NULL;
	const char *what = NULL;
	int rc = logstore_reader_open(demo->log, start, &reader);

	if (rc != 0)
		return fail(demo, "reader open (seek)", rc);
	rc = logstore_reader_next(reader, &entry);
	if (rc < 0) {
		rc = fail(demo, "reader next (seek)", rc);
		logstore_reader_close(reader);
		return rc;
	}
	if (rc == LOGSTORE_END)
		what = "seek found no entry";
	else if (entry.seq != expect_seq)
		what = "seek landed on another seq";
	else
		what = entry_differs(demo, &entry);
	logstore_reader_close(reader);
	return what ? mismatch(demo, what, expect_seq) : 0;
}

/* Seeks to the middle entry by its time and 1 ns later, and by seq. */
static int seek_all(struct demo *demo)
{
	uint64_t middle = demo->total / 2;
	uint64_t third = demo->total / 3;
	const struct ack *ack = &demo->acks[demo->by_seq[middle]];
	struct logstore_start start = {.kind = LOGSTORE_START_TIME,
				       .time_ns = ack->time_ns};
	int status = seek_check(demo, &start, demo->first_seq + middle);

	if (status == 0 && middle + 1 < demo->total) {
		start.time_ns = ack->time_ns + 1;
		status = seek_check(demo, &start, demo->first_seq + middle + 1);
	}
	if (status == 0) {
		start = (struct logstore_start){.kind = LOGSTORE_START_SEQ,
						.seq = demo->first_seq + third};
		status = seek_check(demo, &start, start.seq);
	}
	if (status != 0)
		return status;
	printf("seek       by time of seq %" PRIu64 ": seq %" PRIu64 "%s"
	       ", by seq %" PRIu64 ": seq %" PRIu64 "\n",
	       demo->first_seq + middle, demo->first_seq + middle,
	       middle + 1 < demo->total ? ", by that time + 1 ns: the next"
					: "",
	       demo->first_seq + third, demo->first_seq + third);
	return 0;
}

/* ---- report -------------------------------------------------------- */

static double per_second(double count, double seconds)
{
	return seconds > 0 ? count / seconds : 0;
}

static void print_segment(const struct logstore_segment_info *info)
{
	char seqs[48];

	snprintf(seqs, sizeof(seqs), "%" PRIu64 "..%" PRIu64, info->first_seq,
		 info->last_seq);
	printf("  %s  %7" PRIu64 " entries  seq %-14s %9" PRIu64 " of %" PRIu64
	       " B%s\n",
	       info->name, info->entries, seqs, info->bytes, info->file_bytes,
	       info->active ? "  active" : "");
}

/* Lists the segments with their names. Returns 0 or 1. */
static int print_segments(struct demo *demo)
{
	struct logstore_segment_info *infos;
	uint64_t bytes = 0, file_bytes = 0;
	size_t count = 0;
	int rc = logstore_log_segments(demo->log, NULL, 0, &count);

	if (rc != 0)
		return fail(demo, "segments", rc);
	infos = calloc(count ? count : 1, sizeof(*infos));
	if (infos == NULL)
		return report_error(demo->config.dir, "demo", -ENOMEM, "");
	rc = logstore_log_segments(demo->log, infos, count, &count);
	if (rc != 0) {
		free(infos);
		return fail(demo, "segments", rc);
	}
	printf("segments   %zu of %u KiB in %s:\n", count,
	       DEMO_SEGMENT_BYTES / 1024, demo->path);
	for (size_t i = 0; i < count; i++) {
		bytes += infos[i].bytes;
		file_bytes += infos[i].file_bytes;
		if (i < DEMO_SEGMENTS_SHOWN_MAX)
			print_segment(&infos[i]);
	}
	if (count > DEMO_SEGMENTS_SHOWN_MAX)
		printf("  ... and %zu more\n", count - DEMO_SEGMENTS_SHOWN_MAX);
	printf("  records %" PRIu64 " B in files of %" PRIu64 " B\n", bytes,
	       file_bytes);
	free(infos);
	return 0;
}

static void print_appends(const struct demo *demo,
			  const struct logstore_stats *stats)
{
	double mb = (double)stats->bytes_appended / 1e6;

	printf("append     %" PRIu64 " entries (%u threads x %u), durable, "
	       "payloads %u..%u B, %.2f MB\n",
	       demo->total, demo->config.threads, demo->config.entries,
	       DEMO_PAYLOAD_BYTES_MIN, DEMO_PAYLOAD_BYTES_MAX, mb);
	printf("           seq %" PRIu64 "..%" PRIu64 " in %.3f s: "
	       "%.0f entries/s, %.1f MB/s\n",
	       demo->first_seq, demo->first_seq + demo->total - 1,
	       demo->append_s, per_second((double)demo->total, demo->append_s),
	       per_second(mb, demo->append_s));
	printf("commit     %" PRIu64 " fsyncs, %" PRIu64 " batches: "
	       "%.1f entries per fsync (group commit)\n",
	       stats->fsyncs, stats->batches_written,
	       stats->fsyncs
		   ? (double)stats->entries_appended / (double)stats->fsyncs
		   : 0.0);
}

static void print_scan(const struct demo *demo)
{
	printf("scan       %" PRIu64 " entries read back in %.3f s: "
	       "%.0f entries/s\n",
	       demo->scanned, demo->scan_s,
	       per_second((double)demo->scanned, demo->scan_s));
	printf("           checked: seqs +1, times increasing, %" PRIu64
	       " payloads equal byte for byte\n",
	       demo->total);
}

/* ---- demo ---------------------------------------------------------- */

/* Opens the log and notes what was in it. Returns 0 or 1. */
static int demo_open(struct demo *demo)
{
	struct logstore_options opts;
	struct logstore_stats stats;
	int rc;

	logstore_options_init(&opts);
	opts.segment_bytes_max = DEMO_SEGMENT_BYTES;
	opts.durability = LOGSTORE_DURABLE;
	rc = logstore_log_open(demo->config.dir, &opts, &demo->log);
	if (rc != 0)
		return fail(demo, "open", rc);
	if (realpath(demo->config.dir, demo->path) == NULL)
		snprintf(demo->path, sizeof(demo->path), "%s",
			 demo->config.dir);
	logstore_log_stats(demo->log, &stats);
	demo->prior_last_seq = stats.last_seq;
	printf("logstore %u.%u.%u demo\n", logstore_version() / 10000,
	       logstore_version() / 100 % 100, logstore_version() % 100);
	printf("directory  %s (", demo->path);
	if (stats.last_seq == 0)
		printf("new or empty log");
	else
		printf("existing log, last seq %" PRIu64, stats.last_seq);
	if (stats.recovery_bytes_dropped != 0)
		printf("; recovery cut a torn tail of %" PRIu64 " B",
		       stats.recovery_bytes_dropped);
	printf(")\n");
	fflush(stdout); /* shown before the appends take their time */
	return 0;
}

/* Appends, checks, seeks and reports, on an open log. Returns 0 or 1. */
static int demo_check(struct demo *demo)
{
	struct logstore_stats stats;
	int status = append_all(demo);

	if (status != 0)
		return status;
	logstore_log_stats(demo->log, &stats);
	if (stats.failed != 0)
		return report_error(demo->config.dir, "log failed",
				    stats.failed, "");
	status = index_acks(demo);
	if (status != 0)
		return status;
	print_appends(demo, &stats);
	status = scan_all(demo);
	if (status != 0)
		return status;
	print_scan(demo);
	status = seek_all(demo);
	if (status != 0)
		return status;
	return print_segments(demo);
}

static int demo_run(const struct demo_config *config)
{
	struct demo demo = {.config = *config};
	int status, rc;

	demo.total = (uint64_t)config->threads * config->entries;
	demo.acks = calloc(demo.total, sizeof(*demo.acks));
	demo.by_seq = calloc(demo.total, sizeof(*demo.by_seq));
	if (demo.acks == NULL || demo.by_seq == NULL) {
		status = report_error(config->dir, "demo", -ENOMEM, "");
		goto out_free;
	}
	status = demo_open(&demo);
	if (status != 0)
		goto out_free;
	status = demo_check(&demo);
	rc = logstore_log_close(demo.log);
	if (rc != 0 && status == 0)
		status = fail(&demo, "close", rc);
	if (status == 0)
		printf("OK\n");
out_free:
	free(demo.by_seq);
	free(demo.acks);
	return status;
}

/* ---- entry point ------------------------------------------------- */

int cli_demo(int argc, char **argv)
{
	struct demo_config config = {.threads = DEMO_THREADS_DEFAULT,
				     .entries = DEMO_ENTRIES_DEFAULT};

	if (cli_wants_help(argc, argv)) {
		usage_full();
		return CLI_OK;
	}
	if (parse_demo_args(argc - 1, argv + 1, &config) != 0) {
		fputs(usage_line, stderr);
		return CLI_USAGE;
	}
	return demo_run(&config) == 0 ? CLI_OK : CLI_ERROR;
}
