/* SPDX-License-Identifier: MIT */
/*
 * The write path: appends, claims, pipelined group commit through
 * io_uring, rollover, sync.
 *
 * Appenders take log->mu, get their sequence numbers and times, and copy
 * their records into the fill batch: one contiguous buffer for one
 * contiguous range of the active segment. A thread that needs its entry
 * written (a durable or buffered append, a sync, a claim commit) leads a
 * batch when it may: it takes the fill batch, installs a free one as the
 * next fill, drops the lock, checksums the batch's records
 * (seal_batch()) and writes. Asynchronous appends
 * (LOGSTORE_ASYNC, and LOGSTORE_DEFERRED, which needs no fsync) return at
 * once; flusher threads lead their batches.
 *
 * Pipelining. Up to pipeline_depth batches are in flight. Only one leader
 * writes at a time (log->writing), and a leader starts its write only
 * after the previous batch's write completed, so batches reach the page
 * cache in file order, exactly as without pipelining. A durable batch is
 * one io_uring write with its fdatasync linked after it (IOSQE_IO_LINK;
 * the kernel starts the fsync only once the write completed, and cancels
 * it when the write is short). The leader waits for the write's
 * completion, lets the next leader write, and then waits for its fsync:
 * the next batch's write overlaps this batch's device flush. A durable
 * batch led by a synchronous appender (no asynchronous entry in it) is
 * written the same way but with pwrite and fdatasync in the leader's own
 * thread: ext4 hands buffered io_uring writes to a kernel worker, so the
 * io_uring path costs a worker wake-up and two wake-ups of the leader per
 * commit (the fsync runs on the worker too). Interleaved in one process
 * on this 2-vCPU VM, 16 threads x 100 B: 2.95x and 3.39x the locked
 * pwrite+fdatasync baseline, against 2.84x and 2.94x through io_uring;
 * one thread: the same within the noise. Asynchronous batches (the
 * flushers) keep io_uring.
 *
 * Gathering. When a durable batch is published, its callers wake and
 * most append again at once; but on 2 vCPUs they come back one at a
 * time, and a leader that wrote the fill as soon as it could took only
 * the first few: the threads split into as many groups as there are
 * batches (16 threads, depth 2: 5.3 entries per fsync). So the next
 * durable leader waits (gather()) until as many callers are in the fill
 * as were woken (plus those already there), or for half the recent
 * commit latency, whichever comes first; and it does not start a flush
 * while a batch with durable callers is in flight, whose callers it will
 * take too (callers_in_flight()). Only one caller of a fill batch
 * waits to lead it; the others sleep on its futex word until it is
 * durable (fill_waiter()). Gathering, 16 threads x 100 B, same runs:
 * 11-15.5 entries per fsync and 0.45-0.68 of 16 / (one commit's p50),
 * against 5.1-5.3 and 0.21-0.36 before. The append that completes the
 * gathering leads the batch itself instead of waking the caller that
 * gathers (gather_complete()). The leader wakes a durable batch's
 * sleepers after dropping mu (publish_then_wake()): woken under mu, they
 * queued on it for their next append. bench/commit_model (a modelled
 * device): 0.72-0.78 of 16 / flush, against 0.58-0.65.
 *
 * Batches are published in write order only (log->flight is a FIFO): a
 * batch becomes visible to readers once it and every earlier batch are
 * complete (written, and synced when durable), so a later batch's
 * completion never publishes an earlier incomplete one, and an fsync
 * error reported to an earlier batch fails the log before any later
 * batch is acknowledged.
 * durable_seq moves to a published durable batch's last seq: its fsync
 * was issued after every earlier write completed, so it covers them.
 *
 * A batch with no durable entry in it goes to the page cache with a plain
 * pwrite (see page_cache_write()).
 *
 * io_uring: each batch owns a small ring, so a leader never shares a ring
 * with another. IORING_SETUP_COOP_TASKRUN is set when the kernel accepts
 * it; with and without it measured the same here (-DLS_URING_SETUP_FLAGS=0
 * turns it off). Tried and not kept:
 *  - registered buffers (write_fixed): no difference measured in the
 *    asynchronous and durable benchmarks (the device flush dominates), and
 *    registering costs ~0.35 ms per batch at open and pins memory against
 *    RLIMIT_MEMLOCK; -DLS_URING_FIXED_BUFFERS=1 turns them on;
 *  - IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN: not applicable, since a
 *    batch's ring is used by whichever thread leads it (the kernel would
 *    refuse the second thread's submissions with -EEXIST);
 *  - registered files: the fd changes at every rollover, and one write per
 *    batch makes the fd lookup negligible.
 *
 * Failure: a short write is completed before a new linked fsync; a write
 * or fsync error makes the log failed (fail-stop): nothing is retried and
 * reported durable, every later append returns LOGSTORE_EFAILED, readers
 * keep reading what was published before.
 *
 * Rollover: the appender whose entry does not fit (or is past the
 * duration limit) waits until nothing is in flight, writes and syncs the
 * fill batch, and switches to the segment the preparation thread keeps
 * ready (prepare.c): it writes the header, with no device flush and no
 * zero-filling; the segment's first sync makes the header durable and
 * then renames the file (format.h "Recovery" adopts it if not);
 * the old segment's index and seal are written later by that thread. A
 * failure to get the next segment (ENOSPC) is returned to that appender
 * without failing the log; the next append tries again.
 *
 * Sections: io_uring; publication; leading; flushers; rollover; append;
 * claims; sync and waits.
 */
#include "crc32c.h"
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { LS_UD_WRITE = 1, LS_UD_FSYNC = 2 };

/*
 * Build-time switches for the io_uring experiments of the module comment
 * (bench with -DLS_URING_FIXED_BUFFERS=1 or -DLS_URING_SETUP_FLAGS=0).
 */
#ifndef LS_URING_FIXED_BUFFERS
#define LS_URING_FIXED_BUFFERS 0
#endif
#ifndef LS_URING_SETUP_FLAGS
#define LS_URING_SETUP_FLAGS IORING_SETUP_COOP_TASKRUN
#endif

/* ---- io_uring ---- */

static int batch_ring_init(struct ls_batch *b, uint32_t bytes)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = LS_URING_SETUP_FLAGS;
	int rc = io_uring_queue_init_params(LS_RING_ENTRIES, &b->ring, &p);
	if (rc == -EINVAL) /* a kernel before 5.19 */
		rc = io_uring_queue_init(LS_RING_ENTRIES, &b->ring, 0);
	if (rc < 0)
		return ls_error(rc, "io_uring_queue_init: %s", strerror(-rc));
	b->ring_ready = true;
	struct iovec iov = {.iov_base = b->buf, .iov_len = bytes};
	b->buf_registered = LS_URING_FIXED_BUFFERS &&
			    io_uring_register_buffers(&b->ring, &iov, 1) == 0;
	return 0;
}

int ls_writer_init(logstore_log *log)
{
	log->nbatches = log->opts.pipeline_depth + 1;
	for (unsigned i = 0; i < log->nbatches; i++) {
		struct ls_batch *b = &log->batches[i];
		b->buf =
		    aligned_alloc(LS_PAGE_BYTES, log->opts.batch_bytes_max);
		if (!b->buf)
			return ls_error(-ENOMEM, "out of memory");
		int rc = batch_ring_init(b, log->opts.batch_bytes_max);
		if (rc)
			return rc;
	}
	log->fill = &log->batches[0];
	log->fill->state = LS_BATCH_FILL;
	log->fill->seg = log->active;
	log->fill->start_off =
	    log->active ? atomic_load(&log->active->end) : LS_HEADER_BYTES;
	return 0;
}

void ls_writer_fini(logstore_log *log)
{
	for (unsigned i = 0; i < LS_BATCHES_MAX; i++) {
		struct ls_batch *b = &log->batches[i];
		if (b->ring_ready)
			io_uring_queue_exit(&b->ring);
		b->ring_ready = false;
		free(b->buf);
		b->buf = NULL;
	}
	free(log->zero_buf);
	log->zero_buf = NULL;
}

/* Wait for one completion of b's ring; record an fsync's result. */
static int reap_one(struct ls_batch *b, int *write_res)
{
	struct io_uring_cqe *cqe;
	int rc;
	do
		rc = io_uring_wait_cqe(&b->ring, &cqe);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	if (cqe->user_data == LS_UD_WRITE) {
		*write_res = cqe->res;
	} else {
		b->fsync_res = cqe->res;
		b->fsync_reaped = true;
	}
	io_uring_cqe_seen(&b->ring, cqe);
	return cqe->user_data == LS_UD_WRITE ? 1 : 0;
}

static void prep_fsync(struct ls_batch *b, int fd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	LOGSTORE_ASSERT(sqe != NULL);
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	sqe->user_data = LS_UD_FSYNC;
	b->fsync_reaped = false;
	b->fsync_fd = fd;
	/* The power-loss recorder: this fsync covers writes noted so far. */
	b->fsync_mark = ls_fault_fsync_mark();
}

static int submit(struct ls_batch *b, unsigned n)
{
	int rc = ls_sys_uring_submit_and_wait(&b->ring, 0);
	if (rc < 0)
		return rc;
	return (unsigned)rc == n ? 0 : -EIO;
}

/* Submit one write of [done, len) of b, with an fsync linked after it. */
static int submit_write(struct ls_batch *b, int fd, uint32_t done)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
	LOGSTORE_ASSERT(sqe != NULL);
	if (b->buf_registered)
		io_uring_prep_write_fixed(sqe, fd, b->buf + done, b->len - done,
					  b->start_off + done, 0);
	else
		io_uring_prep_write(sqe, fd, b->buf + done, b->len - done,
				    b->start_off + done);
	sqe->user_data = LS_UD_WRITE;
	sqe->flags |= IOSQE_IO_LINK;
	prep_fsync(b, fd);
	return submit(b, 2);
}

/*
 * The write phase of a durable batch: write it whole with an fsync linked
 * after the last write, and return once the write completed; the fsync
 * is then still running (ring_wait_fsync()). A short write cancels its
 * linked fsync, which is reaped before the rest is written again.
 */
static int ring_write(logstore_log *log, struct ls_batch *b, int fd)
{
	uint32_t done = 0;
	ls_fault_note_write(fd, b->buf, b->len, b->start_off);
	for (int attempt = 0; attempt < LS_SHORT_WRITE_RETRY_MAX; attempt++) {
		int rc = submit_write(b, fd, done);
		int wres = 0;
		while (!rc && (rc = reap_one(b, &wres)) == 0)
			; /* an fsync completed first: only if cancelled */
		if (rc < 0)
			return rc;
		wres = ls_fault_result(LS_SYS_URING_WRITE, fd, wres);
		if (wres > 0 && done + (uint32_t)wres >= b->len)
			return 0; /* the linked fsync runs on */
		/* The linked fsync is cancelled: reap it before going on. */
		while (!b->fsync_reaped && (rc = reap_one(b, &wres)) >= 0)
			;
		if (rc < 0)
			return rc;
		if (wres == -EINTR || wres == -EAGAIN)
			continue; /* nothing written: write it again */
		if (wres < 0)
			return wres;
		if (wres == 0)
			return -EIO; /* no progress: the device refuses */
		done += (uint32_t)wres;
	}
	return -EIO;
}

/*
 * Wait for the batch's fsync (submitted by ring_write or alone).
 * -EINTR/-EAGAIN mean the fsync was not done (interrupted, or io-wq could
 * not take it), not that write-back failed, so it is made again; any
 * other error is final (STYLE.md 5).
 */
static int ring_wait_fsync(logstore_log *log, struct ls_batch *b)
{
	for (int attempt = 0; attempt < LS_SYS_RETRY_MAX; attempt++) {
		int wres = 0, rc = 0;
		while (!b->fsync_reaped && (rc = reap_one(b, &wres)) >= 0)
			;
		atomic_fetch_add_explicit(&log->st_fsyncs, 1,
					  memory_order_relaxed);
		if (rc < 0)
			return rc;
		rc = ls_fault_result_fsync(b->fsync_fd, b->fsync_res,
					   b->fsync_mark);
		if (rc != -EINTR && rc != -EAGAIN)
			return rc;
		prep_fsync(b, b->fsync_fd);
		if ((rc = submit(b, 1)) != 0)
			return rc;
	}
	return -EINTR;
}

/*
 * A batch no one waits to be durable only has to reach the page cache.
 * A plain pwrite does that in the caller's thread: ext4 hands buffered
 * io_uring writes to a kernel worker (MEASURED.md), which costs a
 * wake-up per batch (15-28 us measured here) for nothing.
 */
static int page_cache_write(logstore_log *log, int fd, const struct ls_batch *b)
{
	(void)log;
	return ls_sys_pwrite_all(fd, b->buf, b->len, b->start_off);
}

/*
 * The sync phase of a durable batch written with pwrite (lead()): an
 * fdatasync in the leader's thread. It covers this batch's write, which
 * completed before it; the recorder's mark says so for a later batch's
 * write that lands meanwhile.
 */
static int direct_fsync(logstore_log *log, int fd)
{
	int rc = ls_sys_fdatasync_marked(fd, ls_fault_fsync_mark());
	atomic_fetch_add_explicit(&log->st_fsyncs, 1, memory_order_relaxed);
	return rc;
}

/* Tests: durable batches through io_uring, as asynchronous ones. */
void ls_writer_durable_uring(logstore_log *log, bool on)
{
	pthread_mutex_lock(&log->mu);
	log->durable_uring = on;
	pthread_mutex_unlock(&log->mu);
}

/* ---- publication ---- */

/* Wake every appender sleeping on batch b's futex word. */
static void batch_futex_wake(struct ls_batch *b)
{
	syscall(SYS_futex, &b->done_word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
		NULL, 0);
}

/*
 * Batch b was published durable, or the log failed: move its futex word.
 * Returns whether durable appenders sleep on it outside mu
 * (wait_durable()), which the caller then wakes with one FUTEX_WAKE.
 * A sleeper that comes after this sees durable_seq or the moved word
 * (sleep_durable()) and does not sleep. mu held.
 */
static bool batch_done(struct ls_batch *b)
{
	atomic_fetch_add(&b->done_word, 1);
	return atomic_load(&b->sleepers) != 0;
}

/* batch_done(), then wake its sleepers at once. mu held. */
static void batch_wake(struct ls_batch *b)
{
	if (batch_done(b))
		batch_futex_wake(b);
}

/* End a gathering leader's sleep (wait_for()). mu held. */
static void gather_wake(logstore_log *log)
{
	if (!log->gathering)
		return;
	atomic_fetch_add(&log->gather_word, 1);
	syscall(SYS_futex, &log->gather_word, FUTEX_WAKE_PRIVATE, 1, NULL,
		NULL, 0);
}

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
	ls_stats_publish(log); /* readers elsewhere see the failure */
	failed_error(log);
	for (unsigned i = 0; i < log->nbatches; i++)
		batch_wake(&log->batches[i]);
	gather_wake(log);
	pthread_cond_broadcast(&log->cond);
	pthread_cond_broadcast(&log->flush_cond);
}

/* A write or fsync failed outside this file (the seal thread). */
void ls_writer_fail(logstore_log *log, int rc)
{
	pthread_mutex_lock(&log->mu);
	log_fail(log, rc);
	pthread_mutex_unlock(&log->mu);
}

/*
 * The gathering window: half the recent commit latency. A quarter and
 * an eighth gathered about as many entries per fsync (16 threads: 12-16
 * of 16) with no better throughput; it bounds what a caller that does
 * not come back (its thread does other work) costs the next commit.
 */
static int64_t gather_window_ns(const logstore_log *log)
{
	return log->commit_avg_ns / 2;
}

/*
 * Durable batch b was published: note its commit latency, and ask the
 * next durable leader to gather (wait_for()) until the callers woken now
 * have appended again. mu held.
 */
static void commit_done(logstore_log *log, const struct ls_batch *b)
{
	int64_t now = ls_monotonic_ns();
	int64_t ns = now - b->started_ns;
	ls_histogram_record(&log->commit_latency_ns, (uint64_t)ns);
	log->commit_avg_ns += (ns - log->commit_avg_ns) / 8;
	if (!b->callers)
		return;
	log->gather_target = log->fill->callers + b->callers;
	log->gather_until_ns = now + gather_window_ns(log);
}

/*
 * Batch b is complete and every batch before it is published: publish.
 * The sleepers of a durable batch are woken at once, or with deferred
 * set, left to the caller: their batch's bit is set in *deferred.
 */
static void commit_batch(logstore_log *log, struct ls_batch *b,
			 uint32_t *deferred)
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
		atomic_fetch_add_explicit(&log->st_batches, 1,
					  memory_order_relaxed);
		ls_histogram_record(&log->batch_entries, b->entries);
	}
	if (b->sync) {
		if (b->len)
			commit_done(log, b);
		atomic_store(&log->durable_seq, b->last_seq > log->written_seq
						    ? log->written_seq
						    : b->last_seq);
		if (!deferred)
			batch_wake(b);
		else if (batch_done(b))
			*deferred |= 1u << (b - log->batches);
	}
}

static bool batch_complete(const struct ls_batch *b)
{
	return b->written && (!b->sync || b->synced);
}

/*
 * Publish the complete batches at the head of the flight FIFO. deferred:
 * NULL, or where commit_batch() leaves the wakes of durable sleepers.
 * mu held.
 */
static void publish(logstore_log *log, uint32_t *deferred)
{
	bool any = false;
	while (log->flight_count && !log->failed) {
		struct ls_batch *b = log->flight[log->flight_head];
		if (!batch_complete(b))
			break;
		commit_batch(log, b, deferred);
		any = any || b->len;
		b->state = LS_BATCH_FREE;
		log->flight_head = (log->flight_head + 1) % LS_BATCHES_MAX;
		log->flight_count--;
	}
	if (any) {
		ls_stats_publish(log);
		ls_readers_wake(log);
	}
	pthread_cond_broadcast(&log->cond);
	if (log->fill->async && log->flushers_idle)
		pthread_cond_signal(&log->flush_cond);
}

_Static_assert(LS_BATCHES_MAX <= 32, "a deferred mask has a bit per batch");

/*
 * Publish with the wakes of durable sleepers deferred, then drop mu,
 * wake them, and take mu again. Woken while the leader still held mu,
 * the sleepers' next appends queued on mu and were let in one at a time
 * by each unlock (16 threads on 2 vCPUs). mu held.
 */
static void publish_then_wake(logstore_log *log)
{
	uint32_t mask = 0;
	publish(log, &mask);
	if (!mask)
		return;
	pthread_mutex_unlock(&log->mu);
	for (unsigned i = 0; i < LS_BATCHES_MAX; i++)
		if (mask & (1u << i))
			batch_futex_wake(&log->batches[i]);
	pthread_mutex_lock(&log->mu);
}

/* ---- leading ---- */

/* Whether a leader may take the fill batch now. mu held. */
static bool can_lead(const logstore_log *log)
{
	return !log->writing && !log->failed &&
	       log->flight_count < log->opts.pipeline_depth;
}

static struct ls_batch *free_batch(logstore_log *log)
{
	for (unsigned i = 0; i < log->nbatches; i++)
		if (log->batches[i].state == LS_BATCH_FREE)
			return &log->batches[i];
	return NULL;
}

static void batch_reset(struct ls_batch *b, struct ls_segment *seg,
			uint64_t start_off)
{
	b->len = 0;
	b->entries = 0;
	b->need_sync = false;
	b->async = false;
	b->seg = seg;
	b->start_off = start_off;
	b->written = false;
	b->synced = false;
	b->sync = false;
	b->callers = 0;
	b->leader_waits = false;
	b->half_woken = false;
	b->state = LS_BATCH_FILL;
}

/* Move the fill batch into flight and install the next one. mu held. */
static struct ls_batch *take_fill(logstore_log *log, bool sync)
{
	struct ls_batch *b = log->fill;
	struct ls_batch *next = free_batch(log);
	LOGSTORE_ASSERT(next != NULL);
	LOGSTORE_ASSERT(can_lead(log));
	if (b->len == 0) {
		b->last_seq = log->next_seq - 1;
		b->seg = log->active;
	}
	b->state = LS_BATCH_FLIGHT;
	b->sync = sync;
	b->started_ns = ls_monotonic_ns();
	unsigned tail = (log->flight_head + log->flight_count) % LS_BATCHES_MAX;
	log->flight[tail] = b;
	log->flight_count++;
	log->writing = true;
	log->sync_requested = false;
	log->gather_target = 0;
	batch_reset(next, b->seg, b->start_off + b->len);
	log->fill = next;
	/* Appenders waiting for room can fill the new batch now. */
	if (log->room_waiters)
		pthread_cond_broadcast(&log->cond);
	return b;
}

/* Checksum a record whose header and payload are in place. */
static void seal_record(uint8_t *p, uint32_t len)
{
	ls_put_u32(p, ls_crc32c(0, p + 4, LS_RECORD_HEADER_BYTES - 4 + len));
}

/*
 * Checksum every record of batch b, which its leader owns (mu not
 * needed): appenders and claims leave the checksum field for this, the
 * one pass before the batch's only write. Checksummed at append time,
 * right after the record was stored into the batch, the checksum's wide
 * loads could not be served from the store buffer and waited for those
 * stores to reach the cache: ~20 ns of a deferred append (a loop over a
 * 3 MiB buffer with a mutex around each: 20 ns per record, against 4 ns
 * without the checksum and 9 ns to checksum bytes at rest; 2026-11-24).
 * Here the records are at rest, and for asynchronous and deferred
 * appends the pass runs in the flusher's thread, outside mu.
 */
static void seal_batch(struct ls_batch *b)
{
	uint32_t off = 0, n = 0;
	while (off < b->len) {
		uint8_t *p = b->buf + off;
		uint32_t len = ls_get_u32(p + 4) & LS_RECORD_LENGTH_MASK;
		seal_record(p, len);
		off += (uint32_t)ls_record_bytes(len);
		n++;
	}
	LOGSTORE_ASSERT(off == b->len);
	LOGSTORE_ASSERT(n == b->entries);
}

/*
 * Write the fill batch as the leader. Called with mu held and
 * can_lead(); returns with mu held once this batch is complete (or the
 * log failed), having woken every waiter.
 */
static void lead(logstore_log *log)
{
	struct ls_batch *b = log->fill;
	bool sync = b->need_sync || log->sync_requested;
	uint64_t all = log->next_seq - 1;
	if (b->len == 0 && (!sync || atomic_load(&log->durable_seq) >= all)) {
		b->need_sync = false;
		log->sync_requested = false;
		return;
	}
	b = take_fill(log, sync);
	struct ls_segment *seg = b->seg;
	bool direct = b->len && sync && !b->async && !log->durable_uring;
	pthread_mutex_unlock(&log->mu);

	if (b->len)
		seal_batch(b);
	int rc = 0;
	if (b->len && sync && !direct) {
		rc = ring_write(log, b, seg->fd);
	} else if (b->len) {
		rc = page_cache_write(log, seg->fd, b);
	} else if (seg) {
		prep_fsync(b, seg->fd);
		rc = submit(b, 1);
	}

	pthread_mutex_lock(&log->mu);
	log->writing = false;
	if (rc)
		log_fail(log, rc);
	b->written = !rc;
	if (!seg)
		b->synced = true; /* no segment, nothing to sync */
	publish(log, NULL);
	if (rc || !sync || !seg)
		return;

	pthread_mutex_unlock(&log->mu);
	rc = direct ? direct_fsync(log, seg->fd) : ring_wait_fsync(log, b);
	/*
	 * The segment's first sync made its header durable: it takes its
	 * name (a rename, no flush). If that fails it keeps its prepared
	 * name, which open adopts, and the next sync tries again.
	 */
	if (!rc && atomic_load_explicit(&seg->name_pending, memory_order_relaxed))
		ls_segment_name_durable(log, seg, true);
	pthread_mutex_lock(&log->mu);
	if (rc)
		log_fail(log, rc);
	b->synced = !rc;
	publish_then_wake(log);
}

/* ---- flushers ---- */

/*
 * Whether a flusher should lead the fill batch now. mu held.
 * A batch with an asynchronous entry goes at once when nothing is in
 * flight, else once it is half full, or after the batching window when
 * one is set: by default, when the batch in flight completes (group
 * commit). Starting it while another was in flight made both commits
 * slower on this device: one producer paced to 1M entries/s, p99 time to
 * durable 4.8-6.7 ms against 2.5-5.1 ms when waiting (3 interleaved
 * runs each); at full speed the batches are half full at once and still
 * overlap (3.6-4.2M/s either way). A batch of deferred entries only goes
 * to the page cache, so it waits up to deferred_delay_ns: writing it at
 * once costs a flusher wake-up and a pwrite per handful of entries,
 * which limited one producer to ~2.9M entries/s here.
 */
static bool flush_due(logstore_log *log, struct timespec *until)
{
	const struct ls_batch *f = log->fill;
	if (!f->async || f->len == 0 || log->rolling || !can_lead(log))
		return false;
	if (f->len * 2 >= log->opts.batch_bytes_max)
		return true;
	int64_t delay = log->opts.batch_delay_ns;
	if (!f->need_sync)
		delay = log->opts.deferred_delay_ns;
	else if (log->flight_count == 0)
		return true;
	else if (delay == 0)
		return false; /* publish() signals when the batch completes */
	int64_t left = f->started_ns + delay - ls_monotonic_ns();
	if (left <= 0)
		return true;
	*until = ls_deadline_after(left);
	return false;
}

static void *flusher_main(void *arg)
{
	logstore_log *log = arg;
	pthread_mutex_lock(&log->mu);
	while (!log->flushers_stop) {
		struct timespec until = {0, 0};
		if (flush_due(log, &until)) {
			/*
			 * need_sync is already set when an entry in the
			 * batch is LOGSTORE_ASYNC; a batch of deferred
			 * entries (or one left full by a claim) only has
			 * to reach the page cache.
			 */
			lead(log);
			continue;
		}
		log->flushers_idle++;
		if (until.tv_sec)
			pthread_cond_timedwait(&log->flush_cond, &log->mu,
					       &until);
		else
			pthread_cond_wait(&log->flush_cond, &log->mu);
		log->flushers_idle--;
	}
	pthread_mutex_unlock(&log->mu);
	return NULL;
}

/* Start the flusher threads; the condition variable uses CLOCK_MONOTONIC. */
int ls_writer_start(logstore_log *log)
{
	for (unsigned i = 0; i < log->opts.pipeline_depth; i++) {
		int rc =
		    pthread_create(&log->flushers[i], NULL, flusher_main, log);
		if (rc)
			return ls_error(-rc, "starting a flusher thread: %s",
					strerror(rc));
		log->nflushers++;
	}
	return 0;
}

void ls_writer_stop(logstore_log *log)
{
	pthread_mutex_lock(&log->mu);
	log->flushers_stop = true;
	pthread_cond_broadcast(&log->flush_cond);
	pthread_mutex_unlock(&log->mu);
	for (unsigned i = 0; i < log->nflushers; i++)
		pthread_join(log->flushers[i], NULL);
	log->nflushers = 0;
}

/* ---- waits ---- */

/* wait_for() with in_flight: seq is in that batch in flight (mu held). */
#define LS_WAIT_IN_FLIGHT 1

/* The batch in flight that holds entry seq or NULL. mu held. */
static struct ls_batch *flight_of(logstore_log *log, uint64_t seq)
{
	for (unsigned i = 0; i < log->flight_count; i++) {
		struct ls_batch *b =
		    log->flight[(log->flight_head + i) % LS_BATCHES_MAX];
		if (b->entries && seq <= b->last_seq)
			return b;
	}
	return NULL;
}

/*
 * Whether a batch with durable callers is in flight. A durable leader
 * waits for it rather than starting its own flush beside it: two small
 * flushes in flight at once each took longer on this device, and the
 * groups they made stayed apart (2 threads: one entry per fsync, 5.5k/s;
 * waiting: two per fsync, 6.2-6.4k/s; 4 and 16 threads the same). The
 * flushers still overlap batches of asynchronous appends. mu held.
 */
static bool callers_in_flight(const logstore_log *log)
{
	for (unsigned i = 0; i < log->flight_count; i++)
		if (log->flight[(log->flight_head + i) % LS_BATCHES_MAX]->callers)
			return true;
	return false;
}

/* Wait on log->cond, until deadline when there is one. mu held. */
static void cond_wait_until(logstore_log *log, const struct timespec *deadline)
{
	if (deadline)
		pthread_cond_timedwait(&log->cond, &log->mu, deadline);
	else
		pthread_cond_wait(&log->cond, &log->mu);
}

/*
 * Before a durable leader writes the fill batch: wait while another
 * leader gathers, while a batch with durable callers is in flight, and
 * while a gathering is asked for (commit_done()) and its callers have
 * not all appended, up to the window. deadline: a timed caller's
 * (logstore_log_wait_durable()), or NULL; such a caller waits no longer
 * than it, and does not gather itself, since it need not be the one to
 * lead and a gathering window would only hold it up. Returns true after
 * a wait (the caller looks again), false to lead now. mu held.
 */
static bool gather(logstore_log *log, const struct timespec *deadline)
{
	/*
	 * Another leader gathers (it will write the batch), or the callers
	 * of a batch in flight will append again: wait and take them too.
	 */
	if (log->gathering || callers_in_flight(log)) {
		cond_wait_until(log, deadline);
		return true;
	}
	if (deadline || !log->gather_target ||
	    log->fill->callers >= log->gather_target)
		return false;
	int64_t left = log->gather_until_ns - ls_monotonic_ns();
	if (left <= 0) {
		log->gather_target = 0;
		return false;
	}
	uint32_t word = atomic_load(&log->gather_word);
	struct timespec ts = {.tv_sec = left / 1000000000,
			      .tv_nsec = left % 1000000000};
	log->gathering = true;
	log->gatherings++;
	pthread_mutex_unlock(&log->mu);
	syscall(SYS_futex, &log->gather_word, FUTEX_WAIT_PRIVATE, word, &ts,
		NULL, 0);
	pthread_mutex_lock(&log->mu);
	log->gathering = false;
	/*
	 * Callers that waited for this gathering (above) look again: this
	 * caller may now return without leading (a sync whose entries
	 * became durable meanwhile), and then no publication would wake
	 * them while the fill's other callers sleep on its futex word.
	 */
	pthread_cond_broadcast(&log->cond);
	if (log->fill->callers < log->gather_target &&
	    ls_monotonic_ns() >= log->gather_until_ns)
		log->gather_target = 0;
	return true;
}

/*
 * A durable append brought the fill batch to its gathering target
 * (commit_done()). When a caller gathers for it (gather()), this one
 * leads the batch at once rather than waking that caller to: the wake-up
 * and its scheduling sat on every group commit's critical path (16
 * threads x 100 B, 6 interleaved pairs of 2 s: 1.12-1.29x the entries/s).
 * The gathering caller finds its entry in flight when its window ends
 * (half a commit, so usually before the batch is durable) and sleeps on
 * it from there; once the batch is complete it is woken in case its
 * window was longer, unless a new gathering began meanwhile (that one
 * waits for its own target). When this caller cannot lead now, the
 * gatherer is woken to look again, as before. mu held; returns with mu
 * held.
 */
static void gather_complete(logstore_log *log)
{
	if (!log->gathering || log->rolling || !can_lead(log) ||
	    callers_in_flight(log)) {
		gather_wake(log);
		return;
	}
	uint32_t gatherings = log->gatherings;
	log->fill->need_sync = true;
	lead(log);
	if (log->gatherings == gatherings)
		gather_wake(log);
}

/*
 * Whether a durable appender whose entry seq is in the fill batch can
 * sleep on the batch's futex word (wait_durable()) and leave the writing
 * to another appender of that batch, the one that waits to lead it
 * (*candidate set: it waits under mu, for its turn or for gather()).
 * The others then sleep until the batch is published durable instead of
 * being woken by every broadcast on log->cond: with 16 threads on 2
 * vCPUs, those wake-ups delayed the leader's own. Only callers that wait
 * without a deadline get here, so the candidate stays until its batch is
 * taken. mu held.
 */
static bool fill_waiter(logstore_log *log, uint64_t seq, bool *candidate)
{
	struct ls_batch *f = log->fill;
	if (*candidate || !f->len || seq < f->first_seq)
		return false;
	if (f->leader_waits)
		return true;
	f->leader_waits = true;
	*candidate = true;
	return false;
}

/* Whether CLOCK_MONOTONIC has reached deadline. */
static bool deadline_passed(const struct timespec *deadline)
{
	return ls_monotonic_ns() >=
	       (int64_t)deadline->tv_sec * 1000000000LL + deadline->tv_nsec;
}

/*
 * Wait, leading when that helps, until seq is written (visible) or
 * durable. deadline: CLOCK_MONOTONIC, or NULL to wait forever.
 * in_flight: if not NULL, return LS_WAIT_IN_FLIGHT with *in_flight set
 * instead of waiting under mu once seq is in a batch in flight (see
 * wait_durable()).
 */
static int wait_for(logstore_log *log, uint64_t seq, bool durable,
		    const struct timespec *deadline,
		    struct ls_batch **in_flight)
{
	bool candidate = false; /* this caller waits to lead the fill */
	for (;;) {
		uint64_t have =
		    durable ? atomic_load(&log->durable_seq) : log->written_seq;
		if (have >= seq)
			return 0;
		if (log->failed)
			return failed_error(log);
		/* Time is up: report, start no write (0 only checks). */
		if (deadline && deadline_passed(deadline))
			return -ETIMEDOUT;
		if (in_flight && (*in_flight = flight_of(log, seq)) != NULL)
			return LS_WAIT_IN_FLIGHT;
		if (in_flight && fill_waiter(log, seq, &candidate)) {
			*in_flight = log->fill;
			return LS_WAIT_IN_FLIGHT;
		}
		/*
		 * A durable caller leads only after gather(): starting a
		 * batch as soon as a pipeline slot was free split the group
		 * commits (16 threads: 5.3 entries per fsync).
		 */
		const struct ls_batch *f = log->fill;
		bool mine = f->len && seq >= f->first_seq;
		bool help = mine || (durable && (f->len || !log->flight_count));
		if (!log->rolling && can_lead(log) && help) {
			if (durable && gather(log, deadline))
				continue;
			if (durable)
				log->fill->need_sync = true;
			lead(log);
			continue;
		}
		cond_wait_until(log, deadline); /* the top tells a timeout */
	}
}

/*
 * Sleep once on b's done_word, mu not held; true when seq is durable.
 * word was read under mu, before the caller dropped it, so a publication
 * of b after that read ends the sleep at once.
 */
static bool sleep_durable(logstore_log *log, struct ls_batch *b, uint64_t seq,
			  uint32_t word)
{
	bool done = atomic_load(&log->durable_seq) >= seq;
	if (!done) {
		atomic_fetch_add(&b->sleepers, 1);
		if (atomic_load(&log->durable_seq) < seq)
			syscall(SYS_futex, &b->done_word, FUTEX_WAIT_PRIVATE,
				word, NULL, NULL, 0);
		atomic_fetch_sub(&b->sleepers, 1);
		done = atomic_load(&log->durable_seq) >= seq;
	}
	return done;
}

/*
 * A durable appender's wait. mu held; returns with mu released. Once its
 * entry is in a batch in flight, it has nothing to lead: it sleeps
 * outside mu on that batch's futex word, which only the batch's durable
 * publication or a failure moves. So the broadcast on log->cond after
 * each write phase does not wake it for nothing, nor does the
 * publication of an earlier batch, and the waiters of a batch, woken by
 * one FUTEX_WAKE, return without queueing on mu one after another (16
 * threads on 2 vCPUs: that queue, not the device, bounded the group
 * commit). An early wake (a failure) goes back under mu.
 */
static int wait_durable(logstore_log *log, uint64_t seq)
{
	int rc;
	struct ls_batch *b;
	while ((rc = wait_for(log, seq, true, NULL, &b)) == LS_WAIT_IN_FLIGHT) {
		uint32_t word = atomic_load(&b->done_word);
		pthread_mutex_unlock(&log->mu);
		if (sleep_durable(log, b, seq, word))
			return 0;
		pthread_mutex_lock(&log->mu);
	}
	pthread_mutex_unlock(&log->mu);
	return rc;
}

/* Wait until nothing is in flight and no one writes. mu held. */
static int drain(logstore_log *log)
{
	while (!log->failed && (log->writing || log->flight_count))
		pthread_cond_wait(&log->cond, &log->mu);
	return log->failed ? failed_error(log) : 0;
}

/* ---- rollover ---- */

/* seg (or NULL) becomes the active segment; old is complete on disk. */
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
		atomic_store(&old->sealed, true);
		/*
		 * The seal's reference, taken before segs_mu goes: once
		 * sealed, the compactor may take old out of the list and
		 * drop the list's reference at once.
		 */
		ls_segment_ref(old);
	}
	log->active = seg;
	ls_shm_publish(log, seg);
	pthread_mutex_unlock(&log->segs_mu);
	log->fill->seg = seg;
	log->fill->start_off = LS_HEADER_BYTES;
	if (seg)
		atomic_fetch_add_explicit(&log->st_segments_created, 1,
					  memory_order_relaxed);
	if (old)
		ls_prepare_seal_later(log, old);
}

/*
 * The next segment: the prepared one, or for the first segment of this
 * handle one created here. mu not held.
 */
static int next_segment(logstore_log *log, bool first, uint64_t first_seq,
			int64_t first_time, struct ls_segment **out)
{
	if (first)
		return ls_segment_create(log, first_seq, first_time, out);
	struct ls_segment *seg = NULL;
	int rc = ls_prepare_take(log, &seg);
	if (!rc) {
		rc = ls_segment_activate(log, seg, first_seq, first_time);
		/*
		 * A write or an fsync that failed while the segment joins
		 * the log (its header, its name) is a durability failure:
		 * fail-stop (STYLE.md 5). A full disk is not: the appender
		 * gets the error and the next append tries again.
		 */
		if (rc && !ls_resource_error(rc))
			ls_writer_fail(log, rc);
	}
	if (rc && seg)
		ls_segment_prepared_discard(log, seg);
	else if (!rc)
		*out = seg;
	return rc;
}

/*
 * Start segment first_seq for an entry at first_time. Called with mu
 * held and no rollover running; returns with mu held.
 */
static int roll(logstore_log *log, uint64_t first_seq, int64_t first_time)
{
	log->rolling = true;
	int rc = drain(log);
	if (!rc) {
		log->fill->need_sync = true;
		lead(log);
		rc = drain(log);
	}
	if (rc) {
		log->rolling = false;
		pthread_cond_broadcast(&log->cond);
		return rc;
	}
	LOGSTORE_ASSERT(log->fill->len == 0);
	struct ls_segment *old = log->active;
	bool first = !old && !log->segments_prepared;
	log->writing = true; /* nobody leads while the segment changes */
	pthread_mutex_unlock(&log->mu);

	struct ls_segment *seg = NULL;
	rc = next_segment(log, first, first_seq, first_time, &seg);

	pthread_mutex_lock(&log->mu);
	log->writing = false;
	if (rc && log->failed)
		rc = failed_error(log);
	switch_segment(log, old, seg);
	if (seg || old) {
		log->segments_prepared = true;
		/* A failed log appends nothing more: prepare nothing. */
		if (!log->failed)
			ls_prepare_want(log);
	}
	log->rolling = false;
	pthread_cond_broadcast(&log->cond);
	return rc;
}

/* ---- append ---- */

/*
 * Encode a record header and copy the payload, unless it is claimed
 * (e->data NULL: the caller writes it in place). The checksum is left
 * to the batch's leader (seal_batch()).
 */
static void encode_record(uint8_t *p, const struct logstore_batch_entry *e,
			  uint64_t seq, int64_t time, uint32_t salt, bool more)
{
	uint32_t len = (uint32_t)e->len;
	uint64_t bytes = ls_record_bytes(len);
	/*
	 * The padding (under 8 bytes) is cleared by one 8-byte store that
	 * the header and payload then overwrite in part: a memset call of
	 * 0-7 bytes cost more than the store.
	 */
	_Static_assert(LS_RECORD_ALIGN == 8, "padding fits one 8-byte store");
	ls_put_u64(p + bytes - 8, 0);
	ls_put_u32(p + 4, len | (more ? LS_RECORD_BATCH_MORE : 0));
	ls_put_u64(p + 8, seq);
	ls_put_u64(p + 16, (uint64_t)time);
	ls_put_u32(p + 24, salt);
	ls_put_u32(p + 28, 0);
	if (!e->data)
		return;
	if (len)
		memcpy(p + LS_RECORD_HEADER_BYTES, e->data, len);
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

/*
 * Add to a counter that only mu's holder changes (stats readers load it
 * without the lock). A load and a store, not a locked add: the locked add
 * waited for the record just copied into the batch to leave the store
 * buffer, 8% of a deferred append's time (perf).
 */
static void counter_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(
	    c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

/* Remember how to take the next entry back (claim abort). mu held. */
static void save_undo(logstore_log *log)
{
	const struct ls_batch *b = log->fill;
	const struct ls_segment *seg = log->active;
	log->undo.batch_len = b->len;
	log->undo.batch_last_seq = b->last_seq;
	log->undo.batch_last_time = b->last_time;
	log->undo.log_last_time = log->last_time;
	log->undo.index_count =
	    atomic_load_explicit(&seg->index_count, memory_order_relaxed);
	log->undo.index_next_off = seg->index_next_off;
}

/* Copy the entries into the fill batch; assign seqs and times. mu held. */
static void fill_batch(logstore_log *log, struct logstore_batch_entry *e,
		       size_t n, int64_t now)
{
	struct ls_batch *b = log->fill;
	struct ls_segment *seg = log->active;
	int64_t prev = log->last_time;
	uint64_t payload = 0;
	if (!e->data)
		save_undo(log); /* a claim, which its abort undoes */
	if (b->entries == 0) {
		b->first_seq = log->next_seq;
		b->started_ns = ls_monotonic_ns();
	}
	for (size_t i = 0; i < n; i++) {
		int64_t t = entry_time(&e[i], now, prev);
		uint64_t seq = log->next_seq++;
		uint64_t off = b->start_off + b->len;
		encode_record(b->buf + b->len, &e[i], seq, t, seg->salt,
			      i + 1 < n);
		if (off >= seg->index_next_off) /* one per LS_INDEX_STRIDE */
			ls_segment_index_add(seg, off, seq, t);
		b->len += (uint32_t)ls_record_bytes(e[i].len);
		e[i].seq = seq;
		e[i].time_ns = t;
		prev = t;
		payload += e[i].len;
	}
	b->last_seq = log->next_seq - 1;
	b->last_time = prev;
	b->entries += (uint32_t)n;
	log->last_time = prev;
	counter_add(&log->st_entries, n);
	counter_add(&log->st_bytes, payload);
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
 * The active segment was reopened after a clean close and still carries
 * its reopenable seal: erase it durably before the first new record, so
 * that a crash can never leave a seal that hides records. Done here and
 * not at open, so that an open costs no device flush. A failure is a
 * failed fsync: the log fails. mu held.
 */
static int clear_reopen_seal(logstore_log *log)
{
	if (!log->active->reopenable)
		return 0;
	int rc = ls_segment_clear_seal(log->active);
	if (rc) {
		log_fail(log, rc);
		return failed_error(log);
	}
	return 0;
}

/*
 * Make room in the fill batch: write it (leading) or wait for a leader.
 * An asynchronous appender leaves the writing to the flushers. mu held.
 */
static void wait_for_room(logstore_log *log, bool async)
{
	/*
	 * A batch that needs no fsync is written by the appender that
	 * filled it, as a user-space buffer is: one pwrite, no hand-off.
	 */
	if ((!async || !log->fill->need_sync) && can_lead(log)) {
		lead(log);
		return;
	}
	log->fill->async = log->fill->async || async;
	if (log->fill->async && log->flushers_idle)
		pthread_cond_signal(&log->flush_cond);
	log->room_waiters++;
	pthread_cond_wait(&log->cond, &log->mu);
	log->room_waiters--;
}

/*
 * Put the entries into the fill batch, rolling over first if needed.
 * mu held. Returns 0 with the entries placed, or an error with nothing
 * placed.
 */
static int reserve(logstore_log *log, struct logstore_batch_entry *e, size_t n,
		   uint64_t bytes, bool async)
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
		if (log->fill->len + bytes > log->opts.batch_bytes_max) {
			wait_for_room(log, async);
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
			rc = clear_reopen_seal(log);
			if (rc)
				return rc;
			fill_batch(log, e, n, now);
			return 0;
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

/* The durability a call asks for, resolved; or -EINVAL. */
static int resolve_durability(const logstore_log *log, int durability)
{
	if (durability == LOGSTORE_DURABILITY_DEFAULT)
		durability = log->opts.durability;
	if (durability != LOGSTORE_DURABLE && durability != LOGSTORE_BUFFERED &&
	    durability != LOGSTORE_ASYNC && durability != LOGSTORE_DEFERRED)
		return ls_error(-EINVAL, "durability %d", durability);
	return durability;
}

/*
 * The entries up to seq are in the fill batch: wait as durability asks,
 * or for LOGSTORE_ASYNC and LOGSTORE_DEFERRED hand the batch to the
 * flushers (which fsync it only if an entry in it asked for that). mu
 * held; returns with mu released.
 */
static int finish_append(logstore_log *log, uint64_t seq, int durability)
{
	struct ls_batch *f = log->fill;
	int rc = 0;
	if (durability == LOGSTORE_BUFFERED) {
		rc = wait_for(log, seq, false, NULL, NULL);
	} else {
		if (durability != LOGSTORE_DEFERRED)
			f->need_sync = true;
		if (durability == LOGSTORE_DURABLE) {
			if (++f->callers >= log->gather_target)
				gather_complete(log);
			return wait_durable(log, seq);
		}
		if (!f->async) {
			f->async = true;
			if (log->flushers_idle)
				pthread_cond_signal(&log->flush_cond);
		} else if (!f->need_sync && !f->half_woken &&
			   f->len * 2 >= log->opts.batch_bytes_max) {
			/*
			 * Half full: flush_due() says go, but the flusher
			 * sleeps until deferred_delay_ns. Woken now, it
			 * writes this half while the producer fills the
			 * next batch; else the producer found the batch
			 * full and wrote it itself (wait_for_room()).
			 */
			f->half_woken = true;
			if (log->flushers_idle)
				pthread_cond_signal(&log->flush_cond);
		}
	}
	pthread_mutex_unlock(&log->mu);
	return rc;
}

static int append_entries(logstore_log *log, struct logstore_batch_entry *e,
			  size_t n, int durability)
{
	if (!log || !e || n == 0 || n > LOGSTORE_BATCH_ENTRIES_MAX)
		return ls_error(-EINVAL, "bad arguments");
	if (log->read_only)
		return ls_log_read_only_error(log);
	durability = resolve_durability(log, durability);
	if (durability < 0)
		return durability;
	int64_t bytes = batch_bytes(log, e, n);
	if (bytes < 0)
		return (int)bytes;
	pthread_mutex_lock(&log->mu);
	int rc = reserve(log, e, n, (uint64_t)bytes,
			 durability == LOGSTORE_ASYNC ||
			     durability == LOGSTORE_DEFERRED);
	if (rc) {
		pthread_mutex_unlock(&log->mu);
		return rc;
	}
	return finish_append(log, e[n - 1].seq, durability);
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
	struct logstore_batch_entry e = {.data = data ? data : "", .len = len};
	if (!data && len)
		e.data = NULL;
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
	    .data = data ? data : "", .len = len, .time_ns = time_ns};
	if (!data && len)
		e.data = NULL;
	int rc = append_counted(log, &e, 1, durability);
	if (!rc && seq)
		*seq = e.seq;
	return rc;
}

int logstore_log_append_batch(logstore_log *log,
			      struct logstore_batch_entry *entries,
			      size_t count, int durability)
{
	for (size_t i = 0; entries && i < count; i++)
		if (!entries[i].data && entries[i].len == 0)
			entries[i].data = "";
	return append_counted(log, entries, count, durability);
}

/* ---- claims ---- */

/*
 * A tag unique to the calling thread while it lives: the address of a
 * thread-local. Cheaper than gettid(), a system call (and system calls
 * are expensive on this project's VM).
 */
static uintptr_t this_thread(void)
{
	static _Thread_local char tag;
	return (uintptr_t)&tag;
}

int logstore_log_claim(logstore_log *log, size_t len,
		       struct logstore_claim *claim)
{
	if (!log || !claim)
		return ls_error(-EINVAL, "log and claim are required");
	if (log->read_only)
		return ls_log_read_only_error(log);
	if (atomic_load(&log->claim_tid) == this_thread())
		return ls_error(-EINVAL, "this thread holds a claim already");
	struct logstore_batch_entry e = {.data = NULL, .len = len};
	int64_t bytes = batch_bytes(
	    log, &(struct logstore_batch_entry){.data = "", .len = len}, 1);
	if (bytes < 0)
		return ls_stats_failed(log, (int)bytes);
	pthread_mutex_lock(&log->mu);
	/* A full batch is left to the flushers, as for async appends. */
	int rc = reserve(log, &e, 1, (uint64_t)bytes, true);
	if (rc) {
		pthread_mutex_unlock(&log->mu);
		return ls_stats_failed(log, rc);
	}
	/* mu stays held until the commit or abort. */
	uint8_t *rec = log->fill->buf + log->undo.batch_len;
	claim->data = rec + LS_RECORD_HEADER_BYTES;
	claim->len = len;
	claim->seq = e.seq;
	claim->time_ns = e.time_ns;
	atomic_store(&log->claim_tid, this_thread());
	return 0;
}

/* Whether the calling thread holds the claim (and so mu). */
static bool claim_held(logstore_log *log, const struct logstore_claim *claim)
{
	return log && claim && atomic_load(&log->claim_tid) == this_thread() &&
	       claim->seq == log->next_seq - 1;
}

int logstore_claim_commit(logstore_log *log, struct logstore_claim *claim,
			  int durability)
{
	if (!claim_held(log, claim))
		return ls_error(-EINVAL, "no claim held by this thread");
	int rc = resolve_durability(log, durability);
	if (rc < 0) {
		logstore_claim_abort(log, claim);
		return ls_stats_failed(log, rc);
	}
	struct ls_batch *b = log->fill;
	uint8_t *rec = b->buf + log->undo.batch_len;
	LOGSTORE_ASSERT(ls_get_u64(rec + 8) == claim->seq);
	atomic_store(&log->claim_tid, 0);
	rc = finish_append(log, claim->seq, rc);
	return ls_stats_failed(log, rc);
}

int logstore_claim_abort(logstore_log *log, struct logstore_claim *claim)
{
	if (!claim_held(log, claim))
		return ls_error(-EINVAL, "no claim held by this thread");
	struct ls_batch *b = log->fill;
	struct ls_segment *seg = log->active;
	b->len = log->undo.batch_len;
	b->entries--;
	b->last_seq = log->undo.batch_last_seq;
	b->last_time = log->undo.batch_last_time;
	log->last_time = log->undo.log_last_time;
	log->next_seq--;
	atomic_store_explicit(&seg->index_count, log->undo.index_count,
			      memory_order_release);
	seg->index_next_off = log->undo.index_next_off;
	counter_add(&log->st_entries, (uint64_t)-1);
	counter_add(&log->st_bytes, (uint64_t)0 - claim->len);
	atomic_store(&log->claim_tid, 0);
	claim->data = NULL;
	pthread_mutex_unlock(&log->mu);
	return 0;
}

/* ---- sync and waits ---- */

int logstore_log_sync(logstore_log *log)
{
	if (!log)
		return ls_error(-EINVAL, "log is required");
	if (log->read_only)
		return ls_log_read_only_error(log);
	pthread_mutex_lock(&log->mu);
	log->sync_requested = true;
	int rc = wait_for(log, log->next_seq - 1, true, NULL, NULL);
	log->sync_requested = false;
	pthread_mutex_unlock(&log->mu);
	return ls_stats_failed(log, rc);
}

int logstore_log_wait_durable(logstore_log *log, uint64_t seq,
			      int64_t timeout_ns)
{
	if (!log)
		return ls_error(-EINVAL, "log is required");
	if (log->read_only)
		return ls_log_read_only_error(log);
	if (atomic_load(&log->durable_seq) >= seq)
		return 0;
	struct timespec deadline, *dl = NULL;
	if (timeout_ns >= 0) {
		deadline = ls_deadline_after(timeout_ns);
		dl = &deadline;
	}
	pthread_mutex_lock(&log->mu);
	int rc = 0;
	if (seq >= log->next_seq)
		rc = ls_error(-EINVAL,
			      "seq %" PRIu64
			      " was never assigned (next %" PRIu64 ")",
			      seq, log->next_seq);
	else
		rc = wait_for(log, seq, true, dl, NULL);
	pthread_mutex_unlock(&log->mu);
	return rc;
}

uint64_t logstore_log_durable_seq(logstore_log *log)
{
	return log ? atomic_load(&log->durable_seq) : 0;
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
	if (!rc && log->active && log->active->fd >= 0)
		ls_segment_name_durable(log, log->active, true); /* see seal_one */
	return rc;
}
