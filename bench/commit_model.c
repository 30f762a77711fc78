/* SPDX-License-Identifier: MIT */
/*
 * Group commit against a modelled device: N threads append durably (each
 * call returns once its entry is durable) to a log on tmpfs, where this
 * program's fdatasync() replaces the C library's for the engine (static
 * link): one flush at a time, each a sleep of --flush-us. The device is
 * then the same in every run, so what varies is the engine's own part of
 * a group commit: waking the group, gathering its next entries, writing
 * them. The real device of the project's VM varies far more than that
 * part between runs (a flush took 250-520 us within minutes).
 *
 * It prints entries/s, entries per fsync, the mean modelled flush (a sleep
 * overshoots what it asks for) and the share of threads / mean flush that
 * was reached: 1.0 means every flush took every thread's next entry and
 * the device never waited for the engine. Median of --runs runs.
 *
 *   ./build/bench/commit_model [--threads 16] [--entries 2000]
 *                              [--flush-us 300] [--runs 3] [--dir DIR]
 */
#define _GNU_SOURCE
#include <logstore.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t device = PTHREAD_MUTEX_INITIALIZER;
static long flush_ns = 300000;
static int64_t flush_total_ns, flush_count; /* under device */

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The engine's fdatasync: one modelled flush at a time, then the real one. */
int fdatasync(int fd)
{
	pthread_mutex_lock(&device);
	int64_t start = now_ns();
	struct timespec ts = {flush_ns / 1000000000, flush_ns % 1000000000};
	nanosleep(&ts, NULL);
	flush_total_ns += now_ns() - start;
	flush_count++;
	pthread_mutex_unlock(&device);
	return (int)syscall(SYS_fdatasync, fd);
}

struct run {
	logstore_log *log;
	int entries;
	int failed;
};

static void *appender(void *arg)
{
	struct run *r = arg;
	char payload[100];
	memset(payload, 'x', sizeof(payload));
	for (int i = 0; i < r->entries; i++)
		if (logstore_log_append(r->log, payload, sizeof(payload),
					LOGSTORE_DURABLE, NULL, NULL) != 0) {
			__atomic_store_n(&r->failed, 1, __ATOMIC_RELAXED);
			break;
		}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int threads = 16, entries = 2000, runs = 3;
	const char *dir = "/dev/shm/logstore-commit-model";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--entries"))
			entries = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--flush-us"))
			flush_ns = atol(argv[i + 1]) * 1000;
		else if (!strcmp(argv[i], "--runs"))
			runs = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
	}
	if (threads < 1 || threads > 256 || entries < 1 || runs < 1 ||
	    runs > 99 || flush_ns < 0) {
		fprintf(stderr, "commit_model: bad arguments\n");
		return 2;
	}
	double share[99];
	pthread_t tid[256];
	for (int k = 0; k < runs; k++) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
		struct logstore_options opts;
		logstore_options_init(&opts);
		struct run r = {.entries = entries};
		int rc = logstore_log_open(dir, &opts, &r.log);
		if (rc) {
			fprintf(stderr, "commit_model: open %s: %s\n", dir,
				logstore_error_detail());
			return 1;
		}
		pthread_mutex_lock(&device);
		flush_total_ns = flush_count = 0;
		pthread_mutex_unlock(&device);
		struct logstore_stats before, after;
		logstore_log_stats(r.log, &before);
		int64_t start = now_ns();
		for (int i = 0; i < threads; i++)
			pthread_create(&tid[i], NULL, appender, &r);
		for (int i = 0; i < threads; i++)
			pthread_join(tid[i], NULL);
		double secs = (double)(now_ns() - start) / 1e9;
		logstore_log_stats(r.log, &after);
		pthread_mutex_lock(&device);
		double flush_s =
		    flush_count ? (double)flush_total_ns / flush_count / 1e9
				: 0;
		pthread_mutex_unlock(&device);
		logstore_log_close(r.log);
		if (r.failed) {
			fprintf(stderr, "commit_model: an append failed\n");
			return 1;
		}
		double n = (double)threads * entries;
		double fsyncs = (double)(after.fsyncs - before.fsyncs);
		share[k] = flush_s > 0 ? n / secs / (threads / flush_s) : 0;
		printf("run %d: %d threads, %.1fk entries/s, %.2f entries per "
		       "fsync, mean flush %.0f us, %.2f of threads/flush\n",
		       k + 1, threads, n / secs / 1e3,
		       fsyncs > 0 ? n / fsyncs : 0, flush_s * 1e6, share[k]);
	}
	qsort(share, (size_t)runs, sizeof(share[0]), cmp_double);
	printf("median share of threads/flush: %.2f\n", share[runs / 2]);
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
