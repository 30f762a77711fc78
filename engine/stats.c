/* SPDX-License-Identifier: MIT */
/*
 * Figures: counters, histograms, the Prometheus text export, and the
 * wake-up of readers waiting in follow mode.
 *
 * Counters are relaxed atomics bumped where the event happens. The two
 * histograms (commit latency, entries per batch) are recorded by the
 * group-commit leader under log->mu, once per batch, so recording costs
 * a few adds and no atomics; logstore_log_stats() copies them under the
 * same lock. Buckets are log-linear, four per power of two (see
 * LOGSTORE_HISTOGRAM_BUCKETS), so a value's bucket is one
 * count-leading-zeros and a shift.
 *
 * Reader wake-up: after a commit is published, the writer checks the
 * waiter count in the shared LOCK mapping and only when it is non-zero
 * bumps the futex word and wakes every sleeper: at most one futex call
 * per group commit, none when nobody follows the log (MEASURED.md: a
 * wake costs the waker 5.6 us, the check 0.3 us without a waiter). The
 * reader's side of the protocol is in reader.c.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---- histograms ---- */

/* Buckets per power of two, as a shift (see LOGSTORE_HISTOGRAM_BUCKETS). */
#define SUB_BITS 2u
#define SUB (1u << SUB_BITS)
#define SMALL 4u /* buckets 0-3: values <= 1, 2, 3, 4 */
_Static_assert(LOGSTORE_HISTOGRAM_BUCKETS == SMALL + 36 * SUB + 1,
	       "36 powers of two, (4, 2^38], then one bucket above");

static unsigned bucket_of(uint64_t v)
{
	if (v <= SMALL)
		return v <= 1 ? 0 : (unsigned)v - 1;
	/* v in (2^e, 2^(e+1)]: w = v - 1 has its top bit at e. */
	uint64_t w = v - 1;
	unsigned e = 63 - (unsigned)__builtin_clzll(w);
	unsigned b = SMALL + (e - 2) * SUB +
		     (unsigned)((w >> (e - SUB_BITS)) & (SUB - 1));
	return b < LOGSTORE_HISTOGRAM_BUCKETS ? b
					      : LOGSTORE_HISTOGRAM_BUCKETS - 1;
}

uint64_t logstore_histogram_bucket_upper(unsigned i)
{
	if (i >= LOGSTORE_HISTOGRAM_BUCKETS - 1)
		return UINT64_MAX;
	if (i < SMALL)
		return i + 1;
	unsigned e = (i - SMALL) / SUB + 2, k = (i - SMALL) % SUB;
	return ((uint64_t)1 << e) +
	       (uint64_t)(k + 1) * ((uint64_t)1 << (e - SUB_BITS));
}

void ls_histogram_record(struct logstore_histogram *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->buckets[bucket_of(v)]++;
}

uint64_t logstore_histogram_quantile(const struct logstore_histogram *h,
				     double q)
{
	if (!h || h->count == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < LOGSTORE_HISTOGRAM_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t upper = logstore_histogram_bucket_upper(i);
			return upper < h->max ? upper : h->max;
		}
	}
	return h->max;
}

/* ---- counters ---- */

/* Count a failed append or sync, and pass its code on. */
int ls_stats_failed(logstore_log *log, int rc)
{
	if (rc < 0)
		atomic_fetch_add_explicit(&log->st_failed_operations, 1,
					  memory_order_relaxed);
	return rc;
}

/* This handle's figures. mu held. */
static void stats_fill(logstore_log *log, struct logstore_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->entries_appended = atomic_load(&log->st_entries);
	st->bytes_appended = atomic_load(&log->st_bytes);
	st->batches_written = atomic_load(&log->st_batches);
	st->fsyncs = atomic_load(&log->st_fsyncs);
	st->segments_created = atomic_load(&log->st_segments_created);
	st->segments_removed = atomic_load(&log->st_segments_removed);
	st->segments_prepared = atomic_load(&log->st_segments_prepared);
	st->recovery_bytes_dropped = log->recovery_bytes_dropped;
	st->failed_operations = atomic_load(&log->st_failed_operations);
	st->readers_open = atomic_load(&log->st_readers_open);
	st->reader_wakeups = atomic_load(&log->st_reader_wakeups);
	st->last_seq = log->written_seq;
	st->durable_seq = atomic_load(&log->durable_seq);
	st->failed = log->failed;
	st->commit_latency_ns = log->commit_latency_ns;
	st->batch_entries = log->batch_entries;
}

/*
 * Copy the writer's figures to LOCK for read-only handles (seqlock:
 * odd while copying). The writer's handle, mu held, after a commit.
 */
void ls_stats_publish(logstore_log *log)
{
	struct ls_shm *s = log->shm;
	if (!s || log->read_only)
		return;
	struct logstore_stats st;
	uint64_t words[LS_SHM_STATS_WORDS];
	stats_fill(log, &st);
	memcpy(words, &st, sizeof(words));
	uint64_t v =
	    atomic_load_explicit(&s->stats_version, memory_order_relaxed);
	atomic_store_explicit(&s->stats_version, v + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < LS_SHM_STATS_WORDS; i++)
		atomic_store_explicit(&s->stats[i], words[i],
				      memory_order_relaxed);
	atomic_store_explicit(&s->stats_version, v + 2, memory_order_release);
}

/* The live writer's figures from LOCK; false if there are none. */
static bool stats_of_writer(logstore_log *log, struct logstore_stats *st)
{
	struct ls_shm *s = log->shm;
	if (!s || !ls_log_writer_live(log))
		return false;
	uint64_t words[LS_SHM_STATS_WORDS];
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t a = atomic_load_explicit(&s->stats_version,
						  memory_order_acquire);
		if (a == 0)
			return false;
		if (a & 1)
			continue;
		for (size_t i = 0; i < LS_SHM_STATS_WORDS; i++)
			words[i] = atomic_load_explicit(&s->stats[i],
							memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->stats_version,
					 memory_order_relaxed) == a) {
			memcpy(st, words, sizeof(*st));
			return true;
		}
	}
	return false;
}

void logstore_log_stats(logstore_log *log, struct logstore_stats *st)
{
	if (log->read_only) {
		ls_log_refresh(log); /* maps LOCK if a writer made it since */
		pthread_mutex_lock(&log->segs_mu);
		bool theirs = stats_of_writer(log, st);
		pthread_mutex_unlock(&log->segs_mu);
		if (theirs)
			return;
	}
	pthread_mutex_lock(&log->mu);
	stats_fill(log, st);
	pthread_mutex_unlock(&log->mu);
	if (log->read_only) {
		pthread_mutex_lock(&log->segs_mu);
		st->last_seq =
		    log->nsegs ? log->segs[log->nsegs - 1]->last_seq : 0;
		pthread_mutex_unlock(&log->segs_mu);
	}
}

/* ---- Prometheus text ---- */

struct text {
	char *buf;
	size_t cap;
	size_t len; /* bytes the whole text needs, without the NUL */
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t,
						      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = t->len < t->cap ? t->cap - t->len : 0;
	int n = vsnprintf(room ? t->buf + t->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

static void put_metric(struct text *t, const char *name, const char *type,
		       const char *help, uint64_t v)
{
	put(t, "# HELP logstore_%s %s\n# TYPE logstore_%s %s\n", name, help,
	    name, type);
	put(t, "logstore_%s %" PRIu64 "\n", name, v);
}

/* scale: the unit of the recorded values in the exported unit (1e-9 s). */
static void put_histogram(struct text *t, const char *name, const char *help,
			  const struct logstore_histogram *h, double scale)
{
	put(t, "# HELP logstore_%s %s\n# TYPE logstore_%s histogram\n", name,
	    help, name);
	/*
	 * Exported at the powers of two only (39 bounds, as many series as
	 * before the buckets were split in four): those are bucket bounds,
	 * so the cumulative counts stay exact.
	 */
	uint64_t cumulative = 0;
	for (unsigned i = 0; i + 1 < LOGSTORE_HISTOGRAM_BUCKETS; i++) {
		cumulative += h->buckets[i];
		uint64_t upper = logstore_histogram_bucket_upper(i);
		if (upper & (upper - 1))
			continue;
		put(t, "logstore_%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", name,
		    (double)upper * scale, cumulative);
	}
	put(t, "logstore_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	put(t, "logstore_%s_sum %.9g\n", name, (double)h->sum * scale);
	put(t, "logstore_%s_count %" PRIu64 "\n", name, h->count);
}

int logstore_log_metrics_prometheus(logstore_log *log, char *buf, size_t cap,
				    size_t *len)
{
	if (!log || !len || (!buf && cap))
		return ls_error(-EINVAL, "log and len are required");
	struct logstore_stats st;
	logstore_log_stats(log, &st);
	struct text t = {.buf = buf, .cap = cap};
	static const struct {
		const char *name;
		const char *type;
		const char *help;
		size_t off;
	} fields[] = {
#define F(n, type, help) {#n, type, help, offsetof(struct logstore_stats, n)}
	    F(entries_appended, "counter", "Entries appended since open."),
	    F(bytes_appended, "counter", "Payload bytes appended since open."),
	    F(batches_written, "counter", "Group-commit batches written."),
	    F(fsyncs, "counter", "fdatasync calls issued."),
	    F(segments_created, "counter", "Segments created since open."),
	    F(segments_removed, "counter", "Segments removed since open."),
	    F(segments_prepared, "counter",
	      "Segments made ready ahead of need since open."),
	    F(failed_operations, "counter",
	      "Append and sync calls that failed."),
	    F(reader_wakeups, "counter", "Wake-ups of readers in follow mode."),
	    F(recovery_bytes_dropped, "gauge", "Torn-tail bytes cut at open."),
	    F(last_seq, "gauge", "Sequence number of the newest entry."),
	    F(durable_seq, "gauge", "Newest sequence number known durable."),
	    F(readers_open, "gauge", "Readers open on this handle."),
#undef F
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint64_t v;
		memcpy(&v, (const char *)&st + fields[i].off, sizeof(v));
		char name[64];
		snprintf(name, sizeof(name), "%s%s", fields[i].name,
			 strcmp(fields[i].type, "counter") ? "" : "_total");
		put_metric(&t, name, fields[i].type, fields[i].help, v);
	}
	put_metric(&t, "failed", "gauge",
		   "1 once a write or fsync error made the log fail-stop.",
		   st.failed != 0);
	put_histogram(&t, "commit_latency_seconds",
		      "Time from a batch's write submission to its completion.",
		      &st.commit_latency_ns, 1e-9);
	put_histogram(&t, "batch_entries", "Entries per written batch.",
		      &st.batch_entries, 1);
	*len = t.len;
	if (t.len >= cap)
		return ls_error(-ENOSPC,
				"metrics need %zu bytes, buffer has %zu",
				t.len + 1, cap);
	return 0;
}

/* ---- follow mode ---- */

/*
 * After a commit was published: wake readers sleeping in
 * logstore_reader_next_wait(), if any. The seq_cst fence orders the
 * watermark stores before the waiter check, pairing with the reader's
 * increment of waiters before its last look at the watermark: either
 * the writer sees the waiter or the reader sees the new entries.
 */
void ls_readers_wake(logstore_log *log)
{
	struct ls_shm *s = log->shm;
	if (!s)
		return;
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&s->waiters, memory_order_relaxed) == 0)
		return;
	atomic_fetch_add(&s->wake_seq, 1);
	syscall(SYS_futex, &s->wake_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	atomic_fetch_add_explicit(&log->st_reader_wakeups, 1,
				  memory_order_relaxed);
}
