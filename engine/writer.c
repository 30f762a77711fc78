/* SPDX-License-Identifier: MIT */
/*
 * The write path: appends, group commit through io_uring, rollover, sync.
 *
 * Appenders take log->mu, get their sequence numbers and times, and copy
 * their records into the fill batch: one contiguous buffer for one
 * contiguous range of the active segment. Then they wait. Whoever finds
 * no leader at work becomes the leader: it swaps the fill batch for the
 * spare one, drops the lock, writes the batch with one io_uring write
 * (with an fdatasync linked after it when any entry in it is durable, or
 * a sync was asked for), retakes the lock, publishes the new committed
 * end to readers, and wakes everyone. Meanwhile the others fill the next
 * batch, so one fdatasync covers every entry that arrived while the
 * previous one ran (group commit). A batch with no durable entry in it
 * is written with a plain pwrite instead (see page_cache_write()).
 *
 * A short write is completed before the fsync that covers it: the linked
 * fsync of a short write is cancelled by the kernel, and the rest is
 * written again with a new linked fsync. A write or fsync error makes
 * the log failed (fail-stop): nothing is retried and reported durable,
 * every later append returns LOGSTORE_EFAILED, readers keep reading what
 * was committed before.
 *
 * Rollover: the appender whose entry does not fit (or is past the
 * duration limit) waits until no leader is at work, flushes and syncs the
 * fill batch, seals the old segment (index, seal, fdatasync) and creates
 * the next one (zero-filled, durable, renamed), all while appenders wait.
 * A failure to create the next segment (ENOSPC) is returned to that
 * appender without failing the log: the old segment is sealed, and the
 * next append tries again.
 */
#include "crc32c.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ls_writer_init(logstore_log *log)
{
	int rc = io_uring_queue_init(LS_RING_ENTRIES, &log->ring, 0);
	if (rc < 0)
		return ls_error(rc, "io_uring_queue_init: %s", strerror(-rc));
	log->ring_ready = true;
	for (int i = 0; i < 2; i++) {
		log->batches[i].buf =
		    aligned_alloc(LS_PAGE_BYTES, log->opts.batch_bytes_max);
		if (!log->batches[i].buf)
			return ls_error(-ENOMEM, "out of memory");
	}
	log->fill = &log->batches[0];
	log->spare = &log->batches[1];
	log->fill->seg = log->active;
	log->fill->start_off =
	    log->active ? atomic_load(&log->active->end) : LS_HEADER_BYTES;
	return 0;
}

void ls_writer_fini(logstore_log *log)
{
	if (log->ring_ready)
		io_uring_queue_exit(&log->ring);
	log->ring_ready = false;
	for (int i = 0; i < 2; i++)
		free(log->batches[i].buf);
	free(log->zero_buf);
	log->zero_buf = NULL;
}

/* ---- io_uring ---- */

/* Submit n prepared SQEs and reap n completions. */
static int ring_run(logstore_log *log, unsigned n, int *write_res,
		    int *fsync_res)
{
	int rc = ls_sys_uring_submit_and_wait(&log->ring, n);
	if (rc < 0)
		return rc;
	if ((unsigned)rc != n)
		return -EIO;
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_cqe *cqe;
		do
			rc = io_uring_wait_cqe(&log->ring, &cqe);
		while (rc == -EINTR);
		if (rc < 0)
			return rc;
		if (cqe->user_data == 1)
			*write_res = cqe->res;
		else
			*fsync_res = cqe->res;
		io_uring_cqe_seen(&log->ring, cqe);
	}
	return 0;
}

static void prep_fsync(logstore_log *log, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&log->ring);
	LOGSTORE_ASSERT(sqe != NULL);
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	sqe->user_data = 2;
}

/*
 * fdatasync alone, through the ring. -EINTR/-EAGAIN mean the fsync was
 * not done (interrupted, or io-wq could not take it), not that write-back
 * failed, so it is made again; any other error is final (STYLE.md 5).
 */
static int ring_fsync(logstore_log *log, int fd)
{
	for (int attempt = 0; attempt < LS_SYS_RETRY_MAX; attempt++) {
		int wres = 0, fres = 0;
		prep_fsync(log, fd);
		int rc = ring_run(log, 1, &wres, &fres);
		atomic_fetch_add_explicit(&log->st_fsyncs, 1,
					  memory_order_relaxed);
		rc = rc ? rc : ls_fault_result(LS_SYS_URING_FSYNC, fd, fres);
		if (rc != -EINTR && rc != -EAGAIN)
			return rc;
	}
	return -EINTR;
}

/*
 * Write buf at off as one write, with an fdatasync linked after it when
 * sync; complete short writes before the fsync that covers them.
 */
static int ring_write(logstore_log *log, int fd, const uint8_t *buf,
		      uint32_t len, uint64_t off, bool sync)
{
	uint32_t done = 0;
	atomic_fetch_add_explicit(&log->st_batches, 1, memory_order_relaxed);
	ls_fault_note_write(fd, buf, len, off);
	for (int attempt = 0; attempt < LS_SHORT_WRITE_RETRY_MAX; attempt++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&log->ring);
		LOGSTORE_ASSERT(sqe != NULL);
		io_uring_prep_write(sqe, fd, buf + done, len - done,
				    off + done);
		sqe->user_data = 1;
		if (sync) {
			sqe->flags |= IOSQE_IO_LINK;
			prep_fsync(log, fd);
		}
		int wres = 0, fres = 0;
		int rc = ring_run(log, sync ? 2 : 1, &wres, &fres);
		if (rc)
			return rc;
		wres = ls_fault_result(LS_SYS_URING_WRITE, fd, wres);
		if (wres == -EINTR || wres == -EAGAIN)
			continue; /* nothing written: write it again */
		if (wres < 0)
			return wres;
		if (wres == 0)
			return -EIO; /* no progress: the device refuses */
		done += (uint32_t)wres;
		if (done < len)
			continue; /* the linked fsync was cancelled */
		if (!sync)
			return 0;
		atomic_fetch_add_explicit(&log->st_fsyncs, 1,
					  memory_order_relaxed);
		fres = ls_fault_result(LS_SYS_URING_FSYNC, fd, fres);
		if (fres == -EINTR || fres == -EAGAIN)
			return ring_fsync(log, fd); /* not done: again */
		return fres;
	}
	return -EIO;
}

/*
 * A batch no one waits to be durable only has to reach the page cache.
 * A plain pwrite does that in the caller's thread: ext4 hands buffered
 * io_uring writes to a kernel worker (MEASURED.md), which costs a
 * wake-up per batch (15-28 us measured here) for nothing.
 */
static int page_cache_write(logstore_log *log, int fd, const struct ls_batch *b)
{
	atomic_fetch_add_explicit(&log->st_batches, 1, memory_order_relaxed);
	return ls_sys_pwrite_all(fd, b->buf, b->len, b->start_off);
}

/* ---- group commit ---- */

/* The error every write call returns once the log has failed. mu held. */
static int failed_error(const logstore_log *log)
{
	return ls_error(LOGSTORE_EFAILED, "%s: log failed: %s", log->dir,
			logstore_strerror(log->failed));
}

static void log_fail(logstore_log *log, int rc)
{
	if (!log->failed)
		log->failed = rc;
	failed_error(log);
}

/* The leader's batch is on disk (and synced if sync): publish it. */
static void commit_batch(logstore_log *log, const struct ls_batch *b, bool sync)
{
	if (b->len) {
		struct ls_segment *seg = b->seg;
		pthread_mutex_lock(&log->segs_mu);
		seg->last_seq = b->last_seq;
		seg->last_time = b->last_time;
		seg->entry_count += b->entries;
		atomic_store_explicit(&seg->end, b->start_off + b->len,
				      memory_order_release);
		ls_shm_publish(log, seg);
		pthread_mutex_unlock(&log->segs_mu);
		log->written_seq = b->last_seq;
	}
	if (sync)
		log->durable_seq = log->written_seq;
}

/*
 * Write the fill batch as the leader. Called with mu held and no leader
 * at work; returns with mu held, having woken every waiter.
 */
static void lead(logstore_log *log)
{
	struct ls_batch *b = log->fill;
	bool sync = b->need_sync || log->sync_requested;
	if (b->len == 0 && (!sync || log->durable_seq == log->written_seq)) {
		b->need_sync = false;
		log->sync_requested = false;
		return;
	}
	struct ls_batch *next = log->spare;
	LOGSTORE_ASSERT(next != NULL && !log->leader_busy);
	log->leader_busy = true;
	log->sync_requested = false;
	next->len = 0;
	next->entries = 0;
	next->need_sync = false;
	next->seg = b->seg;
	next->start_off = b->start_off + b->len;
	log->fill = next;
	log->spare = NULL;
	struct ls_segment *seg = b->seg ? b->seg : log->active;
	pthread_mutex_unlock(&log->mu);

	int64_t started_ns = ls_monotonic_ns();
	int rc = 0;
	if (b->len && sync)
		rc = ring_write(log, seg->fd, b->buf, b->len, b->start_off,
				true);
	else if (b->len)
		rc = page_cache_write(log, seg->fd, b);
	else if (seg)
		rc = ring_fsync(log, seg->fd);

	pthread_mutex_lock(&log->mu);
	if (rc) {
		log_fail(log, rc);
	} else {
		commit_batch(log, b, sync);
		if (b->len) {
			ls_histogram_record(
			    &log->commit_latency_ns,
			    (uint64_t)(ls_monotonic_ns() - started_ns));
			ls_histogram_record(&log->batch_entries, b->entries);
			ls_readers_wake(log);
		}
	}
	b->len = 0;
	b->entries = 0;
	b->need_sync = false;
	log->spare = b;
	log->leader_busy = false;
	pthread_cond_broadcast(&log->cond);
}

/* Wait, leading when nobody else does, until seq is written or durable. */
static int wait_for(logstore_log *log, uint64_t seq, bool durable)
{
	for (;;) {
		uint64_t have = durable ? log->durable_seq : log->written_seq;
		if (have >= seq)
			return 0;
		if (log->failed)
			return failed_error(log);
		if (!log->leader_busy && !log->rolling) {
			if (durable)
				log->fill->need_sync = true;
			lead(log);
			continue;
		}
		pthread_cond_wait(&log->cond, &log->mu);
	}
}

/* ---- rollover ---- */

/* Old segment is sealed on disk; seg (or NULL) is the new active one. */
static void switch_segment(logstore_log *log, struct ls_segment *old,
			   struct ls_segment *seg)
{
	pthread_mutex_lock(&log->segs_mu);
	int rc = seg ? ls_log_segs_insert(log, seg) : 0;
	if (rc) {
		ls_segment_unref(seg);
		seg = NULL;
	}
	if (old) {
		close(old->fd);
		old->fd = -1;
		free(old->index); /* the sealed index on disk takes over */
		old->index = NULL;
		atomic_store(&old->sealed, true);
	}
	log->active = seg;
	ls_shm_publish(log, seg);
	pthread_mutex_unlock(&log->segs_mu);
	log->fill->seg = seg;
	log->fill->start_off = LS_HEADER_BYTES;
	if (seg)
		atomic_fetch_add_explicit(&log->st_segments_created, 1,
					  memory_order_relaxed);
}

/*
 * Start segment first_seq for an entry at first_time. Called with mu
 * held and no leader at work; returns with mu held.
 */
static int roll(logstore_log *log, uint64_t first_seq, int64_t first_time)
{
	log->rolling = true;
	log->fill->need_sync = true;
	lead(log);
	if (log->failed) {
		log->rolling = false;
		pthread_cond_broadcast(&log->cond);
		return failed_error(log);
	}
	LOGSTORE_ASSERT(log->fill->len == 0);
	log->leader_busy = true;
	struct ls_segment *old = log->active;
	pthread_mutex_unlock(&log->mu);

	int seal_rc = old ? ls_segment_seal(log, old, 0) : 0;
	struct ls_segment *seg = NULL;
	int create_rc =
	    seal_rc ? 0 : ls_segment_create(log, first_seq, first_time, &seg);

	pthread_mutex_lock(&log->mu);
	if (seal_rc)
		log_fail(log, seal_rc);
	else
		switch_segment(log, old, seg);
	log->leader_busy = false;
	log->rolling = false;
	pthread_cond_broadcast(&log->cond);
	return seal_rc ? failed_error(log) : create_rc;
}

/* ---- append ---- */

static void encode_record(uint8_t *p, const struct logstore_batch_entry *e,
			  uint64_t seq, int64_t time, uint32_t salt, bool more)
{
	uint32_t len = (uint32_t)e->len;
	uint64_t bytes = ls_record_bytes(len);
	ls_put_u32(p + 4, len | (more ? LS_RECORD_BATCH_MORE : 0));
	ls_put_u64(p + 8, seq);
	ls_put_u64(p + 16, (uint64_t)time);
	ls_put_u32(p + 24, salt);
	ls_put_u32(p + 28, 0);
	if (len)
		memcpy(p + LS_RECORD_HEADER_BYTES, e->data, len);
	memset(p + LS_RECORD_HEADER_BYTES + len, 0,
	       bytes - LS_RECORD_HEADER_BYTES - len);
	ls_put_u32(p, ls_crc32c(0, p + 4, LS_RECORD_HEADER_BYTES - 4 + len));
}

/* Time of entry e after prev: forced, or the clock bumped past prev. */
static int64_t entry_time(const struct logstore_batch_entry *e, int64_t now,
			  int64_t prev)
{
	if (e->time_ns > 0)
		return e->time_ns;
	return now > prev ? now : prev + 1;
}

/* Check the forced times; report the first and last time of the batch. */
static int batch_times(const logstore_log *log,
		       const struct logstore_batch_entry *e, size_t n,
		       int64_t now, int64_t *first, int64_t *last)
{
	int64_t prev = log->last_time;
	for (size_t i = 0; i < n; i++) {
		int64_t t = entry_time(&e[i], now, prev);
		if (t <= prev)
			return ls_error(LOGSTORE_ETIME,
					"time %" PRId64
					" is not later than the last entry's "
					"time %" PRId64,
					t, prev);
		if (i == 0)
			*first = t;
		prev = t;
	}
	*last = prev;
	return 0;
}

/* Copy the entries into the fill batch; assign seqs and times. mu held. */
static void fill_batch(logstore_log *log, struct logstore_batch_entry *e,
		       size_t n, int64_t now)
{
	struct ls_batch *b = log->fill;
	struct ls_segment *seg = log->active;
	int64_t prev = log->last_time;
	for (size_t i = 0; i < n; i++) {
		int64_t t = entry_time(&e[i], now, prev);
		uint64_t seq = log->next_seq++;
		uint64_t off = b->start_off + b->len;
		encode_record(b->buf + b->len, &e[i], seq, t, seg->salt,
			      i + 1 < n);
		ls_segment_index_add(seg, off, seq, t);
		b->len += (uint32_t)ls_record_bytes(e[i].len);
		e[i].seq = seq;
		e[i].time_ns = t;
		prev = t;
	}
	b->last_seq = log->next_seq - 1;
	b->last_time = prev;
	b->entries += (uint32_t)n;
	log->last_time = prev;
	atomic_fetch_add_explicit(&log->st_entries, n, memory_order_relaxed);
}

static bool needs_roll(const logstore_log *log, uint64_t bytes,
		       int64_t first_time)
{
	const struct ls_segment *seg = log->active;
	if (!seg)
		return true;
	uint64_t tail = log->fill->start_off + log->fill->len;
	if (tail + bytes > seg->index_offset)
		return true;
	return tail > LS_HEADER_BYTES &&
	       first_time - seg->first_time > log->opts.segment_duration_ns;
}

/*
 * Put the entries into the fill batch, rolling over first if needed.
 * mu held. Returns 0 with the entries placed, or an error with nothing
 * placed.
 */
static int reserve(logstore_log *log, struct logstore_batch_entry *e, size_t n,
		   uint64_t bytes)
{
	/*
	 * After a rollover the clock is not read again: the new segment's
	 * header already holds the first entry's time. mu is held from the
	 * rollover's end to here, so nobody appended in between.
	 */
	bool rolled = false;
	int64_t now = 0;
	for (;;) {
		if (log->failed)
			return failed_error(log);
		if (log->rolling) {
			/* The fill batch is about to move to a new segment. */
			pthread_cond_wait(&log->cond, &log->mu);
			continue;
		}
		bool busy = log->leader_busy;
		if (log->fill->len + bytes > log->opts.batch_bytes_max) {
			if (busy)
				pthread_cond_wait(&log->cond, &log->mu);
			else
				lead(log);
			continue;
		}
		if (!rolled)
			now = ls_log_now(log);
		rolled = false;
		int64_t first = 0, last = 0;
		int rc = batch_times(log, e, n, now, &first, &last);
		if (rc)
			return rc;
		if (!needs_roll(log, bytes, first)) {
			fill_batch(log, e, n, now);
			return 0;
		}
		if (busy) {
			pthread_cond_wait(&log->cond, &log->mu);
			continue;
		}
		rc = roll(log, log->next_seq, first);
		if (rc)
			return rc;
		rolled = true;
	}
}

/* Validate sizes; returns the bytes of records, or an error. */
static int64_t batch_bytes(const logstore_log *log,
			   const struct logstore_batch_entry *e, size_t n)
{
	uint64_t data_max =
	    ls_index_offset(log->opts.segment_bytes_max) - LS_HEADER_BYTES;
	uint64_t limit = log->opts.batch_bytes_max < data_max
			     ? log->opts.batch_bytes_max
			     : data_max;
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if (!e[i].data && e[i].len)
			return ls_error(-EINVAL, "entry %zu has no data", i);
		if (e[i].time_ns < 0)
			return ls_error(-EINVAL, "forced time must be > 0");
		if (e[i].len > LS_RECORD_LENGTH_MASK ||
		    (bytes += ls_record_bytes(e[i].len)) > limit)
			return ls_error(LOGSTORE_ETOOBIG,
					"%zu entries of %" PRIu64
					" bytes or more exceed the limit of "
					"%" PRIu64 " bytes (batch_bytes_max "
					"%u, segment data %" PRIu64 ")",
					n, bytes, limit,
					log->opts.batch_bytes_max, data_max);
	}
	return (int64_t)bytes;
}

static int append_entries(logstore_log *log, struct logstore_batch_entry *e,
			  size_t n, int durability)
{
	if (!log || !e || n == 0 || n > LOGSTORE_BATCH_ENTRIES_MAX)
		return ls_error(-EINVAL, "bad arguments");
	if (log->read_only)
		return ls_log_read_only_error(log);
	if (durability == LOGSTORE_DURABILITY_DEFAULT)
		durability = log->opts.durability;
	if (durability != LOGSTORE_DURABLE && durability != LOGSTORE_BUFFERED)
		return ls_error(-EINVAL, "durability %d", durability);
	int64_t bytes = batch_bytes(log, e, n);
	if (bytes < 0)
		return (int)bytes;
	pthread_mutex_lock(&log->mu);
	int rc = reserve(log, e, n, (uint64_t)bytes);
	if (!rc) {
		if (durability == LOGSTORE_DURABLE)
			log->fill->need_sync = true;
		rc =
		    wait_for(log, e[n - 1].seq, durability == LOGSTORE_DURABLE);
	}
	pthread_mutex_unlock(&log->mu);
	if (!rc) {
		uint64_t payload = 0;
		for (size_t i = 0; i < n; i++)
			payload += e[i].len;
		atomic_fetch_add_explicit(&log->st_bytes, payload,
					  memory_order_relaxed);
	}
	return rc;
}

/* append_entries(), counting a failure in the log's figures. */
static int append_counted(logstore_log *log, struct logstore_batch_entry *e,
			  size_t n, int durability)
{
	int rc = append_entries(log, e, n, durability);
	return log ? ls_stats_failed(log, rc) : rc;
}

int logstore_log_append(logstore_log *log, const void *data, size_t len,
			int durability, uint64_t *seq, int64_t *time_ns)
{
	struct logstore_batch_entry e = {.data = data, .len = len};
	int rc = append_counted(log, &e, 1, durability);
	if (!rc && seq)
		*seq = e.seq;
	if (!rc && time_ns)
		*time_ns = e.time_ns;
	return rc;
}

int logstore_log_append_at(logstore_log *log, int64_t time_ns, const void *data,
			   size_t len, int durability, uint64_t *seq)
{
	if (time_ns <= 0) {
		int rc = ls_error(-EINVAL, "forced time must be > 0");
		return log ? ls_stats_failed(log, rc) : rc;
	}
	struct logstore_batch_entry e = {
	    .data = data, .len = len, .time_ns = time_ns};
	int rc = append_counted(log, &e, 1, durability);
	if (!rc && seq)
		*seq = e.seq;
	return rc;
}

int logstore_log_append_batch(logstore_log *log,
			      struct logstore_batch_entry *entries,
			      size_t count, int durability)
{
	return append_counted(log, entries, count, durability);
}

int logstore_log_sync(logstore_log *log)
{
	if (!log)
		return ls_error(-EINVAL, "log is required");
	if (log->read_only)
		return ls_log_read_only_error(log);
	pthread_mutex_lock(&log->mu);
	log->sync_requested = true;
	int rc = wait_for(log, log->next_seq - 1, true);
	log->sync_requested = false;
	pthread_mutex_unlock(&log->mu);
	return ls_stats_failed(log, rc);
}

/*
 * At close: make everything durable, then seal the active segment as
 * reopenable, so the next open need not scan it.
 */
int ls_writer_flush_all(logstore_log *log)
{
	int rc = logstore_log_sync(log);
	if (!rc && log->active && log->active->fd >= 0)
		rc = ls_segment_seal(log, log->active, LS_SEAL_REOPENABLE);
	return rc;
}
