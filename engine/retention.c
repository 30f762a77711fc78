/* SPDX-License-Identifier: MIT */
/*
 * Removing segments: by first time, by retention, and from the
 * compaction thread.
 *
 * Only sealed segments are removed; the active one never is, so no entry
 * still inside a retention window is deleted (retention looks at a
 * segment's newest entry, not its first). A segment leaves the list under
 * segs_mu and is unlinked after; readers that still hold it keep its
 * mapping (an unlinked file stays readable while mapped) and read on to
 * its end. Unlinking costs tens of milliseconds here (MEASURED.md), which
 * is why the compaction thread does it, off the commit path.
 */
#include "internal.h"
#include "sys.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * Take segs[i] out of the list to remove it. One that still has its
 * prepared name (ls_segment_name_durable() had not run yet) is removed
 * under that name, and will not be renamed. segs_mu held.
 */
static struct ls_segment *take(logstore_log *log, size_t i)
{
	struct ls_segment *seg = ls_log_segs_take(log, i);
	if (atomic_exchange(&seg->name_pending, false))
		ls_segment_set_path(log, seg, seg->prep_name);
	return seg;
}

/* Unlink and release segments taken out of the list. */
static int segs_unlink(logstore_log *log, struct ls_segment **segs, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int err = ls_sys_unlink(segs[i]->path);
		if (err && err != -ENOENT && !rc)
			rc = ls_error(err, "segment %s: unlink: %s",
				      segs[i]->name, strerror(-err));
		ls_segment_unref(segs[i]);
	}
	atomic_fetch_add_explicit(&log->st_segments_removed, n,
				  memory_order_relaxed);
	return rc;
}

int logstore_log_remove_segment(logstore_log *log, int64_t first_time_ns)
{
	if (!log)
		return ls_error(-EINVAL, "log is required");
	if (log->read_only)
		return ls_log_read_only_error(log);
	pthread_mutex_lock(&log->segs_mu);
	size_t i = 0;
	while (i < log->nsegs && log->segs[i]->first_time != first_time_ns)
		i++;
	int rc = 0;
	struct ls_segment *seg = NULL;
	if (i == log->nsegs)
		rc = ls_error(LOGSTORE_ENOTFOUND,
			      "%s: no segment starts at time %" PRId64,
			      log->dir, first_time_ns);
	else if (!atomic_load(&log->segs[i]->sealed) || i + 1 == log->nsegs)
		rc = ls_error(LOGSTORE_EACTIVE,
			      "%s: segment %s is the active (newest) one",
			      log->dir, log->segs[i]->name);
	else
		seg = take(log, i);
	pthread_mutex_unlock(&log->segs_mu);
	return seg ? segs_unlink(log, &seg, 1) : rc;
}

int logstore_log_remove_older_than(logstore_log *log, int64_t cutoff_ns,
				   size_t *removed)
{
	if (removed)
		*removed = 0;
	if (!log)
		return ls_error(-EINVAL, "log is required");
	if (log->read_only)
		return ls_log_read_only_error(log);
	pthread_mutex_lock(&log->segs_mu);
	size_t n = 0;
	while (n + 1 < log->nsegs && atomic_load(&log->segs[n]->sealed) &&
	       log->segs[n]->last_time < cutoff_ns)
		n++;
	struct ls_segment **taken = n ? malloc(n * sizeof(*taken)) : NULL;
	if (n && !taken) {
		pthread_mutex_unlock(&log->segs_mu);
		return ls_error(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		taken[i] = take(log, 0);
	pthread_mutex_unlock(&log->segs_mu);
	int rc = segs_unlink(log, taken, n);
	free(taken);
	if (removed)
		*removed = n;
	return rc;
}

/* ---- compaction thread ---- */

static void *compactor_main(void *arg)
{
	logstore_log *log = arg;
	pthread_mutex_lock(&log->compactor_mu);
	while (!log->compactor_stop) {
		int64_t retention = log->compactor_retention_ns;
		pthread_mutex_unlock(&log->compactor_mu);
		/* Errors are not fatal here: the next round tries again. */
		logstore_log_remove_older_than(log, ls_log_now(log) - retention,
					       NULL);
		pthread_mutex_lock(&log->compactor_mu);
		struct timespec ts =
		    ls_deadline_after(log->compactor_interval_ns);
		while (!log->compactor_stop &&
		       pthread_cond_timedwait(&log->compactor_cond,
					      &log->compactor_mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&log->compactor_mu);
	return NULL;
}

static int compactor_start_locked(logstore_log *log, int64_t interval_ns,
				  int64_t retention_ns)
{
	pthread_mutex_lock(&log->compactor_mu);
	int rc = 0;
	if (log->compactor_running) {
		rc = ls_error(-EALREADY, "compactor already running");
	} else {
		log->compactor_interval_ns = interval_ns;
		log->compactor_retention_ns = retention_ns;
		log->compactor_stop = false;
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_destroy(&log->compactor_cond);
		pthread_cond_init(&log->compactor_cond, &ca);
		pthread_condattr_destroy(&ca);
		rc =
		    -pthread_create(&log->compactor, NULL, compactor_main, log);
		log->compactor_running = rc == 0;
		if (rc)
			ls_error(rc, "pthread_create: %s", strerror(-rc));
	}
	pthread_mutex_unlock(&log->compactor_mu);
	return rc;
}

/*
 * Start and stop hold compactor_ctl_mu from beginning to end (the join
 * included), so a start never reuses the condition variable or the
 * thread handle of a compactor that is still stopping.
 */
int logstore_compactor_start(logstore_log *log, int64_t interval_ns,
			     int64_t retention_ns)
{
	if (!log || interval_ns <= 0 || retention_ns < 0)
		return ls_error(-EINVAL,
				"interval must be > 0, retention >= 0");
	if (log->read_only)
		return ls_log_read_only_error(log);
	pthread_mutex_lock(&log->compactor_ctl_mu);
	int rc = compactor_start_locked(log, interval_ns, retention_ns);
	pthread_mutex_unlock(&log->compactor_ctl_mu);
	return rc;
}

int logstore_compactor_stop(logstore_log *log)
{
	if (!log)
		return ls_error(-EINVAL, "log is required");
	pthread_mutex_lock(&log->compactor_ctl_mu);
	pthread_mutex_lock(&log->compactor_mu);
	bool running = log->compactor_running;
	log->compactor_stop = true;
	pthread_cond_broadcast(&log->compactor_cond);
	pthread_mutex_unlock(&log->compactor_mu);
	if (running)
		pthread_join(log->compactor, NULL);
	pthread_mutex_lock(&log->compactor_mu);
	log->compactor_running = false;
	pthread_mutex_unlock(&log->compactor_mu);
	pthread_mutex_unlock(&log->compactor_ctl_mu);
	if (!running)
		return ls_error(-ENOENT, "no compactor running");
	return 0;
}

void ls_compactor_fini(logstore_log *log)
{
	pthread_mutex_lock(&log->compactor_mu);
	bool running = log->compactor_running;
	pthread_mutex_unlock(&log->compactor_mu);
	if (running)
		logstore_compactor_stop(log);
}
