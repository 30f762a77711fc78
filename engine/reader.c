/* SPDX-License-Identifier: MIT */
/*
 * Readers: zero-copy iteration over the mapped segments, and seeks.
 *
 * A reader holds a reference on the segment it reads, so the mapping
 * stays valid even when retention removes the segment: the reader reads
 * on to its end and then moves to the next segment still in the list.
 * Within a segment it never reads past the committed end (the writer's
 * watermark), so it never sees a partly written record or batch; every
 * record's checksum, sequence number and time are checked before its
 * bytes are returned. A failed check inside the committed range is
 * LOGSTORE_ECORRUPT, and the reader stays on that record.
 *
 * Seeks (logstore_reader_open and logstore_reader_seek, one code path):
 * binary search over the segments (by first sequence number, or by newest
 * time), then over the segment's time index, then a short walk over
 * record headers only (skip_to_target: skipped records are never
 * returned, so their checksums are not computed). The walk stops one
 * record short, so the first logstore_reader_next() checks that record
 * and the one it returns in full. Entries before the target are then
 * skipped by the same filter that makes a seek past the end of the log
 * return the entries appended later.
 *
 * Hot path: no lock and no allocation inside a segment; segs_mu is taken
 * only to move to another segment or to seek. A seek of an open reader
 * allocates nothing, and one that stays in the reader's segment keeps its
 * reference rather than taking a new one and dropping the old.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Follow mode without a writable LOCK mapping polls: the first sleep is
 * short so a busy log is followed closely, the longest bounds both the
 * delay and the wake-ups of an idle follower.
 */
#define LS_FOLLOW_POLL_MIN_NS 1000000LL	 /* 1 ms */
#define LS_FOLLOW_POLL_MAX_NS 50000000LL /* 50 ms */
/*
 * A seek prefetches the lines its header walk may cover before it reads
 * the first header (ls_segment_index_seek() does, once it knows where
 * the walk starts): the walk starts at an index entry and ends within
 * one index stride of it, and the first reads follow. Each header's
 * address depends on the previous header's length, so without the
 * prefetch every line is a cache miss waited for in turn; with it the
 * misses overlap. Measured on the project's VM (bench/README.md,
 * SeekTime at 10^6 entries): 1.5-2x fewer ns per seek. Prefetches never
 * fault, and stop at the committed end.
 */
#define LS_SEEK_PREFETCH_BYTES (LS_INDEX_STRIDE + 1024u)

/*
 * The next record is prefetched when the one just returned is at least
 * LS_PREFETCH_MIN_BYTES long: smaller records sit in one memory stream
 * that the hardware prefetcher already follows. At most
 * LS_PREFETCH_MAX_BYTES are asked for, a few times what arrives in one
 * memory latency (about 100 ns at 20 GB/s), so a huge record does not
 * flood the cache.
 */
#define LS_PREFETCH_MIN_BYTES 1024u
#define LS_PREFETCH_MAX_BYTES 8192u

struct logstore_reader {
	logstore_log *log;
	struct ls_segment *seg; /* referenced and mapped, or NULL */
	uint64_t off;		/* next record */
	uint64_t next_seq;	/* expected seq of that record */
	int64_t prev_time;	/* time of the previous record, or INT64_MIN */
	uint64_t min_seq;	/* skip entries below: seek by seq */
	int64_t min_time;	/* skip entries below: seek by time */
	struct ls_segment *prev_seg; /* released at the next call */
};

/* Index in segs of the segment a seek should start in. segs_mu held. */
static size_t seek_segment(const logstore_log *log,
			   const struct logstore_start *start)
{
	size_t lo = 0, hi = log->nsegs;
	if (start->kind == LOGSTORE_START_SEQ) {
		/* Last segment with first_seq <= seq. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (log->segs[mid]->first_seq <= start->seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo ? lo - 1 : 0;
	}
	/* First segment whose newest entry is at or after the time. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ls_segment *s = log->segs[mid];
		if (s->entry_count && s->last_time < start->time_ns)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < log->nsegs ? lo : log->nsegs - 1;
}

/* Point r at the start of seg (referenced and mapped). */
static void reader_enter(logstore_reader *r, struct ls_segment *seg)
{
	r->seg = seg;
	r->off = LS_HEADER_BYTES;
	r->next_seq = seg->first_seq;
	r->prev_time = INT64_MIN;
}

/* Reference and map segs[i]. segs_mu held. */
static int take_segment(logstore_log *log, size_t i, struct ls_segment **out)
{
	struct ls_segment *seg = log->segs[i];
	int rc = ls_segment_map(seg);
	if (rc)
		return rc;
	ls_segment_ref(seg);
	*out = seg;
	return 0;
}

/*
 * A read-only handle may list a segment the writer has removed since:
 * then match the list to the directory and let the caller retry.
 */
static bool removed_retry(logstore_log *log, int rc)
{
	return rc == -ENOENT && log->read_only &&
	       ls_log_sync_segments(log) == 0;
}

/*
 * Where a seek puts a reader: the segment (referenced and mapped, or NULL
 * for an empty log), the record to read next and what it must continue.
 */
struct reader_pos {
	struct ls_segment *seg;
	uint64_t off;
	uint64_t next_seq;
	int64_t prev_time;
};

/*
 * Walk from pos towards the first record at or after the target, reading
 * only record headers: records before the target are never returned, so
 * their checksums are not computed here (format.h rules 1-4 are checked,
 * not 5). The walk stops at the first record it cannot vouch for, at the
 * target or at the committed end, and leaves pos on the last record it
 * skipped, so logstore_reader_next() checks that one in full before the
 * one it returns. A damaged length or time in a skipped record then
 * shows as a sequence, salt, time or checksum mismatch of one of those
 * two records (LOGSTORE_ECORRUPT), never as other bytes returned.
 *
 * Every record goes through ls_record_peek(), the one definition of those
 * rules. Each next offset is predicted as this one plus the size of the
 * record before: the header's length only confirms it, so the walk's
 * loads do not wait for one another while records keep one size (a
 * change of size costs one mispredicted branch). The empty asm keeps the
 * compiler from turning that branch back into a data dependency.
 */
static inline __attribute__((always_inline)) void
skip_headers(struct reader_pos *pos, bool by_time, uint64_t min_seq,
	     int64_t min_time)
{
	const struct ls_segment *seg = pos->seg;
	uint64_t end = atomic_load_explicit(&seg->end, memory_order_acquire);
	uint64_t off = pos->off, seq = pos->next_seq, bytes = 0;
	int64_t prev_time = pos->prev_time;
	/* The last record skipped; pos itself if the first one is wanted. */
	uint64_t last_off = off, last_seq = seq;
	int64_t last_prev = prev_time;
	struct ls_record rec;
	while (off < end &&
	       ls_record_peek(seg, off, end, seq, prev_time, &rec) == 0 &&
	       !(by_time ? rec.time >= min_time : rec.seq >= min_seq)) {
		last_off = off;
		last_seq = seq;
		last_prev = prev_time;
		uint64_t size = rec.bytes;
		if (size != bytes) {
			__asm__ volatile("" : "+r"(size));
			bytes = size;
		}
		off += bytes;
		seq++;
		prev_time = rec.time;
	}
	pos->off = last_off;
	pos->next_seq = last_seq;
	pos->prev_time = last_prev;
}

/*
 * skip_headers() for a seek by time or by seq: one copy of the loop for
 * each, so that each compares one key per record.
 */
static __attribute__((noinline)) void skip_to_target(struct reader_pos *pos,
						     bool by_time,
						     uint64_t min_seq,
						     int64_t min_time)
{
	if (by_time)
		skip_headers(pos, true, min_seq, min_time);
	else
		skip_headers(pos, false, min_seq, min_time);
}

/*
 * Find the position of start: the segment by binary search, then its time
 * index, then the header walk. held: a segment the caller holds a
 * reference on (the seeking reader's), or NULL. out: pos (pos->seg NULL
 * if the log has no segment), whose segment the caller now holds a new
 * reference on, unless it is held: a reader seeking within the segment
 * it is in keeps its reference, which saves two atomic operations (they
 * are full barriers on x86) per seek. Returns 0 or -errno from mapping
 * the segment.
 */
static int reader_position(logstore_log *log,
			   const struct logstore_start *start, uint64_t min_seq,
			   int64_t min_time, struct ls_segment *held,
			   struct reader_pos *pos)
{
	*pos = (struct reader_pos){0};
	pthread_mutex_lock(&log->segs_mu);
	struct ls_segment *seg;
	int rc;
	do {
		if (log->nsegs == 0) {
			pthread_mutex_unlock(&log->segs_mu);
			return 0;
		}
		size_t i = start->kind == LOGSTORE_START_OLDEST
			       ? 0
			       : seek_segment(log, start);
		seg = log->segs[i];
		/* held is referenced and mapped: nothing to take. */
		rc = seg == held ? 0 : take_segment(log, i, &seg);
	} while (removed_retry(log, rc));
	if (rc) {
		pthread_mutex_unlock(&log->segs_mu);
		return rc;
	}
	*pos = (struct reader_pos){.seg = seg,
				   .off = LS_HEADER_BYTES,
				   .next_seq = seg->first_seq,
				   .prev_time = INT64_MIN};
	if (start->kind != LOGSTORE_START_OLDEST)
		ls_segment_index_seek(seg, start->kind == LOGSTORE_START_TIME,
				      start->time_ns, start->seq,
				      LS_SEEK_PREFETCH_BYTES, &pos->off,
				      &pos->next_seq);
	pthread_mutex_unlock(&log->segs_mu);
	if (start->kind != LOGSTORE_START_OLDEST)
		skip_to_target(pos, start->kind == LOGSTORE_START_TIME, min_seq,
			       min_time);
	return 0;
}

/* Check a start (NULL = oldest) and set the filters it implies. */
static int start_check(const struct logstore_start *start, uint64_t *min_seq,
		       int64_t *min_time)
{
	if (start->kind != LOGSTORE_START_OLDEST &&
	    start->kind != LOGSTORE_START_TIME &&
	    start->kind != LOGSTORE_START_SEQ)
		return ls_error(-EINVAL, "start kind %d", start->kind);
	*min_seq = start->kind == LOGSTORE_START_SEQ ? start->seq : 0;
	*min_time =
	    start->kind == LOGSTORE_START_TIME ? start->time_ns : INT64_MIN;
	return 0;
}

static const struct logstore_start start_oldest = {.kind =
						       LOGSTORE_START_OLDEST};

/*
 * A reader of log positioned at start (NULL = oldest), in *out: what
 * open and seek share. held: see reader_position(). The caller holds a
 * new reference on out->seg (or NULL) unless out->seg is held.
 */
static int reader_place(logstore_log *log, const struct logstore_start *start,
			struct ls_segment *held, logstore_reader *out)
{
	if (!start)
		start = &start_oldest;
	uint64_t min_seq = 0;
	int64_t min_time = INT64_MIN;
	int rc = start_check(start, &min_seq, &min_time);
	if (!rc)
		rc = ls_log_refresh(log);
	struct reader_pos pos;
	if (!rc)
		rc = reader_position(log, start, min_seq, min_time, held, &pos);
	if (rc)
		return rc;
	*out = (struct logstore_reader){.log = log,
					.seg = pos.seg,
					.off = pos.off,
					.next_seq = pos.next_seq,
					.prev_time = pos.prev_time,
					.min_seq = min_seq,
					.min_time = min_time};
	return 0;
}

int logstore_reader_open(logstore_log *log, const struct logstore_start *start,
			 logstore_reader **out)
{
	if (!log || !out)
		return ls_error(-EINVAL, "log and out are required");
	*out = NULL;
	logstore_reader placed;
	int rc = reader_place(log, start, NULL, &placed);
	if (rc)
		return rc;
	logstore_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		ls_segment_unref(placed.seg);
		return ls_error(-ENOMEM, "out of memory");
	}
	*r = placed;
	atomic_fetch_add_explicit(&log->st_readers_open, 1,
				  memory_order_relaxed);
	*out = r;
	return 0;
}

int logstore_reader_seek(logstore_reader *r, const struct logstore_start *start)
{
	if (!r)
		return ls_error(-EINVAL, "reader is required");
	logstore_reader placed;
	int rc = reader_place(r->log, start, r->seg, &placed);
	if (rc)
		return rc; /* the reader is where it was */
	if (placed.seg != r->seg)
		ls_segment_unref(r->seg); /* else its reference carries on */
	ls_segment_unref(r->prev_seg);
	*r = placed;
	return 0;
}

void logstore_reader_close(logstore_reader *r)
{
	if (!r)
		return;
	atomic_fetch_sub_explicit(&r->log->st_readers_open, 1,
				  memory_order_relaxed);
	ls_segment_unref(r->seg);
	ls_segment_unref(r->prev_seg);
	free(r);
}

/*
 * Index in segs of the segment after cur (the oldest if cur is NULL). A
 * segment with cur's first seq that is not cur replaces a file deleted by
 * recovery (see ls_log_sync_segments) and comes next. segs_mu held.
 */
static size_t next_index(const logstore_log *log, const struct ls_segment *cur)
{
	size_t i = 0;
	while (
	    cur && i < log->nsegs &&
	    (log->segs[i]->first_seq < cur->first_seq || log->segs[i] == cur))
		i++;
	return i;
}

/*
 * At the end of the reader's segment: move to the next one if this one
 * is final. Returns 0 when moved, LOGSTORE_END when there is none yet.
 */
static int reader_advance(logstore_reader *r)
{
	logstore_log *log = r->log;
	int rc = ls_log_refresh(log);
	if (rc)
		return rc;
	pthread_mutex_lock(&log->segs_mu);
	size_t i = 0;
	bool final = !r->seg || (atomic_load(&r->seg->sealed) &&
				 r->off >= atomic_load(&r->seg->end));
	i = next_index(log, r->seg);
	rc = LOGSTORE_END;
	struct ls_segment *seg;
	while (final && i < log->nsegs) {
		rc = take_segment(log, i, &seg);
		if (removed_retry(log, rc)) {
			i = next_index(log, r->seg);
			rc = LOGSTORE_END;
			continue;
		}
		if (!rc) {
			/* The caller may still hold an entry of the old one. */
			ls_segment_unref(r->prev_seg);
			r->prev_seg = r->seg;
			reader_enter(r, seg);
		}
		break;
	}
	pthread_mutex_unlock(&log->segs_mu);
	return rc;
}

/*
 * Ask the CPU for the record at off (assumed as long as the one before,
 * bytes) while the caller uses the one before: a scan of records that are
 * not in the cache then streams instead of waiting at each record's
 * start. Prefetches never fault and stop at the committed end.
 */
static void prefetch_next(const struct ls_segment *seg, uint64_t off,
			  uint64_t bytes, uint64_t end)
{
	if (bytes < LS_PREFETCH_MIN_BYTES)
		return;
	uint64_t stop =
	    off +
	    (bytes < LS_PREFETCH_MAX_BYTES ? bytes : LS_PREFETCH_MAX_BYTES);
	ls_segment_prefetch(seg, off, stop < end ? stop : end);
}

static int corrupt(const logstore_reader *r, int why)
{
	return ls_error(LOGSTORE_ECORRUPT,
			"%s/%s offset %" PRIu64 ": %s (expected seq %" PRIu64
			")",
			r->log->dir, r->seg->name, r->off,
			ls_record_reason(why), r->next_seq);
}

/*
 * Check the record at the reader's offset against every validity rule,
 * reading nothing at or past end, and move the reader past it. Returns 0
 * with rec filled, or a negative reason (see ls_record_reason()), and
 * then the reader stays on that record.
 */
static inline int reader_step(logstore_reader *r, uint64_t end,
			      struct ls_record *rec)
{
	int why = ls_record_check(r->seg, r->off, end, r->next_seq,
				  r->prev_time, rec);
	if (why)
		return why;
	r->off += rec->bytes;
	r->next_seq = rec->seq + 1;
	r->prev_time = rec->time;
	prefetch_next(r->seg, r->off, rec->bytes, end);
	return 0;
}

/* Whether rec is at or after the reader's seek target. */
static inline bool reader_wants(const logstore_reader *r,
				const struct ls_record *rec)
{
	return rec->seq >= r->min_seq && rec->time >= r->min_time;
}

static inline void entry_fill(struct logstore_entry *entry,
			      const struct ls_record *rec)
{
	entry->seq = rec->seq;
	entry->time_ns = rec->time;
	entry->data = rec->data;
	entry->len = rec->len;
}

/*
 * logstore_reader_next() when the next record is not simply there:
 * moving to the next segment, skipping records before a seek's target,
 * reporting a record that fails a check. Out of line, so that the common
 * case stays short.
 */
static __attribute__((noinline)) int
reader_next_slow(logstore_reader *r, struct logstore_entry *entry)
{
	for (;;) {
		uint64_t end = r->seg ? atomic_load_explicit(
					    &r->seg->end, memory_order_acquire)
				      : 0;
		if (!r->seg || r->off >= end) {
			int rc = reader_advance(r);
			if (rc == LOGSTORE_END && r->seg &&
			    r->off < atomic_load(&r->seg->end))
				continue; /* a read-only refresh found more */
			if (rc)
				return rc;
			continue;
		}
		struct ls_record rec;
		int why = reader_step(r, end, &rec);
		if (why)
			return corrupt(r, why);
		if (!reader_wants(r, &rec))
			continue;
		entry_fill(entry, &rec);
		return 0;
	}
}

int logstore_reader_next(logstore_reader *r, struct logstore_entry *entry)
{
	if (!r || !entry)
		return ls_error(-EINVAL, "reader and entry are required");
	if (r->prev_seg) {
		ls_segment_unref(r->prev_seg);
		r->prev_seg = NULL;
	}
	/*
	 * The common case: the next record lies below the committed end of
	 * the reader's segment, passes its checks and is wanted. Anything
	 * else (and a failed check again, to report it) goes the long way.
	 */
	struct ls_record rec;
	if (r->seg) {
		uint64_t end =
		    atomic_load_explicit(&r->seg->end, memory_order_acquire);
		if (r->off < end && reader_step(r, end, &rec) == 0 &&
		    reader_wants(r, &rec)) {
			entry_fill(entry, &rec);
			return 0;
		}
	}
	return reader_next_slow(r, entry);
}

/* ---- follow mode ---- */

/* The LOCK mapping when follow mode may sleep on its futex, else NULL. */
static struct ls_shm *follow_shm(logstore_log *log)
{
	pthread_mutex_lock(&log->segs_mu);
	struct ls_shm *s = log->shm_writable ? log->shm : NULL;
	pthread_mutex_unlock(&log->segs_mu);
	return s;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000,
			      .tv_nsec = ns % 1000000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Sleep until the writer's next wake-up (wake_seq moves on from seen) or
 * left_ns passes (< 0: no limit). The caller has counted itself in
 * waiters and then looked for entries once more, so a commit published
 * after that look bumps wake_seq, and FUTEX_WAIT returns at once when
 * it has moved. Spurious returns only cost the caller another look.
 */
static void futex_sleep(struct ls_shm *s, uint32_t seen, int64_t left_ns)
{
	struct timespec ts = {.tv_sec = left_ns / 1000000000,
			      .tv_nsec = left_ns % 1000000000};
	syscall(SYS_futex, &s->wake_seq, FUTEX_WAIT, seen,
		left_ns < 0 ? NULL : &ts, NULL, 0);
}

int logstore_reader_next_wait(logstore_reader *r, struct logstore_entry *entry,
			      int64_t timeout_ns)
{
	if (!r || !entry)
		return ls_error(-EINVAL, "reader and entry are required");
	int64_t now = ls_monotonic_ns();
	int64_t deadline = timeout_ns > 0 && timeout_ns < INT64_MAX - now
			       ? now + timeout_ns
			       : INT64_MAX;
	int64_t poll_ns = LS_FOLLOW_POLL_MIN_NS;
	for (;;) {
		struct ls_shm *s = follow_shm(r->log);
		uint32_t seen = s ? atomic_load(&s->wake_seq) : 0;
		int rc = logstore_reader_next(r, entry);
		if (rc != LOGSTORE_END || timeout_ns == 0)
			return rc;
		int64_t left = -1;
		if (timeout_ns > 0) {
			left = deadline - ls_monotonic_ns();
			if (left <= 0)
				return LOGSTORE_END;
		}
		if (!s) {
			sleep_ns(left >= 0 && left < poll_ns ? left : poll_ns);
			poll_ns = poll_ns * 2 < LS_FOLLOW_POLL_MAX_NS
				      ? poll_ns * 2
				      : LS_FOLLOW_POLL_MAX_NS;
			continue;
		}
		atomic_fetch_add(&s->waiters, 1);
		rc = logstore_reader_next(r, entry);
		if (rc == LOGSTORE_END)
			futex_sleep(s, seen, left);
		atomic_fetch_sub(&s->waiters, 1);
		if (rc != LOGSTORE_END)
			return rc;
	}
}
