/* SPDX-License-Identifier: MIT */
/*
 * logstore: an embeddable, memory-mapped, append-only log engine.
 *
 * A log is a directory of preallocated segment files. Entries carry a
 * payload, a strictly increasing nanosecond time and a sequence number that
 * grows by one for every entry of the log. Appends are batched and written
 * through io_uring with one fdatasync per group of entries (group commit).
 * Readers scan the mapped segments without copying.
 *
 * Conventions for every function below:
 *  - A function whose name is an action returns 0 on success or a negative
 *    code: -errno for operating-system failures (-EIO, -ENOSPC, ...) or one
 *    of the LOGSTORE_E* codes, which lie in a range no errno uses.
 *  - logstore_reader_next() returns LOGSTORE_END (a positive value, not an
 *    error) at the end of the log.
 *  - logstore_strerror() names every code; logstore_error_detail() gives
 *    the detail of the last failure in the calling thread (which segment,
 *    which offset).
 *  - Out-parameters come last. Destroy functions accept NULL.
 *
 * The on-disk format is specified in engine/format.h.
 */
#ifndef LOGSTORE_H
#define LOGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LOGSTORE_BUILDING) && defined(__GNUC__)
#define LOGSTORE_API __attribute__((visibility("default")))
#else
#define LOGSTORE_API
#endif

#define LOGSTORE_VERSION_MAJOR 0
#define LOGSTORE_VERSION_MINOR 2
#define LOGSTORE_VERSION_PATCH 0
#define LOGSTORE_VERSION_NUMBER                                               \
	(LOGSTORE_VERSION_MAJOR * 10000 + LOGSTORE_VERSION_MINOR * 100 +      \
	 LOGSTORE_VERSION_PATCH)

/* Codes of our own; -4095..-1 stay free for -errno. */
#define LOGSTORE_END 1 /* end of the log: not an error */
#define LOGSTORE_ECORRUPT (-10001) /* a checksum or structure check failed */
#define LOGSTORE_ELOCKED (-10002)  /* another writer holds the log */
#define LOGSTORE_EFAILED (-10003)  /* an earlier write/fsync failed: log is fail-stop */
#define LOGSTORE_ETIME (-10004)    /* forced time not later than the last entry */
#define LOGSTORE_ETOOBIG (-10005)  /* entry larger than a segment or batch holds */
#define LOGSTORE_ENOTFOUND (-10006) /* no segment starts at that time */
#define LOGSTORE_EACTIVE (-10007)  /* the active segment cannot be removed */
#define LOGSTORE_EREADONLY (-10008) /* write call on a read-only handle */
#define LOGSTORE_EFORMAT (-10009)  /* segment written by an unknown format version */
#define LOGSTORE_ETYPE (-10010)    /* entry's type tag or length does not match the codec */

/* Limits of the options; logstore_log_open() returns -EINVAL outside them. */
#define LOGSTORE_SEGMENT_BYTES_MIN (16u * 1024)   /* header page + index page + data */
#define LOGSTORE_SEGMENT_BYTES_MAX (1024u * 1024 * 1024) /* offsets fit in 32 bits */
#define LOGSTORE_SEGMENT_BYTES_DEFAULT (64u * 1024 * 1024) /* see README "Segment size" */
#define LOGSTORE_SEGMENT_DURATION_DEFAULT_NS (30LL * 24 * 3600 * 1000000000LL)
#define LOGSTORE_BATCH_BYTES_MIN (4u * 1024)
#define LOGSTORE_BATCH_BYTES_MAX (64u * 1024 * 1024)
#define LOGSTORE_BATCH_BYTES_DEFAULT (1024u * 1024)
#define LOGSTORE_BATCH_ENTRIES_MAX 65536 /* entries in one append_batch call */
/*
 * Batches in flight at once: one being written while up to depth - 1
 * earlier ones wait for their fdatasync. Each holds a batch buffer of
 * batch_bytes_max and an io_uring. Measured here (README "Performance"):
 * depth 2 gave asynchronous appends 1.1-1.25x the throughput of depth 1
 * with 1 MiB batches and 2x with 128 KiB ones; depth 4 was no better
 * than 2; synchronous 16-thread appends were the same at 1, 2 and 4.
 */
#define LOGSTORE_PIPELINE_DEPTH_MAX 4u
#define LOGSTORE_PIPELINE_DEPTH_DEFAULT 2u
/* Batching window: longer than a few device flushes only adds latency. */
#define LOGSTORE_BATCH_DELAY_MAX_NS (10LL * 1000 * 1000)
/*
 * Deferred entries: the writer's buffer is written when half full or when
 * its first entry is this old. Each write wakes a flusher (a few us on
 * this VM): 1 ms bounds how stale readers are while amortizing that over
 * thousands of entries at full speed.
 */
#define LOGSTORE_DEFERRED_DELAY_DEFAULT_NS (1000LL * 1000)
#define LOGSTORE_DEFERRED_DELAY_MAX_NS (1000LL * 1000 * 1000)

/* Durability of an append. */
enum logstore_durability {
	LOGSTORE_DURABILITY_DEFAULT = 0, /* per call: the log's; per log: durable */
	LOGSTORE_DURABLE = 1,  /* returns once the entry is on disk (fdatasync) */
	LOGSTORE_BUFFERED = 2, /* returns once in the page cache and visible to
				* readers; durable at the next sync or close.
				* Trades durability for speed: a power loss can
				* lose it. */
	LOGSTORE_ASYNC = 3,    /* returns at once with the seq; a background
				* flusher makes it durable without being asked.
				* Wait with logstore_log_wait_durable() or poll
				* logstore_log_durable_seq(). Until then a power
				* loss or a failed write can lose it. */
	LOGSTORE_DEFERRED = 4, /* returns at once with the seq; the entry waits
				* in the writer's batch buffer (a user-space
				* write buffer) until its batch is written to
				* the page cache: by a background flusher when
				* the buffer is half full or within
				* deferred_delay_ns, or by the next durable or
				* buffered append, sync or close. Only then do readers
				* see it. Trades the most for speed: a crash of
				* the process before then loses it, a power loss
				* before the next sync too. Never fsynced by
				* itself. */
};

typedef struct logstore_log logstore_log;
typedef struct logstore_reader logstore_reader;

struct logstore_options {
	uint64_t segment_bytes_max;  /* size of each segment file; 0 = default */
	int64_t segment_duration_ns; /* roll over past first time + this; 0 = 30 days */
	uint32_t batch_bytes_max;    /* bytes per group-commit batch; 0 = 1 MiB.
				      * Also bounds one entry (and one batch call) */
	int durability;              /* enum logstore_durability; 0 = durable */
	bool read_only;              /* no lock, no writes: a reader of the log */
	int64_t (*clock_ns)(void *clock_ctx); /* test hook; NULL = CLOCK_REALTIME */
	void *clock_ctx;             /* passed to clock_ns */
	uint32_t pipeline_depth;     /* batches in flight at once, 1..
				      * LOGSTORE_PIPELINE_DEPTH_MAX; 0 = default
				      * (2). 1 = one write + fsync at a time */
	int64_t batch_delay_ns;      /* batching window: while a batch is in
				      * flight, the flusher lets the next one
				      * gather asynchronous appends this long
				      * (or until it is half full); 0 = until
				      * the batch in flight is durable (group
				      * commit), max LOGSTORE_BATCH_DELAY_MAX_NS */
	int64_t deferred_delay_ns;   /* longest a LOGSTORE_DEFERRED entry waits
				      * in the writer's buffer before a flusher
				      * writes it to the page cache; 0 = default
				      * (1 ms), max LOGSTORE_DEFERRED_DELAY_MAX_NS */
};

/* An entry as a reader sees it. */
struct logstore_entry {
	uint64_t seq;     /* sequence number, +1 per entry across the log */
	int64_t time_ns;  /* nanoseconds since the Unix epoch, UTC */
	const void *data; /* payload; lifetime: see the function that filled it */
	size_t len;       /* payload bytes */
};

/*
 * A zero-copy claim: space for one entry inside the next batch, see
 * logstore_log_claim().
 */
struct logstore_claim {
	void *data;      /* out: write exactly len payload bytes here */
	size_t len;      /* out: the payload length claimed */
	uint64_t seq;    /* out: the entry's sequence number */
	int64_t time_ns; /* out: the entry's time */
};

/* One entry of logstore_log_append_batch(). */
struct logstore_batch_entry {
	const void *data; /* in: payload */
	size_t len;       /* in: payload bytes */
	int64_t time_ns;  /* in: 0 = automatic, > 0 = forced; out: the time */
	uint64_t seq;     /* out: the sequence number */
};

enum logstore_start_kind {
	LOGSTORE_START_OLDEST = 0, /* the oldest entry still in the log */
	LOGSTORE_START_TIME = 1,   /* the first entry with time >= time_ns */
	LOGSTORE_START_SEQ = 2,    /* the first entry with seq >= seq */
};

struct logstore_start {
	int kind;        /* enum logstore_start_kind */
	int64_t time_ns; /* for LOGSTORE_START_TIME */
	uint64_t seq;    /* for LOGSTORE_START_SEQ */
};

struct logstore_segment_info {
	char name[32];         /* file name inside the log directory (the
	                          newest segment may still be under a
	                          prepared-N.seg.tmp name until its first
	                          sync: README "On-disk format") */
	int64_t first_time_ns; /* identifies the segment in the API */
	int64_t last_time_ns;  /* time of its newest entry (first if empty) */
	uint64_t first_seq;    /* sequence number of its first entry */
	uint64_t last_seq;     /* of its newest entry; first_seq - 1 if empty */
	uint64_t entries;      /* number of entries */
	uint64_t bytes;        /* bytes of records (headers, payloads, padding) */
	uint64_t file_bytes;   /* size of the preallocated file */
	bool active;           /* the segment appends go to */
};

/*
 * Buckets of a struct logstore_histogram, log-linear: four per power of
 * two. Bucket 0 counts values <= 1, buckets 1-3 the values 2, 3 and 4;
 * from there each range (2^e, 2^(e+1)] is split into four buckets of
 * width 2^(e-2), up to 2^38 (275 s of nanoseconds, far beyond any sane
 * commit); the last bucket counts every value above 2^38.
 * logstore_histogram_bucket_upper() gives a bucket's upper bound, so a
 * quantile read from the buckets is at most 25 % above the true value.
 */
#define LOGSTORE_HISTOGRAM_BUCKETS 149

/* A histogram of non-negative integer values (log-linear buckets). */
struct logstore_histogram {
	uint64_t count; /* values recorded */
	uint64_t sum;   /* of the values */
	uint64_t max;   /* largest value recorded; 0 if none */
	uint64_t buckets[LOGSTORE_HISTOGRAM_BUCKETS]; /* not cumulative */
};

struct logstore_stats {
	uint64_t entries_appended;   /* since open */
	uint64_t bytes_appended;     /* payload bytes since open */
	uint64_t batches_written;    /* group-commit writes */
	uint64_t fsyncs;             /* fdatasyncs issued */
	uint64_t segments_created;   /* rollovers since open */
	uint64_t segments_removed;   /* by remove/retention since open */
	uint64_t recovery_bytes_dropped; /* torn tail cut at open */
	uint64_t last_seq;           /* newest visible entry; 0 if none */
	uint64_t durable_seq;        /* newest entry known durable */
	int failed;                  /* 0, or the error that made the log fail */
	uint64_t failed_operations;  /* append and sync calls that failed */
	uint64_t readers_open;       /* readers of this handle open now */
	uint64_t reader_wakeups;     /* times the writer woke waiting readers */
	/* ns from submitting a batch's write to its completion (with fsync). */
	struct logstore_histogram commit_latency_ns;
	/* entries per written batch (entries per fsync for durable ones). */
	struct logstore_histogram batch_entries;
	/*
	 * Next segments made ready (zero-filled and synced) by the
	 * preparation thread since open: the first one is ready once this
	 * is 1, and a rollover then costs no zero-filling.
	 */
	uint64_t segments_prepared;
};

/* Library version at run time (LOGSTORE_VERSION_NUMBER of the build). */
LOGSTORE_API unsigned logstore_version(void);

/*
 * Name a return code: LOGSTORE_E*, LOGSTORE_END or -errno.
 * Returns a static string. Thread-safe.
 */
LOGSTORE_API const char *logstore_strerror(int code);

/*
 * Detail of the last failure in the calling thread, e.g. "segment
 * 00000000000000000001.seg offset 8192: record checksum mismatch".
 * Returns a thread-local string, valid until the next logstore call in
 * this thread; "" when there is none.
 */
LOGSTORE_API const char *logstore_error_detail(void);

/* Set every option to its default (all zero). */
LOGSTORE_API void logstore_options_init(struct logstore_options *opts);

/*
 * Open (and create if missing) the log in directory dir.
 * opts: NULL for defaults; copied, the caller keeps ownership.
 * out: the handle.
 * A writer takes the log's lock and recovers the tail: a torn or partly
 * written tail of the last segment is cut (its size is in
 * logstore_log_stats().recovery_bytes_dropped) and zeroed on disk.
 * A read-only open takes no lock and recovers nothing.
 * Returns 0, -EINVAL (bad option), LOGSTORE_ELOCKED (another writer, in this
 * or another process), LOGSTORE_ECORRUPT (corruption before the tail),
 * LOGSTORE_EFORMAT, -ENOENT (read-only and no such directory), -ENOSYS or
 * -EPERM (no io_uring), or another -errno.
 * Thread-safe.
 */
LOGSTORE_API int logstore_log_open(const char *dir,
				   const struct logstore_options *opts,
				   logstore_log **out);

/*
 * Make everything appended durable (unless the log failed), stop the
 * compactor, and free the handle. Readers must be closed first.
 * Returns 0 or the error of the final sync; the handle is freed anyway.
 * NULL is accepted. Not thread-safe with other calls on the same log.
 */
LOGSTORE_API int logstore_log_close(logstore_log *log);

/*
 * Append one entry with the automatic time: the clock, or the last
 * entry's time + 1 ns when the clock stalls or goes backwards (also
 * across reopen).
 * durability: enum logstore_durability; DEFAULT takes the log's.
 * out: seq and time_ns (either may be NULL).
 * Returns 0, LOGSTORE_ETOOBIG, LOGSTORE_EFAILED, LOGSTORE_EREADONLY, or
 * -errno from creating a segment.
 * Thread-safe: concurrent callers share batches and fsyncs.
 */
LOGSTORE_API int logstore_log_append(logstore_log *log, const void *data,
				     size_t len, int durability, uint64_t *seq,
				     int64_t *time_ns);

/*
 * Append one entry with a caller-forced time, which must be > 0 and later
 * than the last entry's time; otherwise LOGSTORE_ETIME (or -EINVAL for
 * time_ns <= 0) and nothing is written. Otherwise as logstore_log_append.
 */
LOGSTORE_API int logstore_log_append_at(logstore_log *log, int64_t time_ns,
					const void *data, size_t len,
					int durability, uint64_t *seq);

/*
 * Append count entries atomically: after a crash either all or none of
 * them are in the log, and readers see all of them at once. They land in
 * one segment with consecutive sequence numbers.
 * entries: time_ns 0 means automatic; forced times must increase. On
 * success each entry's seq and time_ns are filled in, so an array that
 * is appended again needs its time_ns set back to 0 (or to new forced
 * times), else it fails with LOGSTORE_ETIME.
 * Returns 0, -EINVAL (count 0 or > LOGSTORE_BATCH_ENTRIES_MAX),
 * LOGSTORE_ETIME, LOGSTORE_ETOOBIG (the batch exceeds batch_bytes_max or a
 * segment), LOGSTORE_EFAILED, LOGSTORE_EREADONLY, -errno. On a validation
 * error (-EINVAL, ETIME, ETOOBIG, EREADONLY) nothing is written. On
 * LOGSTORE_EFAILED the entries are not acknowledged: a write may have
 * reached the file before the failure, and a reopen keeps what is valid
 * on disk, whole batches only. Thread-safe.
 */
LOGSTORE_API int logstore_log_append_batch(logstore_log *log,
					   struct logstore_batch_entry *entries,
					   size_t count, int durability);

/*
 * Make every entry appended so far durable.
 * Returns 0, LOGSTORE_EFAILED, LOGSTORE_EREADONLY. Thread-safe.
 */
LOGSTORE_API int logstore_log_sync(logstore_log *log);

/*
 * Wait until every entry up to seq is durable (fdatasynced), making it so
 * if no one else will: entries appended LOGSTORE_BUFFERED are synced too.
 * timeout_ns: < 0 waits forever; 0 only checks and starts no write. A
 * caller that starts the write and fdatasync itself (nothing else in
 * flight would cover seq) waits for them to finish, which can outlast
 * timeout_ns by one commit.
 * Returns 0, -ETIMEDOUT, -EINVAL (seq was never assigned),
 * LOGSTORE_EFAILED (the log failed before seq became durable: it may be
 * lost), LOGSTORE_EREADONLY. Thread-safe.
 */
LOGSTORE_API int logstore_log_wait_durable(logstore_log *log, uint64_t seq,
					   int64_t timeout_ns);

/*
 * The newest sequence number known durable: every entry up to it is
 * fdatasynced. 0 when none is. Does not wait or lock. Thread-safe.
 */
LOGSTORE_API uint64_t logstore_log_durable_seq(logstore_log *log);

/*
 * Zero-copy append: reserve space for one entry of len payload bytes
 * directly in the batch buffer that will be written to disk, with the
 * automatic time. Fill claim->data, then call logstore_claim_commit() or
 * logstore_claim_abort().
 * out: claim (data, len, seq, time_ns).
 * Rules:
 *  - Between the claim and its commit or abort the calling thread holds
 *    the log's writer lock: it must not call any other function on this
 *    log (that would deadlock), and other threads' appends and claims
 *    wait. Write the payload and commit at once: one claim at a time per
 *    log.
 *  - claim->data is valid only until the commit or abort, and only for
 *    claim->len bytes. The checksum is computed after the commit, just
 *    before the entry's batch is written.
 *  - Abort takes the entry back entirely: its seq and time are given to
 *    the next entry, no reader ever sees it, nothing reaches the disk.
 *  - len is bounded as for logstore_log_append (batch_bytes_max and the
 *    segment size).
 * Returns 0, -EINVAL, LOGSTORE_ETOOBIG, LOGSTORE_EFAILED,
 * LOGSTORE_EREADONLY, -errno from starting a segment. On error no claim is
 * held. Thread-safe.
 */
LOGSTORE_API int logstore_log_claim(logstore_log *log, size_t len,
				    struct logstore_claim *claim);

/*
 * Commit a claim: the entry joins the batch as if appended with the given
 * durability (LOGSTORE_ASYNC returns at once).
 * Returns 0, -EINVAL (no claim held by this thread; or a bad durability,
 * and the claim is then aborted), LOGSTORE_EFAILED (the entry is not
 * acknowledged).
 */
LOGSTORE_API int logstore_claim_commit(logstore_log *log,
				       struct logstore_claim *claim,
				       int durability);

/*
 * Abort a claim: the entry is taken back as if never claimed.
 * Returns 0 or -EINVAL (no claim held by this thread).
 */
LOGSTORE_API int logstore_claim_abort(logstore_log *log,
				      struct logstore_claim *claim);

/*
 * The newest entry, without scanning the log. Its payload is copied into
 * buf (at most cap bytes; entry->len is the full length) and entry->data
 * points to buf.
 * Returns 0, LOGSTORE_END for an empty log, LOGSTORE_ECORRUPT. Thread-safe.
 */
LOGSTORE_API int logstore_log_last_entry(logstore_log *log,
					 struct logstore_entry *entry,
					 void *buf, size_t cap);

/*
 * List the segments, oldest first. Fills min(cap, n) infos and sets
 * *count = n (call with cap 0 to size the array).
 * Returns 0. Thread-safe.
 */
LOGSTORE_API int logstore_log_segments(logstore_log *log,
				       struct logstore_segment_info *infos,
				       size_t cap, size_t *count);

/*
 * Remove the segment whose first entry has time first_time_ns.
 * Returns 0, LOGSTORE_ENOTFOUND, LOGSTORE_EACTIVE, LOGSTORE_EREADONLY,
 * -errno from unlink. Readers inside the segment read on to its end.
 * Thread-safe.
 */
LOGSTORE_API int logstore_log_remove_segment(logstore_log *log,
					     int64_t first_time_ns);

/*
 * Retention: remove every sealed segment whose newest entry is older than
 * cutoff_ns (time < cutoff_ns). The active segment is never removed, so
 * no entry inside the window is ever deleted.
 * out: removed (may be NULL) the number of segments removed.
 * Returns 0, LOGSTORE_EREADONLY, -errno. Thread-safe.
 */
LOGSTORE_API int logstore_log_remove_older_than(logstore_log *log,
						int64_t cutoff_ns,
						size_t *removed);

/*
 * Start a background thread that every interval_ns removes the segments
 * whose newest entry is older than (clock - retention_ns).
 * Returns 0, -EINVAL, -EALREADY (already running), LOGSTORE_EREADONLY,
 * -errno from thread creation. Thread-safe.
 */
LOGSTORE_API int logstore_compactor_start(logstore_log *log,
					  int64_t interval_ns,
					  int64_t retention_ns);

/* Stop and join the compaction thread. Returns 0 or -ENOENT if none. */
LOGSTORE_API int logstore_compactor_stop(logstore_log *log);

/*
 * Figures since open. On a read-only handle while a writer runs (in this
 * process or another), the writer's figures as of its last commit (it
 * copies them into the LOCK file); otherwise this handle's. Thread-safe.
 */
LOGSTORE_API void logstore_log_stats(logstore_log *log,
				     struct logstore_stats *stats);

/*
 * The upper bound of the histogram bucket that holds quantile q (0..1) of
 * the recorded values, capped at the largest value recorded (at most 25 %
 * above the true quantile); 0 when the histogram is empty. Pure
 * function, thread-safe.
 */
LOGSTORE_API uint64_t
logstore_histogram_quantile(const struct logstore_histogram *histogram,
			    double q);

/*
 * The largest value that bucket i of a struct logstore_histogram counts;
 * bucket i counts the values above bucket i - 1's bound, up to this one.
 * UINT64_MAX for the last bucket (i = LOGSTORE_HISTOGRAM_BUCKETS - 1) and
 * for any i beyond it. Pure function, thread-safe.
 */
LOGSTORE_API uint64_t logstore_histogram_bucket_upper(unsigned i);

/*
 * Write the log's figures (logstore_log_stats()) into buf in the
 * Prometheus text exposition format 0.0.4: counters logstore_*_total,
 * gauges, and the two histograms as logstore_commit_latency_seconds and
 * logstore_batch_entries (_bucket{le=...}, _sum, _count), with a
 * NUL terminator.
 * out: *len, the text's length without the NUL; when cap is too small,
 * the size buf needs (without the NUL).
 * Returns 0, -EINVAL, -ENOSPC (buf too small; nothing usable in buf).
 * Thread-safe.
 */
LOGSTORE_API int logstore_log_metrics_prometheus(logstore_log *log, char *buf,
						 size_t cap, size_t *len);

/*
 * Open a reader positioned by start (NULL = oldest entry).
 * Entries appended later are read too: at the end the reader returns
 * LOGSTORE_END and a later call sees new entries.
 * Returns 0, -EINVAL, -ENOMEM, LOGSTORE_ECORRUPT.
 * Thread-safe with respect to the log; one reader is used by one thread
 * at a time. The reader must be closed before the log.
 */
LOGSTORE_API int logstore_reader_open(logstore_log *log,
				      const struct logstore_start *start,
				      logstore_reader **out);

/*
 * Move an open reader to start, as if it were closed and opened again at
 * start, without allocating: the next logstore_reader_next() returns what
 * a new reader opened at start would return (entries appended later, past
 * the end of the log, included; segments removed by retention skipped).
 * This is the cheap way to seek many times.
 * reader: an open reader, in any state (also after LOGSTORE_END or
 * LOGSTORE_ECORRUPT).
 * start: as for logstore_reader_open(); NULL = the oldest entry.
 * Returns 0, -EINVAL (reader is NULL or start->kind is not a
 * LOGSTORE_START_* value), -errno from mapping a segment. On an error
 * the reader stays where it was.
 * Not thread-safe for one reader (one thread at a time, as every reader
 * call); thread-safe with respect to the log and other readers.
 * Lifetime: the entry returned by the previous call on this reader is
 * no longer valid after this call.
 */
LOGSTORE_API int logstore_reader_seek(logstore_reader *reader,
				      const struct logstore_start *start);

/*
 * Read the next entry. Verifies the record's checksum.
 * out: *entry points into the read-only mapping of the segment: no copy.
 * The memory belongs to the log; it stays valid until the next call on
 * this reader or logstore_reader_close(), even if the segment is removed
 * meanwhile. The caller must not write to it.
 * A reader that falls behind retention (its next segment was removed
 * before it got there) goes on with the oldest entry left: entry->seq
 * then jumps; compare it with the previous seq + 1 to notice.
 * Returns 0, LOGSTORE_END (nothing more yet), LOGSTORE_ECORRUPT (the
 * committed data fails its checks; wrong bytes are never returned),
 * -errno from mapping a segment.
 */
LOGSTORE_API int logstore_reader_next(logstore_reader *reader,
				      struct logstore_entry *entry);

/*
 * Follow mode: read the next entry, waiting for one to be appended when
 * there is none yet. Like logstore_reader_next(), but where that returns
 * LOGSTORE_END this call sleeps until the writer publishes new entries
 * (in this process or another: the wait is a futex on a word in the
 * log's LOCK file mapping) or timeout_ns passes. The writer wakes
 * waiting readers at most once per group commit and only when a reader
 * waits. A read-only handle that cannot write LOCK (no writer ever ran,
 * or a read-only file system) polls instead, with sleeps growing from
 * 1 ms to 50 ms.
 * timeout_ns: 0 = do not wait, < 0 = wait without limit.
 * out: *entry as logstore_reader_next().
 * Returns 0, LOGSTORE_END (the timeout passed with nothing new), and the
 * errors of logstore_reader_next().
 * Thread-safety and lifetime as logstore_reader_next().
 */
LOGSTORE_API int logstore_reader_next_wait(logstore_reader *reader,
					   struct logstore_entry *entry,
					   int64_t timeout_ns);

/* Close the reader. NULL is accepted. */
LOGSTORE_API void logstore_reader_close(logstore_reader *reader);

/*
 * ---- Typed entries (codecs) ----
 *
 * A codec turns values of one application type into entry payloads and
 * back: the application describes its type once, in a struct
 * logstore_codec (its "registration"), and then appends and reads typed
 * values. Each typed entry starts with an 8-byte tag: the codec's
 * type_id and version, little-endian uint32 each. A reader checks the tag
 * and the length before decoding, so a value of another type or of
 * another layout version is refused with LOGSTORE_ETYPE instead of being
 * misread. A log may hold several types: logstore_entry_tag() says which
 * codec an entry needs.
 *
 * The bytes after the tag are 8-byte aligned in the mapping (records and
 * their payloads are), so a fixed-layout struct is read in place, without
 * a copy (logstore_entry_view). The JSON codec is in logstore_json.h.
 */
#define LOGSTORE_CODEC_TAG_BYTES 8u
/*
 * Values encoded up to this size are encoded on the stack; a larger one
 * into a buffer kept per calling thread (the codec says how much it
 * needs), which costs a malloc only when it grows and is freed when the
 * thread exits.
 */
#define LOGSTORE_CODEC_INLINE_BYTES 4096u

struct logstore_codec {
	uint32_t type_id;   /* the application's number for the type */
	uint32_t version;   /* of the encoding; entries of another are ETYPE */
	size_t fixed_bytes; /* > 0: every value encodes to exactly this
			     * many bytes (logstore_entry_view needs it) */
	/*
	 * Encode value into buf (cap bytes) and set *len. Returns 0,
	 * -ENOSPC with *len = the bytes needed when cap is too small, or
	 * another negative code.
	 */
	int (*encode)(const struct logstore_codec *codec, const void *value,
		      void *buf, size_t cap, size_t *len);
	/*
	 * Decode the len bytes at data (after the tag) into value. Returns 0
	 * or a negative code (LOGSTORE_ETYPE for bytes it cannot read).
	 */
	int (*decode)(const struct logstore_codec *codec, const void *data,
		      size_t len, void *value);
	void *ctx; /* for encode and decode; the library never touches it */
};

/*
 * Fill codec for a fixed-layout struct of size bytes: encode and decode
 * copy the struct's bytes, logstore_entry_view() reads it in place. The
 * struct must have no pointers, and its layout (including padding and
 * byte order) is the format: change version when it changes.
 */
LOGSTORE_API void logstore_codec_init_struct(struct logstore_codec *codec,
					     uint32_t type_id,
					     uint32_t version, size_t size);

/*
 * Append value, encoded by codec behind its tag, as one entry. Otherwise
 * as logstore_log_append(). Returns its codes, the encoder's, and -EINVAL
 * (fixed_bytes set but the encoder produced another length).
 * Thread-safe if the codec's encode is.
 */
LOGSTORE_API int logstore_log_append_value(logstore_log *log,
					   const struct logstore_codec *codec,
					   const void *value, int durability,
					   uint64_t *seq, int64_t *time_ns);

/*
 * The tag of a typed entry. out: type_id and version.
 * Returns 0 or LOGSTORE_ETYPE (shorter than a tag).
 */
LOGSTORE_API int logstore_entry_tag(const struct logstore_entry *entry,
				    uint32_t *type_id, uint32_t *version);

/*
 * Decode entry with codec into value (what codec->decode writes).
 * Returns 0, LOGSTORE_ETYPE (the tag names another type or version, or
 * fixed_bytes is set and the length differs; logstore_error_detail()
 * says which), or the decoder's code.
 */
LOGSTORE_API int logstore_entry_decode(const struct logstore_entry *entry,
				       const struct logstore_codec *codec,
				       void *value);

/*
 * Zero-copy read of a fixed-layout value: *value points to the struct
 * inside the entry's payload (8-byte aligned). The memory is the entry's:
 * valid as long as entry->data is (see the function that filled the
 * entry), read-only. Returns 0, LOGSTORE_ETYPE (tag or length mismatch),
 * -EINVAL (codec->fixed_bytes is 0, or the payload is not 8-byte aligned,
 * as a copy made by logstore_log_last_entry() may not be).
 */
LOGSTORE_API int logstore_entry_view(const struct logstore_entry *entry,
				     const struct logstore_codec *codec,
				     const void **value);

/*
 * logstore_reader_next() then logstore_entry_decode(). out: value, and
 * entry (may be NULL). On LOGSTORE_ETYPE the reader has moved past the
 * entry, so a caller can skip entries of other types.
 * Returns 0, LOGSTORE_END, or the codes of both.
 */
LOGSTORE_API int logstore_reader_next_value(logstore_reader *reader,
					    const struct logstore_codec *codec,
					    void *value,
					    struct logstore_entry *entry);

/*
 * ---- Verification and repair ----
 *
 * What `logstore verify` and `logstore repair` do, for a service that
 * embeds the library and wants the same checks.
 */

/* Where logstore_log_verify() is; passed to its progress callback. */
struct logstore_verify_progress {
	const char *segment;   /* name of the segment being checked */
	size_t segment_index;  /* 0-based, oldest first */
	size_t segment_count;  /* segments to check */
	uint64_t bytes_done;   /* record bytes checked so far, all segments */
	uint64_t bytes_total;  /* record bytes to check in all */
};

struct logstore_verify_result {
	uint64_t segments;      /* segments checked */
	uint64_t entries;       /* records whose checks passed */
	uint64_t bytes;         /* record bytes checked */
	uint64_t index_entries; /* time-index entries checked */
	char bad_segment[32];   /* first damaged segment; "" if none */
	uint64_t bad_offset;    /* byte offset of the damage in it */
};

/*
 * Check every record (checksum, sequence, time, salt) of every segment,
 * the time index and seal of every sealed segment (checksum, and that
 * each index entry names a record with that time and sequence number),
 * that sealed segments hold only zeros after their records, and that
 * each segment starts where the previous one ended. The active segment
 * is checked up to the committed end. Works on a read-only handle while
 * another process writes.
 * progress: called after each segment and about every 16 MiB, with
 * progress_ctx; may be NULL.
 * out: result (may be NULL).
 * Returns 0, LOGSTORE_ECORRUPT (the first damage: result->bad_segment and
 * bad_offset, and logstore_error_detail(), say where and what), -errno
 * from mapping a segment. Thread-safe; reads only.
 */
LOGSTORE_API int logstore_log_verify(
    logstore_log *log,
    void (*verify_progress)(const struct logstore_verify_progress *progress,
			    void *progress_ctx),
    void *progress_ctx, struct logstore_verify_result *result);

/* Flags of logstore_log_repair(). */
#define LOGSTORE_REPAIR_FORCE 1u /* cut at the first invalid record even
				  * when valid records follow it (damage,
				  * not a torn tail): they are saved too */

struct logstore_repair_result {
	char segment[32];     /* the last segment's name; "" if no segment */
	uint64_t end_offset;  /* where its records end after the repair */
	uint64_t cut_bytes;   /* bytes cut (and saved); 0: nothing to do */
	bool forced;          /* damage before the tail was cut */
	char save_path[4096]; /* the side file written; "" if none */
};

/*
 * Repair the log in dir without appending: take the writer lock, find
 * where the valid records of the last segment end, copy every byte after
 * that which is not zero into a side file (save_path, or NULL for
 * "DIR/<segment>.cut-<offset>"; the file must not exist), make the copy
 * durable, then zero those bytes in the segment (and clear its seal if it
 * no longer matches) and fdatasync. This is what a writer's open does to
 * a torn tail, plus the side file. An invalid record followed by valid
 * ones (damage, not a tear) is refused with LOGSTORE_ECORRUPT unless
 * flags has LOGSTORE_REPAIR_FORCE. Only the last segment is repaired:
 * damage in an older one is reported by logstore_log_verify() and stays.
 * The directory is first listed as a writer's open lists it: a segment
 * still in its prepared file after a crash ("prepared-N.seg.tmp", see
 * the Recovery rule of the format) is renamed to its name, so that its
 * tail is the one repaired, and leftover temporary files are deleted.
 * out: result (may be NULL).
 * Returns 0, LOGSTORE_ELOCKED (a writer is running), LOGSTORE_ECORRUPT,
 * LOGSTORE_EFORMAT, -EEXIST (the side file exists), -ENOENT (no such
 * directory), -errno. Not thread-safe with a writer of the same log (it
 * takes the lock, so it cannot run beside one).
 */
LOGSTORE_API int logstore_log_repair(const char *dir, const char *save_path,
				     unsigned flags,
				     struct logstore_repair_result *result);

#ifdef __cplusplus
}
#endif
#endif /* LOGSTORE_H */
