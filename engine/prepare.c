/* SPDX-License-Identifier: MIT */
/*
 * The preparation thread: keeps the next segment ready and seals the old
 * ones, so that nothing slow happens on the commit path.
 *
 * Owns: log->prepared (one segment, zero-filled and durable, with its
 * directory entry, under a temporary "prepared-N.seg.tmp" name, without
 * header) and the seal queue (segments that stopped being active: their
 * index and seal are written and fdatasynced here, then their in-memory
 * index and write fd go).
 *
 * Normal path: a writer handle asks for a prepared segment once it has
 * an active one (ls_prepare_want()); a rollover takes it
 * (ls_prepare_take()), and the thread prepares the next one right away.
 * Zero-filling 64 MiB takes ~135 ms here (MEASURED.md), so a rollover
 * waits only when segments fill faster than that. Each burst of zeros
 * (2 MiB, or 128 KiB in a segment smaller than 2 MiB) is written back
 * before the next is written, so the device never holds more than that
 * ahead of a commit's write and flush.
 *
 * Pacing: the thread pauses LS_PREP_PACE_NS before each of its device
 * steps (the seal, each 128 KiB burst, the fdatasync, the directory
 * fsync; ls_prepare_pace()). Right after a rollover it would otherwise
 * run them back to back, and the first appends into the new segment,
 * each one write and one flush, queued behind all of them (1.4-2.1 ms
 * instead of 0.3-0.5 ms with 4 KiB entries). With the pauses a commit
 * meets at most one step. A rollover that waits for the preparation
 * ends the pauses.
 *
 * Failure modes: a failed preparation (ENOSPC) is kept in prep_error and
 * returned by the next ls_prepare_take(), which asks for another try: the
 * rollover fails without failing the log, as creating the segment on the
 * appender would have. A failed seal (an fdatasync error) fails the log:
 * durability failures are sticky (STYLE.md rule 5); a seal that finds
 * the disk full leaves the segment unsealed (the next open scans it).
 *
 * Close: ls_prepare_stop() interrupts a preparation between two bursts
 * (or a pause), seals what is queued, and deletes the prepared file.
 *
 * Lock order: log->mu, then prep_mu, then segs_mu.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/*
 * Seal seg on disk, then let the disk index replace the memory one. A
 * failure fails the log (from the thread; a caller holding log->mu does
 * that itself).
 */
static void seal_one(logstore_log *log, struct ls_segment *seg, bool thread)
{
	int rc = ls_segment_seal(log, seg, 0);
	/*
	 * Not named yet if none of its records was synced before now (the
	 * seal's fdatasync, or the rollover's, made its header durable). If
	 * the rename fails, it keeps its prepared name, which open adopts.
	 */
	ls_segment_name_durable(log, seg, !rc);
	if (rc && ls_resource_error(rc)) {
		/*
		 * No room for the index or the seal: the segment stays
		 * unsealed, with its index in memory; its records are
		 * durable already, and the next open scans it.
		 */
		ls_segment_unref(seg);
		return;
	}
	if (rc) {
		if (thread)
			ls_writer_fail(log, rc);
		else
			log->failed = log->failed ? log->failed : rc;
		ls_segment_unref(seg);
		return;
	}
	pthread_mutex_lock(&log->segs_mu);
	free(seg->index);
	seg->index = NULL;
	close(seg->fd);
	seg->fd = -1;
	pthread_mutex_unlock(&log->segs_mu);
	ls_segment_unref(seg);
}

/* Room in the segment list for the prepared segment: no realloc later. */
static int reserve_slot(logstore_log *log)
{
	int rc = 0;
	pthread_mutex_lock(&log->segs_mu);
	if (log->nsegs + 2 > log->segs_cap) {
		size_t cap = log->segs_cap ? log->segs_cap * 2 : 16;
		void *p = realloc(log->segs, cap * sizeof(*log->segs));
		if (p) {
			log->segs = p;
			log->segs_cap = cap;
		} else {
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&log->segs_mu);
	return rc;
}

/* One preparation; prep_mu not held. */
static void prepare_one(logstore_log *log)
{
	struct ls_segment *seg = NULL;
	int rc = reserve_slot(log);
	if (!rc)
		rc = ls_segment_prepare(log, &log->prep_stop, &seg);
	pthread_mutex_lock(&log->prep_mu);
	if (rc) {
		log->prep_error = rc;
	} else {
		log->prepared = seg;
		atomic_fetch_add_explicit(&log->st_segments_prepared, 1,
					  memory_order_relaxed);
	}
	pthread_mutex_unlock(&log->prep_mu);
}

static bool prepare_due(const logstore_log *log)
{
	return log->prep_wanted && !log->prepared && !log->prep_error;
}

static void *prepare_main(void *arg)
{
	logstore_log *log = arg;
	pthread_mutex_lock(&log->prep_mu);
	for (;;) {
		if (log->seal_count) {
			struct ls_segment *seg = log->seal_queue[0];
			memmove(&log->seal_queue[0], &log->seal_queue[1],
				--log->seal_count * sizeof(seg));
			log->prep_busy = true;
			pthread_mutex_unlock(&log->prep_mu);
			/* After the rolling append's commit, not beside it. */
			ls_prepare_pace(log);
			seal_one(log, seg, true);
			pthread_mutex_lock(&log->prep_mu);
		} else if (atomic_load(&log->prep_stop)) {
			break;
		} else if (prepare_due(log)) {
			log->prep_busy = true;
			pthread_mutex_unlock(&log->prep_mu);
			prepare_one(log);
			pthread_mutex_lock(&log->prep_mu);
		} else {
			log->prep_busy = false;
			pthread_cond_broadcast(&log->prep_cond);
			pthread_cond_wait(&log->prep_cond, &log->prep_mu);
		}
		log->prep_busy = false;
		pthread_cond_broadcast(&log->prep_cond);
	}
	pthread_mutex_unlock(&log->prep_mu);
	return NULL;
}

int ls_prepare_start(logstore_log *log)
{
	int rc = pthread_create(&log->prep_thread, NULL, prepare_main, log);
	if (rc)
		return ls_error(-rc, "starting the preparation thread: %s",
				strerror(rc));
	log->prep_running = true;
	return 0;
}

void ls_prepare_stop(logstore_log *log)
{
	if (!log->prep_running)
		return;
	pthread_mutex_lock(&log->prep_mu);
	atomic_store(&log->prep_stop, true);
	pthread_cond_broadcast(&log->prep_cond);
	pthread_mutex_unlock(&log->prep_mu);
	pthread_join(log->prep_thread, NULL);
	log->prep_running = false;
	if (log->prepared)
		ls_segment_prepared_discard(log, log->prepared);
	log->prepared = NULL;
}

/* Keep a prepared segment ready from now on. */
void ls_prepare_want(logstore_log *log)
{
	pthread_mutex_lock(&log->prep_mu);
	log->prep_wanted = true;
	pthread_cond_broadcast(&log->prep_cond);
	pthread_mutex_unlock(&log->prep_mu);
}

/*
 * Take the prepared segment, waiting for it if it is not ready. Returns
 * 0, or the error of the last preparation (and asks for another).
 */
int ls_prepare_take(logstore_log *log, struct ls_segment **out)
{
	int rc = 0;
	pthread_mutex_lock(&log->prep_mu);
	log->prep_wanted = true;
	log->prep_takers++; /* no more pauses: the rollover waits */
	pthread_cond_broadcast(&log->prep_cond);
	while (!log->prepared && !log->prep_error && log->prep_running &&
	       !atomic_load(&log->prep_stop))
		pthread_cond_wait(&log->prep_cond, &log->prep_mu);
	log->prep_takers--;
	if (log->prepared) {
		*out = log->prepared;
		log->prepared = NULL;
		/*
		 * The next preparation waits until this rollover is done and
		 * asks again (ls_prepare_want): the thread then seals the old
		 * segment first, and the rollover's own flushes do not queue
		 * behind a zero-fill, in an order tests can rely on.
		 */
		log->prep_wanted = false;
	} else {
		rc = log->prep_error ? log->prep_error : -ECANCELED;
		log->prep_error = 0;
		ls_error(rc, "%s: no segment could be prepared: %s", log->dir,
			 logstore_strerror(rc));
	}
	pthread_cond_broadcast(&log->prep_cond);
	pthread_mutex_unlock(&log->prep_mu);
	return rc;
}

/*
 * Queue a segment that stopped being active for sealing; the caller's
 * reference goes with it. The thread drains the queue before it prepares
 * the next segment, and every rollover waits for that one, so the queue
 * holds one segment in practice; if it is ever full the seal is written
 * here instead (never waiting on the thread, which may itself wait for
 * log->mu to report a failure).
 */
void ls_prepare_seal_later(logstore_log *log, struct ls_segment *seg)
{
	pthread_mutex_lock(&log->prep_mu);
	bool queued = log->seal_count < LS_SEAL_QUEUE_MAX && log->prep_running;
	if (queued)
		log->seal_queue[log->seal_count++] = seg;
	pthread_cond_broadcast(&log->prep_cond);
	pthread_mutex_unlock(&log->prep_mu);
	if (!queued)
		seal_one(log, seg, false);
}

/*
 * Pause LS_PREP_PACE_NS before the next device step of the preparation
 * thread (module comment, "Pacing"). Returns at once when a rollover
 * waits for the prepared segment, and early when the log closes (the
 * caller checks prep_stop). Called by the thread only, prep_mu not held.
 */
void ls_prepare_pace(logstore_log *log)
{
	struct timespec until = ls_deadline_after(LS_PREP_PACE_NS);
	pthread_mutex_lock(&log->prep_mu);
	while (!log->prep_takers && !atomic_load(&log->prep_stop) &&
	       pthread_cond_timedwait(&log->prep_cond, &log->prep_mu,
				      &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&log->prep_mu);
}

/*
 * Wait until the thread has nothing to do: every queued seal written and
 * the prepared segment ready (or failed). Tests use it to make the
 * order of background I/O deterministic before injecting faults.
 */
void ls_prepare_wait_idle(logstore_log *log)
{
	pthread_mutex_lock(&log->prep_mu);
	while (log->prep_running &&
	       (log->seal_count || log->prep_busy || prepare_due(log)))
		pthread_cond_wait(&log->prep_cond, &log->prep_mu);
	pthread_mutex_unlock(&log->prep_mu);
}
