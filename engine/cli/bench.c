/* SPDX-License-Identifier: MIT */
/*
 * `logstore bench DIR`: a quick throughput and latency run, so that a
 * user can size a machine in one command. Each workload runs beside a
 * baseline measured in the same run on the same disk, and the table
 * shows both and their ratio; absolute figures on a shared machine are
 * noisy, the ratio less so. bench/ (google-benchmark) has the careful
 * version, with repetitions and medians.
 *
 * Workloads (100-byte payloads):
 *   durable, 1 thread    logstore_log_append(DURABLE) in a loop, vs
 *                        pwrite + fdatasync per entry into a zero-filled
 *                        file; p50/p99 latency of each
 *   durable, N threads   the same from --threads threads (group commit),
 *                        vs N threads doing locked pwrite + fdatasync
 *   buffered, 1 thread   BUFFERED appends, vs memcpy into a 1 MiB buffer
 *                        and a pwrite when it is full
 *   scan                 read every entry back (checksums verified; the
 *                        second of two scans, pages already mapped), vs
 *                        memcpy of the same payload bytes (warm)
 *   seek                 seek by a random time and read 10 entries, vs a
 *                        binary search over an in-memory array of the
 *                        same times and reading 10 entries from memory
 *
 * It writes only below DIR/bench-<pid>/, removed at the end unless --keep.
 *
 * Sections: setup; durable; buffered; scan and seek; table; entry point.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BENCH_PAYLOAD_BYTES 100u
/* Latencies kept per single-thread workload; later ones are not. */
#define BENCH_LATENCIES_MAX (1u << 20)
#define BENCH_THREADS_MAX 64u
#define BENCH_BUFFERED_ENTRIES 200000u
#define BENCH_SEEKS 20000u
#define BENCH_SEEK_READS 10u
#define BENCH_BASELINE_FILE_BYTES (4u * 1024 * 1024)
#define BENCH_COPY_BUFFER_BYTES (1024u * 1024)

/* ---- setup ---- */

struct bench {
	char root[4096];  /* DIR/bench-<pid> */
	double seconds;	  /* per durable workload */
	unsigned threads; /* for the threaded durable workload */
	uint8_t payload[BENCH_PAYLOAD_BYTES];
	uint32_t *lat_ns; /* BENCH_LATENCIES_MAX latencies */
};

struct row {
	const char *name;
	double ours; /* per second */
	double base; /* per second */
	const char *unit;
	double p50_us[2]; /* ours, baseline; < 0 when not measured */
	double p99_us[2];
};

static int sub_path(const struct bench *b, const char *name, char *out,
		    size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", b->root, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void percentiles(uint32_t *lat, size_t n, double *p50, double *p99)
{
	if (n == 0) {
		*p50 = *p99 = -1;
		return;
	}
	qsort(lat, n, sizeof(*lat), cmp_u32);
	*p50 = lat[n / 2] / 1e3;
	*p99 = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e3;
}

static logstore_log *bench_open(const struct bench *b, const char *name)
{
	char path[4200];
	logstore_log *log = NULL;
	if (sub_path(b, name, path, sizeof(path)))
		return NULL;
	int rc = logstore_log_open(path, NULL, &log);
	if (rc)
		cli_fail(path, "open", rc);
	return log;
}

/* A zero-filled file for the baselines. Returns an fd or -1. */
static int baseline_file(const struct bench *b)
{
	char path[4200];
	static const uint8_t zeros[64 * 1024];
	if (sub_path(b, "baseline.dat", path, sizeof(path)))
		return -1;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	for (uint64_t off = 0; fd >= 0 && off < BENCH_BASELINE_FILE_BYTES;
	     off += sizeof(zeros))
		if (pwrite(fd, zeros, sizeof(zeros), (off_t)off) !=
		    (ssize_t)sizeof(zeros)) {
			close(fd);
			fd = -1;
		}
	if (fd >= 0 && fsync(fd) != 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fprintf(stderr, "logstore: %s: %s\n", path, strerror(errno));
	return fd;
}

/* ---- durable ---- */

struct worker {
	pthread_t id;
	struct bench *b;
	logstore_log *log;   /* NULL: the baseline */
	int fd;		     /* baseline file */
	pthread_mutex_t *mu; /* baseline: one writer at a time */
	uint64_t *off;	     /* baseline: next offset, under mu */
	double deadline;     /* monotonic seconds */
	uint32_t *lat;	     /* NULL: not recorded */
	uint64_t ops;
	int rc;
};

static int baseline_op(struct worker *w)
{
	pthread_mutex_lock(w->mu);
	uint64_t off = *w->off;
	*w->off = (off + BENCH_PAYLOAD_BYTES) %
		  (BENCH_BASELINE_FILE_BYTES - BENCH_PAYLOAD_BYTES);
	int rc = pwrite(w->fd, w->b->payload, BENCH_PAYLOAD_BYTES,
			(off_t)off) == BENCH_PAYLOAD_BYTES
		     ? 0
		     : -EIO;
	if (!rc && fdatasync(w->fd) != 0)
		rc = -errno;
	pthread_mutex_unlock(w->mu);
	return rc;
}

static void *durable_run(void *arg)
{
	struct worker *w = arg;
	double t = cli_mono_s();
	while (t < w->deadline && !w->rc) {
		if (w->log)
			w->rc = logstore_log_append(
			    w->log, w->b->payload, BENCH_PAYLOAD_BYTES,
			    LOGSTORE_DURABLE, NULL, NULL);
		else
			w->rc = baseline_op(w);
		double now = cli_mono_s();
		if (w->lat && w->ops < BENCH_LATENCIES_MAX)
			w->lat[w->ops] =
			    (uint32_t)((now - t) * 1e9 < 4e9 ? (now - t) * 1e9
							     : 4e9);
		w->ops++;
		t = now;
	}
	return NULL;
}

/* threads workers on log (or the baseline); returns ops/s or -1. */
static double durable(struct bench *b, logstore_log *log, int fd,
		      unsigned threads, double *p50, double *p99)
{
	struct worker w[BENCH_THREADS_MAX];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	uint64_t off = 0, ops = 0;
	double start = cli_mono_s();
	unsigned started = 0;
	int rc = 0;
	for (; started < threads; started++) {
		w[started] =
		    (struct worker){.b = b,
				    .log = log,
				    .fd = fd,
				    .mu = &mu,
				    .off = &off,
				    .deadline = start + b->seconds,
				    .lat = threads == 1 ? b->lat_ns : NULL};
		if (pthread_create(&w[started].id, NULL, durable_run,
				   &w[started]) != 0)
			break;
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].id, NULL);
		ops += w[i].ops;
		rc = rc ? rc : w[i].rc;
	}
	double secs = cli_mono_s() - start;
	if (rc || started < threads) {
		fprintf(stderr, "logstore: bench: durable append: %s\n",
			logstore_strerror(rc ? rc : -EAGAIN));
		return -1;
	}
	percentiles(
	    b->lat_ns,
	    threads == 1
		? (ops < BENCH_LATENCIES_MAX ? ops : BENCH_LATENCIES_MAX)
		: 0,
	    p50, p99);
	return (double)ops / secs;
}

static int durable_rows(struct bench *b, int fd, struct row *rows)
{
	unsigned counts[2] = {1, b->threads};
	const char *names[2] = {"durable append, 1 thread", NULL};
	static char threaded[64];
	snprintf(threaded, sizeof(threaded), "durable append, %u threads",
		 b->threads);
	names[1] = threaded;
	for (int k = 0; k < 2; k++) {
		char name[32];
		snprintf(name, sizeof(name), "durable-%u", counts[k]);
		logstore_log *log = bench_open(b, name);
		if (!log)
			return CLI_ERROR;
		struct row *r = &rows[k];
		r->name = names[k];
		r->unit = "entries";
		r->ours = durable(b, log, -1, counts[k], &r->p50_us[0],
				  &r->p99_us[0]);
		logstore_log_close(log);
		r->base = durable(b, NULL, fd, counts[k], &r->p50_us[1],
				  &r->p99_us[1]);
		if (r->ours < 0 || r->base < 0)
			return CLI_ERROR;
	}
	return 0;
}

/* ---- buffered ---- */

static double buffered_baseline(struct bench *b, int fd)
{
	uint8_t *buf = malloc(BENCH_COPY_BUFFER_BYTES);
	if (!buf)
		return -1;
	size_t used = 0;
	uint64_t off = 0;
	double start = cli_mono_s();
	for (unsigned i = 0; i < BENCH_BUFFERED_ENTRIES; i++) {
		if (used + BENCH_PAYLOAD_BYTES > BENCH_COPY_BUFFER_BYTES) {
			if (pwrite(fd, buf, used, (off_t)off) != (ssize_t)used)
				break;
			off = (off + used) % (BENCH_BASELINE_FILE_BYTES -
					      BENCH_COPY_BUFFER_BYTES);
			used = 0;
		}
		memcpy(buf + used, b->payload, BENCH_PAYLOAD_BYTES);
		used += BENCH_PAYLOAD_BYTES;
	}
	double secs = cli_mono_s() - start;
	free(buf);
	return BENCH_BUFFERED_ENTRIES / secs;
}

static int buffered_row(struct bench *b, logstore_log *log, int fd,
			struct row *r)
{
	double start = cli_mono_s();
	for (unsigned i = 0; i < BENCH_BUFFERED_ENTRIES; i++) {
		/* Distinct payloads, so the scan reads what it expects. */
		memcpy(b->payload, &i, sizeof(i));
		int rc =
		    logstore_log_append(log, b->payload, BENCH_PAYLOAD_BYTES,
					LOGSTORE_BUFFERED, NULL, NULL);
		if (rc)
			return cli_fail(b->root, "bench: buffered append", rc);
	}
	r->ours = BENCH_BUFFERED_ENTRIES / (cli_mono_s() - start);
	r->base = buffered_baseline(b, fd);
	r->name = "buffered append, 1 thread";
	r->unit = "entries";
	r->p50_us[0] = r->p50_us[1] = r->p99_us[0] = r->p99_us[1] = -1;
	return r->base < 0 ? CLI_ERROR : 0;
}

/* ---- scan and seek ---- */

/* Reads every entry; fills times[]. Returns bytes/s or -1. */
static double scan(logstore_log *log, int64_t *times, size_t cap, size_t *count,
		   uint64_t *bytes)
{
	logstore_reader *r;
	struct logstore_entry e;
	int rc = logstore_reader_open(log, NULL, &r);
	if (rc)
		return -1;
	double start = cli_mono_s();
	*count = 0;
	*bytes = 0;
	while ((rc = logstore_reader_next(r, &e)) == 0) {
		if (*count < cap)
			times[(*count)++] = e.time_ns;
		*bytes += e.len;
	}
	double secs = cli_mono_s() - start;
	logstore_reader_close(r);
	return rc == LOGSTORE_END ? (double)*bytes / secs : -1;
}

static double memcpy_rate(uint64_t bytes)
{
	uint8_t *src = malloc(bytes), *dst = malloc(bytes);
	double rate = -1;
	if (src && dst) {
		memset(src, 1, bytes);
		/*
		 * The first copy faults dst's pages in (a memset would be
		 * dropped as a dead store); the second is timed.
		 */
		memcpy(dst, src, bytes);
		src[bytes - 1] = 2;
		double start = cli_mono_s();
		memcpy(dst, src, bytes);
		rate = (double)bytes / (cli_mono_s() - start);
		if (dst[bytes - 1] != 2)
			rate = -1;
	}
	free(src);
	free(dst);
	return rate;
}

static uint64_t next_rand(uint64_t *s)
{
	*s += 0x9E3779B97F4A7C15ull;
	uint64_t z = *s;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double seek_ours(logstore_log *log, const int64_t *times, size_t n)
{
	uint64_t seed = 1;
	double start = cli_mono_s();
	for (unsigned i = 0; i < BENCH_SEEKS; i++) {
		struct logstore_start s = {.kind = LOGSTORE_START_TIME,
					   .time_ns =
					       times[next_rand(&seed) % n]};
		logstore_reader *r;
		struct logstore_entry e;
		if (logstore_reader_open(log, &s, &r))
			return -1;
		for (unsigned k = 0; k < BENCH_SEEK_READS; k++)
			if (logstore_reader_next(r, &e) < 0)
				break;
		logstore_reader_close(r);
	}
	return BENCH_SEEKS / (cli_mono_s() - start);
}

static double seek_base(const int64_t *times, size_t n, uint64_t *sink)
{
	uint64_t seed = 1;
	double start = cli_mono_s();
	for (unsigned i = 0; i < BENCH_SEEKS; i++) {
		int64_t t = times[next_rand(&seed) % n];
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (times[mid] < t)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (unsigned k = 0; k < BENCH_SEEK_READS && lo + k < n; k++)
			*sink += (uint64_t)times[lo + k];
	}
	return BENCH_SEEKS / (cli_mono_s() - start);
}

static int read_rows(logstore_log *log, struct row *rows)
{
	size_t n = 0;
	uint64_t bytes = 0, sink = 0;
	int64_t *times = malloc(BENCH_BUFFERED_ENTRIES * sizeof(*times));
	if (!times)
		return CLI_ERROR;
	rows[0] = (struct row){.name = "scan (checksums verified)",
			       .unit = "bytes",
			       .p50_us = {-1, -1},
			       .p99_us = {-1, -1}};
	rows[1] = rows[0];
	rows[1].name = "seek by time + read 10";
	rows[1].unit = "seeks";
	/* The first scan maps the pages in; the second is timed. */
	rows[0].ours = scan(log, times, BENCH_BUFFERED_ENTRIES, &n, &bytes);
	if (rows[0].ours > 0)
		rows[0].ours =
		    scan(log, times, BENCH_BUFFERED_ENTRIES, &n, &bytes);
	rows[0].base = n ? memcpy_rate(bytes) : -1;
	if (rows[0].ours > 0 && n) {
		rows[1].ours = seek_ours(log, times, n);
		rows[1].base = seek_base(times, n, &sink);
	}
	free(times);
	if (rows[0].ours < 0 || rows[0].base < 0 || rows[1].ours < 0 || !n) {
		fprintf(stderr, "logstore: bench: scan or seek failed\n");
		return CLI_ERROR;
	}
	return sink == 1 ? CLI_ERROR : 0; /* keeps the baseline's reads */
}

/* ---- table ---- */

static void rate_str(double v, const char *unit, char *out, size_t cap)
{
	const char *u = strcmp(unit, "bytes") == 0 ? "B/s" : "/s";
	if (v >= 1e9)
		snprintf(out, cap, "%.2fG%s", v / 1e9, u);
	else if (v >= 1e6)
		snprintf(out, cap, "%.2fM%s", v / 1e6, u);
	else if (v >= 1e3)
		snprintf(out, cap, "%.1fk%s", v / 1e3, u);
	else
		snprintf(out, cap, "%.0f%s", v, u);
}

static void print_rows(const struct row *rows, size_t n)
{
	printf("%-28s %12s %12s %7s   %s\n", "workload (100 B entries)",
	       "logstore", "baseline", "ratio",
	       "p50 / p99 us (logstore | baseline)");
	for (size_t i = 0; i < n; i++) {
		char a[32], b[32], lat[80] = "";
		rate_str(rows[i].ours, rows[i].unit, a, sizeof(a));
		rate_str(rows[i].base, rows[i].unit, b, sizeof(b));
		if (rows[i].p50_us[0] >= 0)
			snprintf(lat, sizeof(lat), "%.0f / %.0f | %.0f / %.0f",
				 rows[i].p50_us[0], rows[i].p99_us[0],
				 rows[i].p50_us[1], rows[i].p99_us[1]);
		printf("%-28s %12s %12s %6.2fx   %s\n", rows[i].name, a, b,
		       rows[i].ours / rows[i].base, lat);
	}
	printf("\nBaselines: pwrite+fdatasync per entry (durable; N threads "
	       "take turns),\nmemcpy into 1 MiB + pwrite (buffered), memcpy "
	       "(scan), binary search in\nmemory (seek). One run each: on a "
	       "shared machine, rerun and compare ratios.\n");
}

/* ---- entry point ---- */

static const char bench_usage[] =
    "usage: logstore bench [--seconds S] [--threads N] [--keep] DIR\n"
    "A quick run of durable (1 and N threads), buffered, scan and seek\n"
    "workloads with 100-byte entries, each beside a baseline measured in\n"
    "the same run (see the table's footnote), printed as a table with\n"
    "ratios. Writes below DIR/bench-<pid>/ and removes it unless --keep.\n"
    "  --seconds S   duration of each durable workload (1..60; default 1)\n"
    "  --threads N   threads of the second durable workload (default 8)\n";

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int bench_args(int argc, char **argv, struct bench *b, bool *keep,
		      const char **dir)
{
	const char *seconds = NULL, *threads = NULL;
	const struct cli_opt opts[] = {{"--seconds", NULL, &seconds, NULL},
				       {"--threads", NULL, &threads, NULL},
				       {"--keep", NULL, NULL, keep}};
	const char *pos[1];
	size_t npos;
	uint64_t v;
	int rc = cli_parse(argc, argv, opts, 3, pos, 1, &npos, bench_usage);
	if (rc)
		return rc;
	if (npos != 1)
		return cli_usage(bench_usage, "bench needs a directory");
	*dir = pos[0];
	b->seconds = 1;
	b->threads = 8;
	if (seconds && (cli_parse_u64(seconds, &v) || v < 1 || v > 60))
		return cli_usage(bench_usage, "--seconds: 1 to 60");
	if (seconds)
		b->seconds = (double)v;
	if (threads &&
	    (cli_parse_u64(threads, &v) || v < 2 || v > BENCH_THREADS_MAX))
		return cli_usage(bench_usage, "--threads: 2 to %u",
				 BENCH_THREADS_MAX);
	if (threads)
		b->threads = (unsigned)v;
	return 0;
}

static int bench_run(struct bench *b)
{
	struct row rows[5];
	int fd = baseline_file(b);
	if (fd < 0)
		return CLI_ERROR;
	int status = durable_rows(b, fd, rows);
	logstore_log *log = status ? NULL : bench_open(b, "buffered");
	if (!status && !log)
		status = CLI_ERROR;
	if (!status)
		status = buffered_row(b, log, fd, &rows[2]);
	if (!status)
		status = read_rows(log, &rows[3]);
	logstore_log_close(log);
	close(fd);
	if (!status)
		print_rows(rows, 5);
	return status;
}

int cli_bench(int argc, char **argv)
{
	static struct bench b;
	bool keep = false;
	const char *dir = NULL;
	if (cli_wants_help(argc, argv))
		return fputs(bench_usage, stdout), CLI_OK;
	int rc = bench_args(argc, argv, &b, &keep, &dir);
	if (rc)
		return rc;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "logstore: %s: mkdir: %s\n", dir,
			strerror(errno));
		return CLI_ERROR;
	}
	int n =
	    snprintf(b.root, sizeof(b.root), "%s/bench-%d", dir, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(b.root) - 64 ||
	    mkdir(b.root, 0755) != 0) {
		fprintf(stderr, "logstore: %s: %s\n", b.root,
			n < 0 || (size_t)n >= sizeof(b.root) - 64
			    ? "path too long"
			    : strerror(errno));
		return CLI_ERROR;
	}
	memset(b.payload, 'x', sizeof(b.payload));
	b.lat_ns = malloc(BENCH_LATENCIES_MAX * sizeof(*b.lat_ns));
	int status = b.lat_ns ? bench_run(&b) : CLI_ERROR;
	free(b.lat_ns);
	if (!keep)
		nftw(b.root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("kept %s\n", b.root);
	return status;
}
