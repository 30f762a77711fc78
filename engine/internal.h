/* SPDX-License-Identifier: MIT */
/*
 * Internal types shared by the engine's modules:
 *   segment.c   segment files: create, load, map, scan, seal, index lookup
 *   log.c       the log directory: open, recovery, close, listing, stats
 *   writer.c    appends, claims, pipelined group commit, rollover, sync
 *   prepare.c   the background thread that prepares and seals segments
 *   reader.c    zero-copy readers and seeks
 *   retention.c removal of segments and the compaction thread
 *   stats.c     counters, histograms, Prometheus text, reader wake-ups
 *
 * Locks, in the order they nest: log->mu (writer state) before
 * log->segs_mu (the segment list and the per-segment fields it guards).
 */
#ifndef LOGSTORE_INTERNAL_H
#define LOGSTORE_INTERNAL_H

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "crc32c.h"
#include "format.h"
#include "logstore.h"

#define LOGSTORE_ASSERT(x)                                                     \
	((x) ? (void)0 : ls_assert_fail(#x, __FILE__, __LINE__, __func__))
#ifdef NDEBUG
#define LOGSTORE_DEBUG_ASSERT(x) ((void)0)
#else
#define LOGSTORE_DEBUG_ASSERT(x) LOGSTORE_ASSERT(x)
#endif

/*
 * A short write is completed by writing the rest; a device that keeps
 * writing a few bytes at a time is broken, so give up after this many.
 */
#define LS_SHORT_WRITE_RETRY_MAX 64
/* io_uring entries per batch ring: one write and its linked fsync. */
#define LS_RING_ENTRIES 4
/* Batches: the fill batch plus one per pipelined batch in flight. */
#define LS_BATCHES_MAX (LOGSTORE_PIPELINE_DEPTH_MAX + 1)
/*
 * Sealed-but-not-yet-sealed-on-disk segments waiting for the preparation
 * thread. Sealing takes one index write and an fdatasync, far less than a
 * segment takes to fill, so more than a few waiting means the disk is
 * failing; a rollover then waits for room.
 */
#define LS_SEAL_QUEUE_MAX 4
/* Name prefix of the segment the preparation thread keeps ready. */
#define LS_PREPARED_PREFIX "prepared-"
/*
 * Zero-fill chunk. Aligned 2 MiB writes leave PMD-sized folios in the page
 * cache (1 MiB writes leave 1 MiB ones), and the kernel maps those into a
 * reader's 2 MiB-aligned mapping one entry per 2 MiB instead of 512. On
 * the project's VM (a PVM guest: shadow page tables) reads through 4 KiB
 * entries often stay at about 0.5 GB/s pass after pass; through PMD
 * entries a scan of the same 4 KiB records ran at 5-20 GB/s from its
 * second pass (2026-11-24, BM_Logstore_Scan and a 400 MB log).
 */
#define LS_ZERO_CHUNK_BYTES (2048u * 1024)
/*
 * Zero-fill burst of a segment smaller than LS_ZERO_CHUNK_BYTES (its page
 * cache cannot be PMD-mapped anyway). Each burst is written back before
 * the next, so a commit waits behind at most one: ~0.25 ms of device time
 * at ~500 MB/s. In one burst the ~800 KiB of a 200-entry segment of 4 KiB
 * delayed the append after a rollover to 1.4-2.1 ms (0.3-0.5 ms without).
 */
#define LS_PREP_BURST_BYTES (128u * 1024)
_Static_assert(LS_ZERO_CHUNK_BYTES % LS_PREP_BURST_BYTES == 0, "bursts tile");
/*
 * Pause of the preparation thread between two of its device steps (a
 * seal, a 128 KiB zero-fill burst, an fdatasync, the directory fsync;
 * not between 2 MiB bursts, see ls_segment_prepare()), so that
 * the writer's commits find the device free in between instead of
 * queueing behind the whole preparation right after a rollover. A
 * 200-entry segment of 4 KiB lasts ~80 ms here and its seal and
 * preparation take 10 steps (10 ms of pauses), so pacing does not delay
 * the next rollover; a rollover that waits for the preparation ends the
 * pauses (prep_takers).
 */
#define LS_PREP_PACE_NS (1000 * 1000)
/* The unit a disk writes atomically at the least; see corrupt_before_tail. */
#define LS_SECTOR_BYTES 512u
_Static_assert(LS_HEADER_BYTES % LS_SECTOR_BYTES == 0, "sectors align");

struct ls_segment {
	_Atomic int refs;	 /* list + readers + writer; freed at 0 */
	char name[32];		 /* NNN.seg; immutable */
	char *path;		 /* dir/name; immutable */
	uint32_t salt;		 /* immutable */
	uint64_t ino;		 /* inode at load; immutable */
	uint64_t first_seq;	 /* immutable */
	int64_t first_time;	 /* immutable */
	uint64_t capacity;	 /* file bytes; immutable */
	uint64_t index_offset;	 /* records end before this; immutable */
	uint32_t index_capacity; /* immutable */

	/* Committed state: written under segs_mu, read under segs_mu. */
	uint64_t last_seq; /* first_seq - 1 while empty */
	int64_t last_time; /* first_time while empty */
	uint64_t entry_count;
	_Atomic uint64_t end; /* committed end: readers never pass it */
	_Atomic bool sealed;  /* end is final and a next segment may exist */
	bool reopenable;      /* closed cleanly: [header, end) vouched for */

	/*
	 * Time index: in memory while active (writer) and until the
	 * preparation thread has sealed it on disk; then on disk.
	 */
	struct ls_index_entry *index; /* writer's active segment; else NULL */
	_Atomic uint32_t index_count; /* entries valid in index */
	uint64_t
	    index_next_off; /* next record at/after this is indexed; writer */
	uint32_t disk_index_count; /* from the seal */
	uint32_t disk_index_crc;   /* from the seal */
	int disk_index_state;	   /* 0 unchecked, 1 good, -1 bad; segs_mu */

	/*
	 * Activated, still under its prepared name (prep_name): it takes its
	 * name once its header is durable (ls_segment_name_durable()).
	 */
	_Atomic bool name_pending;
	char prep_name[32];
	const uint8_t *map; /* read-only mapping; under segs_mu once set */
	int fd;		    /* writer's fd of the active segment, or -1 */
};

_Static_assert(sizeof(struct logstore_stats) % 8 == 0, "stats copy by words");
#define LS_SHM_STATS_WORDS (sizeof(struct logstore_stats) / 8)
#define LS_SHM_STATS_V1_WORDS 100

/* The live commit watermark in LOCK, shared with other processes. */
struct ls_shm {
	char magic[8];			   /* "LGSTSHM1" */
	_Atomic uint64_t version;	   /* seqlock: odd while updating */
	_Atomic uint64_t active_first_seq; /* 0: no active segment */
	_Atomic uint64_t end;		   /* committed end of the active one */
	_Atomic uint64_t last_seq;
	_Atomic int64_t last_time;
	_Atomic uint64_t entry_count; /* of the active segment */
	_Atomic uint64_t active_salt; /* tells a recreated file apart */
	/*
	 * Follow mode (reader.c): waiters counts readers, in any process,
	 * that are about to sleep or sleep on wake_seq; the writer bumps
	 * wake_seq and futex-wakes them after a commit only while it is
	 * non-zero. A reader killed while waiting leaves it too high, which
	 * costs the writer one futex call per commit and nothing else.
	 */
	_Atomic uint32_t wake_seq; /* futex word */
	_Atomic uint32_t waiters;
	/*
	 * Where library 0.1.0 copied its figures, whose histograms had 40
	 * power-of-two buckets (100 words). The writer keeps its seqlock
	 * word 0, so a reader of that version finds no figures here rather
	 * than misreading the new layout below.
	 */
	_Atomic uint64_t stats_v1_version;
	uint64_t stats_v1[LS_SHM_STATS_V1_WORDS];
	/*
	 * The writer's figures (struct logstore_stats, as 8-byte words),
	 * copied after each published commit, so that a read-only handle in
	 * another process (logstore stat) shows them. Seqlock: odd while
	 * the writer copies; 0 until the writer's first copy.
	 */
	_Atomic uint64_t stats_version;
	_Atomic uint64_t stats[LS_SHM_STATS_WORDS];
};
_Static_assert(sizeof(struct ls_shm) <= LS_PAGE_BYTES, "LOCK maps one page");
_Static_assert(offsetof(struct ls_shm, stats_v1_version) == 72,
	       "where library 0.1.0 looks for its figures");

struct ls_shm_view {
	uint64_t active_first_seq;
	uint64_t end;
	uint64_t last_seq;
	int64_t last_time;
	uint64_t entry_count;
	uint64_t active_salt;
};

enum ls_batch_state {
	LS_BATCH_FREE = 0, /* unused */
	LS_BATCH_FILL,	   /* appenders copy into it (log->fill) */
	LS_BATCH_FLIGHT, /* taken by a leader; in log->flight until published */
};

/* A group-commit batch: records for one contiguous range of a segment. */
struct ls_batch {
	uint8_t *buf;		/* batch_bytes_max bytes, allocated at open */
	uint32_t len;		/* bytes of records in buf */
	uint64_t start_off;	/* segment offset of buf[0] */
	struct ls_segment *seg; /* where it goes */
	uint64_t first_seq;	/* of the first record in buf */
	uint64_t last_seq;	/* of the last record in buf */
	int64_t last_time;
	uint32_t entries;     /* records in buf */
	bool need_sync;	      /* a durable append waits on it */
	bool async;	      /* holds async appends: a flusher must take it */
	bool half_woken;      /* flushers woken at half full; under mu */
	int state;	      /* enum ls_batch_state; under mu */
	bool sync;	      /* in flight with a linked fdatasync */
	bool written;	      /* its write completed; under mu */
	bool synced;	      /* its fdatasync completed; under mu */
	int64_t started_ns;   /* monotonic: first entry, then submission */
	struct io_uring ring; /* this batch's write + fsync; its leader */
	bool ring_ready;      /* ring initialized */
	bool buf_registered;  /* buf is io_uring fixed buffer 0 (opt-in) */
	int fsync_res;	      /* result of the linked fsync, once reaped */
	bool fsync_reaped;    /* its completion was seen */
	int fsync_fd;	      /* the file the fsync syncs */
	uint64_t fsync_mark;  /* ls_fault_fsync_mark() when prepared */
	_Atomic uint32_t done_word; /* futex: bumped when published durable */
	_Atomic uint32_t sleepers;  /* appenders waiting on done_word */
	uint32_t callers;	    /* durable appenders waiting on it; mu */
	bool leader_waits;	    /* one of them waits to lead it; mu */
};

/*
 * Undo record of the claimed entry, the newest in the fill batch while
 * the claim holds mu: claim abort. Saved for claims only.
 */
struct ls_undo {
	uint32_t batch_len;	 /* fill->len before the entry */
	uint64_t batch_last_seq; /* fill->last_seq before */
	int64_t batch_last_time; /* fill->last_time before */
	int64_t log_last_time;	 /* log->last_time before */
	uint32_t index_count;	 /* seg->index_count before */
	uint64_t index_next_off; /* seg->index_next_off before */
};

struct logstore_log {
	char *dir;		      /* immutable */
	int dir_fd;		      /* immutable */
	struct logstore_options opts; /* resolved defaults; immutable */
	bool read_only;		      /* immutable */
	int lock_fd;		      /* LOCK; -1 if a reader found none */
	struct ls_shm *shm;	      /* mapping of LOCK, or NULL */
	bool shm_writable;	      /* follow mode can count its waiters */

	pthread_mutex_t segs_mu;  /* guards segs, nsegs and segment fields */
	struct ls_segment **segs; /* oldest first */
	size_t nsegs;
	size_t segs_cap;

	/* Writer state, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t
	    cond; /* a batch written or published, rollover, failure */
	struct ls_batch batches[LS_BATCHES_MAX];
	unsigned nbatches;     /* pipeline_depth + 1 */
	struct ls_batch *fill; /* appenders copy into this one */
	struct ls_batch *flight[LS_BATCHES_MAX]; /* taken, in write order */
	unsigned flight_head;			 /* oldest in flight */
	unsigned flight_count;			 /* batches in flight */
	bool writing;		 /* a leader is in its write phase */
	bool rolling;		 /* a rollover is in progress */
	bool sync_requested;	 /* logstore_log_sync waits */
	bool durable_uring;	 /* tests: durable batches via io_uring */
	uint64_t next_seq;	 /* of the next append */
	uint64_t next_seq_floor; /* set by recovery: next_seq is never less */
	int64_t last_time;	 /* of the last assigned entry */
	uint64_t written_seq;	 /* in the page cache and visible */
	_Atomic uint64_t durable_seq; /* fdatasynced; written under mu */
	int failed;		      /* sticky error, 0 if healthy */
	struct ls_segment *active; /* NULL until the next append creates one */
	uint8_t *zero_buf;	   /* LS_ZERO_CHUNK_BYTES of zeros */
	bool segments_prepared;	   /* rollovers take prepared segments */
	struct ls_undo undo;	   /* of the entry claimed last */

	/*
	 * Gathering (writer.c wait_for()): after a durable batch is
	 * published, the next durable leader waits until its woken
	 * callers have appended again, or a window. Under mu.
	 */
	uint32_t gather_target;	   /* fill->callers to wait for; 0 = none */
	int64_t gather_until_ns;   /* monotonic end of the window */
	bool gathering;		   /* a leader sleeps on gather_word */
	uint32_t gatherings;	   /* count of gather() windows begun */
	_Atomic uint32_t gather_word; /* futex: bumped at the target */
	int64_t commit_avg_ns;	   /* moving average of commit latency */
	_Atomic uintptr_t claim_tid; /* thread holding a claim (and mu), or 0 */

	/* Flusher threads: lead batches of asynchronous appends. Under mu. */
	pthread_cond_t flush_cond; /* async entries wait, or a leader may go */
	pthread_t flushers[LOGSTORE_PIPELINE_DEPTH_MAX];
	unsigned nflushers;	/* started */
	unsigned flushers_idle; /* waiting on flush_cond */
	unsigned room_waiters;	/* appenders in wait_for_room(); mu */
	bool flushers_stop;

	/* Preparation thread (prepare.c), under prep_mu. */
	pthread_mutex_t prep_mu;
	pthread_cond_t prep_cond; /* work queued, segment ready, idle */
	pthread_t prep_thread;
	bool prep_running;
	_Atomic bool prep_stop;	     /* read by the zero-fill loop */
	bool prep_wanted;	     /* keep a prepared segment ready */
	bool prep_busy;		     /* preparing or sealing right now */
	struct ls_segment *prepared; /* zero-filled, durable, unnamed */
	int prep_error;		     /* the last preparation failed */
	unsigned prep_takers;	     /* rollovers in ls_prepare_take() */
	struct ls_segment *seal_queue[LS_SEAL_QUEUE_MAX]; /* referenced */
	unsigned seal_count;

	/* Statistics, relaxed atomics. */
	_Atomic uint64_t st_entries;
	_Atomic uint64_t st_bytes;
	_Atomic uint64_t st_batches;
	_Atomic uint64_t st_fsyncs;
	_Atomic uint64_t st_segments_created;
	_Atomic uint64_t st_segments_removed;
	_Atomic uint64_t st_segments_prepared;
	_Atomic uint64_t st_failed_operations;
	_Atomic uint64_t st_readers_open;
	_Atomic uint64_t st_reader_wakeups;
	uint64_t recovery_bytes_dropped;	     /* set at open */
	struct logstore_histogram commit_latency_ns; /* under mu */
	struct logstore_histogram batch_entries;     /* under mu */

	/* Compaction thread, under compactor_mu. */
	pthread_mutex_t compactor_ctl_mu; /* serializes start and stop */
	pthread_mutex_t compactor_mu;
	pthread_cond_t compactor_cond;
	pthread_t compactor;
	bool compactor_running;
	bool compactor_stop;
	int64_t compactor_interval_ns;
	int64_t compactor_retention_ns;
};

/* A decoded record, pointing into a mapping. */
struct ls_record {
	uint64_t seq;
	int64_t time;
	const uint8_t *data;
	uint32_t len;
	bool batch_more;
	uint64_t bytes; /* on disk, with header and padding */
};

/* Result of scanning a segment's records for validity. */
struct ls_scan {
	uint64_t end;	   /* offset just past the last committed record */
	uint64_t last_seq; /* of the last committed record */
	int64_t last_time;
	uint64_t count;	  /* committed records scanned */
	uint64_t bad_off; /* where the first invalid record starts */
	uint64_t bad_seq; /* the seq expected there */
};

/* error.c */
int ls_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
_Noreturn void ls_assert_fail(const char *expr, const char *file, int line,
			      const char *func);

/* segment.c */
void ls_segment_name(char *buf, size_t cap, uint64_t first_seq);
bool ls_segment_name_parse(const char *name, uint64_t *first_seq);
int ls_segment_create(logstore_log *log, uint64_t first_seq, int64_t first_time,
		      struct ls_segment **out);
int ls_segment_prepare(logstore_log *log, const _Atomic bool *stop,
		       struct ls_segment **out);
int ls_segment_activate(logstore_log *log, struct ls_segment *seg,
			uint64_t first_seq, int64_t first_time);
void ls_segment_prepared_discard(logstore_log *log, struct ls_segment *seg);
void ls_segment_set_path(const logstore_log *log, struct ls_segment *seg,
			 const char *file);
int ls_segment_name_durable(logstore_log *log, struct ls_segment *seg,
			    bool header_durable);
bool ls_segment_header_first_seq(const logstore_log *log, const char *file,
				 uint64_t *first_seq);
int ls_segment_load(logstore_log *log, const char *name, const char *file,
		    struct ls_segment **out);
int ls_segment_map(struct ls_segment *seg);
void ls_segment_ref(struct ls_segment *seg);
void ls_segment_unref(struct ls_segment *seg);
const char *ls_record_reason(int why);

/*
 * Check the header of the record at off against format.h's validity
 * rules 1-4 (bounds, salt, sequence, time), reading nothing at or past
 * limit; the checksum (rule 5) is not computed: for a seek's walk over
 * records it will not return. prev_time is ignored for the segment's
 * first record, whose time must equal the header's.
 * Returns 0 and fills rec, or a negative reason (see ls_record_reason()).
 */
static inline int ls_record_peek(const struct ls_segment *seg, uint64_t off,
				 uint64_t limit, uint64_t expect_seq,
				 int64_t prev_time, struct ls_record *rec)
{
	if (off % LS_RECORD_ALIGN || off < LS_HEADER_BYTES ||
	    limit > seg->index_offset || off + LS_RECORD_HEADER_BYTES > limit)
		return -1;
	const uint8_t *p = seg->map + off;
	uint32_t lf = ls_get_u32(p + 4);
	uint32_t len = lf & LS_RECORD_LENGTH_MASK;
	if (len > limit - off - LS_RECORD_HEADER_BYTES)
		return -2;
	if (ls_get_u32(p + 24) != seg->salt || ls_get_u32(p + 28) != 0)
		return -3;
	uint64_t seq = ls_get_u64(p + 8);
	int64_t time = (int64_t)ls_get_u64(p + 16);
	if (seq != expect_seq)
		return -4;
	if (off == LS_HEADER_BYTES ? time != seg->first_time
				   : time <= prev_time)
		return -5;
	rec->seq = seq;
	rec->time = time;
	rec->data = p + LS_RECORD_HEADER_BYTES;
	rec->len = len;
	rec->batch_more = (lf & LS_RECORD_BATCH_MORE) != 0;
	rec->bytes = ls_record_bytes(len);
	return 0;
}

/*
 * Check the record at off against all of format.h's validity rules:
 * ls_record_peek(), then the checksum over header and payload.
 * Returns 0 and fills rec, or a negative reason (see ls_record_reason()).
 * Inline because a reader calls it once per entry: a scan of 100 B
 * entries ran about 15 % faster than with a call into segment.c.
 */
static inline int ls_record_check(const struct ls_segment *seg, uint64_t off,
				  uint64_t limit, uint64_t expect_seq,
				  int64_t prev_time, struct ls_record *rec)
{
	int why = ls_record_peek(seg, off, limit, expect_seq, prev_time, rec);
	if (why)
		return why;
	const uint8_t *p = seg->map + off;
	if (ls_crc32c(0, p + 4, LS_RECORD_HEADER_BYTES - 4 + rec->len) !=
	    ls_get_u32(p))
		return -6;
	return 0;
}

void ls_segment_scan(struct ls_segment *seg, uint64_t from, uint64_t prev_seq,
		     int64_t prev_time, bool build_index, struct ls_scan *st);
int ls_segment_seal(logstore_log *log, struct ls_segment *seg, uint32_t flags);
int ls_segment_reopen(logstore_log *log, struct ls_segment *seg);
int ls_segment_clear_seal(struct ls_segment *seg);
uint32_t ls_segment_file_salt(const logstore_log *log,
			      const struct ls_segment *seg);
void ls_segment_index_add(struct ls_segment *seg, uint64_t off, uint64_t seq,
			  int64_t time);
void ls_segment_index_seek(struct ls_segment *seg, bool by_time, int64_t time,
			   uint64_t seq, uint64_t prefetch_bytes,
			   uint64_t *off, uint64_t *start_seq);

#define LS_CACHE_LINE_BYTES 64u

/*
 * Ask the CPU for the lines of seg's mapping that hold [from, to).
 * Prefetches never fault; callers keep to below the committed end.
 */
static inline void ls_segment_prefetch(const struct ls_segment *seg,
				       uint64_t from, uint64_t to)
{
	for (uint64_t line = from & ~(uint64_t)(LS_CACHE_LINE_BYTES - 1);
	     line < to; line += LS_CACHE_LINE_BYTES)
		__builtin_prefetch(seg->map + line);
}
bool ls_segment_corrupt_before_tail(const struct ls_segment *seg,
				    const struct ls_scan *st);
uint64_t ls_segment_nonzero_tail(const struct ls_segment *seg, uint64_t from);
uint64_t ls_segment_nonzero_tail_until(const struct ls_segment *seg,
				       uint64_t from, uint64_t until);

/* log.c */
int ls_log_refresh(logstore_log *log);
int ls_log_segs_insert(logstore_log *log, struct ls_segment *seg);
struct ls_segment *ls_log_segs_take(logstore_log *log, size_t i);
int ls_log_sync_segments(logstore_log *log);
/*
 * The segments in log's directory, sorted, each as "name\0file\0" (file
 * empty unless the segment is still in its prepared file: read-only
 * handles only). A writer handle (or repair, holding LOCK) also deletes
 * leftover temporary files and adopts activated prepared files, as
 * format.h "Recovery" says. Needs log->dir, dir_fd and read_only. Free
 * with ls_log_free_names().
 */
int ls_log_list_names(logstore_log *log, char ***out, size_t *count);
void ls_log_free_names(char **names, size_t n);
void ls_shm_publish(logstore_log *log, const struct ls_segment *seg);
int64_t ls_log_now(const logstore_log *log);
int64_t ls_monotonic_ns(void);
struct timespec ls_deadline_after(int64_t ns);
int ls_log_read_only_error(const logstore_log *log);
bool ls_log_writer_live(const logstore_log *log);

/* writer.c */
int ls_writer_init(logstore_log *log);
void ls_writer_fini(logstore_log *log);
int ls_writer_flush_all(logstore_log *log);
int ls_writer_start(logstore_log *log);
void ls_writer_stop(logstore_log *log);
void ls_writer_fail(logstore_log *log, int rc);
void ls_writer_durable_uring(logstore_log *log, bool on);

/* prepare.c */
int ls_prepare_start(logstore_log *log);
void ls_prepare_stop(logstore_log *log);
void ls_prepare_want(logstore_log *log);
int ls_prepare_take(logstore_log *log, struct ls_segment **out);
void ls_prepare_seal_later(logstore_log *log, struct ls_segment *seg);
void ls_prepare_wait_idle(logstore_log *log);
void ls_prepare_pace(logstore_log *log);

/*
 * Errors that say the machine lacks room (disk, quota, descriptors,
 * memory) or that an operation was called off, not that written data may
 * be lost: they fail one operation, never the log.
 */
static inline bool ls_resource_error(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT || rc == -EMFILE ||
	       rc == -ENFILE || rc == -ENOMEM || rc == -ECANCELED;
}

/* stats.c */
void ls_histogram_record(struct logstore_histogram *h, uint64_t v);
int ls_stats_failed(logstore_log *log, int rc);
void ls_stats_publish(logstore_log *log);
void ls_readers_wake(logstore_log *log);

/* retention.c */
void ls_compactor_fini(logstore_log *log);

#endif
