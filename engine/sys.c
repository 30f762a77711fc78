/* SPDX-License-Identifier: MIT */
/*
 * System calls with fault injection and power-loss recording (see sys.h).
 *
 * Faults: each wrapper asks fault_take() before each system call it
 * makes; a programmed error is returned without making the call, an
 * injected EINTR is retried like a real one, a short write writes less,
 * a delay sleeps and a hold blocks until the test releases it. When no
 * fault is armed, fault_take() is a relaxed counter increment and one
 * branch on a global.
 *
 * Recording (tests only): a list of the writes not yet covered by a
 * completed fsync of their file, each with the bytes it overwrote and the
 * bytes it wrote, and a list of creates and renames not yet covered by an
 * fsync of their directory. Files are known by device and inode, through
 * a dup of the first fd seen, so a power loss can be applied after the
 * engine's handle is gone and after renames. All of it under rec_mu; the
 * memory is bounded by LS_FAULT_RECORD_BYTES_MAX (past it, the report
 * says overflow).
 *
 * Sections: faults; recording; power loss; wrappers.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- faults ---- */

struct fault {
	_Atomic uint64_t calls;	   /* calls seen since ls_fault_clear */
	_Atomic uint64_t fail_at;  /* first call number that fails; 0 = none */
	_Atomic uint64_t fail_end; /* first call number past the failing ones */
	_Atomic int err;	   /* errno to inject */
	_Atomic uint32_t short_by; /* bytes to cut from a write instead */
	_Atomic uint64_t delay_at; /* call number that sleeps; 0 = none */
	_Atomic int64_t delay_ns;
	_Atomic uint64_t hold_at; /* call number that blocks; 0 = none */
	bool held;		  /* a call is blocked; hold_mu */
	bool released;		  /* hold_mu */
};

static struct fault faults[LS_SYS_OP_COUNT];
static _Atomic int faults_armed; /* any fault set: skips the work if not */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;

static void recording_stop(void);

void ls_fault_set_repeat(enum ls_sys_op op, uint64_t nth, uint64_t count,
			 int err)
{
	uint64_t now = atomic_load(&faults[op].calls);
	atomic_store(&faults[op].err, err);
	atomic_store(&faults[op].short_by, 0);
	atomic_store(&faults[op].fail_end, now + nth + count);
	atomic_store(&faults[op].fail_at, now + nth);
	atomic_store(&faults_armed, 1);
}

void ls_fault_set(enum ls_sys_op op, uint64_t nth, int err)
{
	ls_fault_set_repeat(op, nth, 1, err);
}

void ls_fault_set_short(enum ls_sys_op op, uint64_t nth, uint32_t short_bytes)
{
	uint64_t now = atomic_load(&faults[op].calls);
	atomic_store(&faults[op].err, 0);
	atomic_store(&faults[op].short_by, short_bytes);
	atomic_store(&faults[op].fail_end, now + nth + 1);
	atomic_store(&faults[op].fail_at, now + nth);
	atomic_store(&faults_armed, 1);
}

void ls_fault_set_delay(enum ls_sys_op op, uint64_t nth, int64_t delay_ns)
{
	uint64_t now = atomic_load(&faults[op].calls);
	atomic_store(&faults[op].delay_ns, delay_ns);
	atomic_store(&faults[op].delay_at, now + nth);
	atomic_store(&faults_armed, 1);
}

void ls_fault_set_hold(enum ls_sys_op op, uint64_t nth)
{
	pthread_mutex_lock(&hold_mu);
	faults[op].held = false;
	faults[op].released = false;
	pthread_mutex_unlock(&hold_mu);
	uint64_t now = atomic_load(&faults[op].calls);
	atomic_store(&faults[op].hold_at, now + nth);
	atomic_store(&faults_armed, 1);
}

static struct timespec deadline_in(int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t total = (int64_t)ts.tv_nsec + ns % 1000000000LL;
	ts.tv_sec += (time_t)(ns / 1000000000LL + total / 1000000000LL);
	ts.tv_nsec = (long)(total % 1000000000LL);
	return ts;
}

bool ls_fault_wait_held(enum ls_sys_op op, int64_t timeout_ns)
{
	struct timespec ts = deadline_in(timeout_ns);
	int rc = 0;
	pthread_mutex_lock(&hold_mu);
	while (!faults[op].held && rc == 0)
		rc = pthread_cond_timedwait(&hold_cond, &hold_mu, &ts);
	bool held = faults[op].held;
	pthread_mutex_unlock(&hold_mu);
	return held;
}

void ls_fault_release(enum ls_sys_op op)
{
	pthread_mutex_lock(&hold_mu);
	faults[op].released = true;
	atomic_store(&faults[op].hold_at, 0);
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_mu);
}

void ls_fault_clear(void)
{
	atomic_store(&faults_armed, 0);
	for (int i = 0; i < LS_SYS_OP_COUNT; i++) {
		atomic_store(&faults[i].fail_at, 0);
		atomic_store(&faults[i].fail_end, 0);
		atomic_store(&faults[i].calls, 0);
		atomic_store(&faults[i].err, 0);
		atomic_store(&faults[i].short_by, 0);
		atomic_store(&faults[i].delay_at, 0);
		ls_fault_release((enum ls_sys_op)i);
	}
	recording_stop();
}

uint64_t ls_fault_calls(enum ls_sys_op op)
{
	return atomic_load(&faults[op].calls);
}

static void hold_here(enum ls_sys_op op)
{
	pthread_mutex_lock(&hold_mu);
	faults[op].held = true;
	pthread_cond_broadcast(&hold_cond);
	while (!faults[op].released)
		pthread_cond_wait(&hold_cond, &hold_mu);
	faults[op].held = false;
	pthread_mutex_unlock(&hold_mu);
}

/*
 * Count this call of op and apply a delay or hold programmed for it.
 * Returns the errno to inject (0 for none) and sets *short_by.
 */
static int fault_take(enum ls_sys_op op, uint32_t *short_by)
{
	struct fault *f = &faults[op];
	uint64_t n =
	    atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed) + 1;
	*short_by = 0;
	if (!atomic_load_explicit(&faults_armed, memory_order_relaxed))
		return 0;
	if (atomic_load(&f->delay_at) == n) {
		int64_t ns = atomic_load(&f->delay_ns);
		struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000LL),
				      .tv_nsec = (long)(ns % 1000000000LL)};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (atomic_load(&f->hold_at) == n)
		hold_here(op);
	uint64_t at = atomic_load(&f->fail_at);
	if (at == 0 || n < at || n >= atomic_load(&f->fail_end))
		return 0;
	*short_by = atomic_load(&f->short_by);
	return atomic_load(&f->err);
}

int ls_fault_check(enum ls_sys_op op)
{
	uint32_t short_by;
	int err = fault_take(op, &short_by);
	return err ? -err : 0;
}

/* ---- recording ---- */

/* Recorded bytes (old + new) at most: tests write megabytes, not more. */
#define LS_FAULT_RECORD_BYTES_MAX (256u * 1024 * 1024)
/* Files known to the recorder at most (each holds a dup'ed fd). */
#define LS_FAULT_FILES_MAX 4096

struct rec_file {
	dev_t dev;
	ino_t ino;
	int fd; /* our dup: still open after the engine's handle is gone */
};

struct rec_write {
	uint64_t serial; /* order in which the writes were noted */
	size_t file;	 /* in rec.files */
	uint64_t off;
	size_t len;
	uint8_t *old; /* the bytes before the write (zeros past EOF) */
	uint8_t *new;
};

enum rec_dir_kind { REC_CREATE, REC_RENAME };

struct rec_dir_op {
	enum rec_dir_kind kind;
	char *path; /* created file, or rename source */
	char *to;   /* rename target */
	dev_t dir_dev;
	ino_t dir_ino;
};

static struct {
	pthread_mutex_t mu;
	_Atomic int on;
	struct rec_file files[LS_FAULT_FILES_MAX];
	size_t nfiles;
	struct rec_write *writes;
	size_t nwrites, cap_writes;
	struct rec_dir_op *dir_ops;
	size_t ndir_ops, cap_dir_ops;
	uint64_t bytes;
	bool overflow;
	_Atomic uint64_t serial; /* writes noted so far */
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void rec_free_locked(void)
{
	for (size_t i = 0; i < rec.nwrites; i++) {
		free(rec.writes[i].old);
		free(rec.writes[i].new);
	}
	for (size_t i = 0; i < rec.ndir_ops; i++) {
		free(rec.dir_ops[i].path);
		free(rec.dir_ops[i].to);
	}
	for (size_t i = 0; i < rec.nfiles; i++)
		close(rec.files[i].fd);
	free(rec.writes);
	free(rec.dir_ops);
	rec.writes = NULL;
	rec.dir_ops = NULL;
	rec.nwrites = rec.cap_writes = rec.ndir_ops = rec.cap_dir_ops = 0;
	rec.nfiles = 0;
	rec.bytes = 0;
	rec.overflow = false;
}

static void recording_stop(void)
{
	pthread_mutex_lock(&rec.mu);
	atomic_store(&rec.on, 0);
	rec_free_locked();
	pthread_mutex_unlock(&rec.mu);
}

int ls_fault_record_start(void)
{
	pthread_mutex_lock(&rec.mu);
	rec_free_locked();
	atomic_store(&rec.on, 1);
	pthread_mutex_unlock(&rec.mu);
	return 0;
}

static bool recording(void)
{
	return atomic_load_explicit(&rec.on, memory_order_relaxed) != 0;
}

/* The recorder's index of fd's file, adding it; -1 when full. rec.mu. */
static long rec_file_of(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	for (size_t i = 0; i < rec.nfiles; i++)
		if (rec.files[i].dev == st.st_dev &&
		    rec.files[i].ino == st.st_ino)
			return (long)i;
	if (rec.nfiles == LS_FAULT_FILES_MAX)
		return -1;
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return -1;
	rec.files[rec.nfiles] =
	    (struct rec_file){.dev = st.st_dev, .ino = st.st_ino, .fd = dup_fd};
	return (long)rec.nfiles++;
}

static void rec_write_locked(int fd, const void *buf, size_t len, uint64_t off)
{
	long file = rec_file_of(fd);
	if (file < 0 || rec.bytes + 2 * len > LS_FAULT_RECORD_BYTES_MAX) {
		rec.overflow = true;
		return;
	}
	if (rec.nwrites == rec.cap_writes) {
		size_t cap = rec.cap_writes ? rec.cap_writes * 2 : 256;
		void *p = realloc(rec.writes, cap * sizeof(*rec.writes));
		if (!p) {
			rec.overflow = true;
			return;
		}
		rec.writes = p;
		rec.cap_writes = cap;
	}
	struct rec_write w = {.serial = atomic_fetch_add(&rec.serial, 1),
			      .file = (size_t)file,
			      .off = off,
			      .len = len};
	w.old = calloc(1, len ? len : 1);
	w.new = malloc(len ? len : 1);
	if (!w.old || !w.new) {
		free(w.old);
		free(w.new);
		rec.overflow = true;
		return;
	}
	memcpy(w.new, buf, len);
	/* Past the end of the file the old bytes are zeros (calloc). */
	if (pread(rec.files[file].fd, w.old, len, (off_t)off) < 0)
		rec.overflow = true;
	rec.writes[rec.nwrites++] = w;
	rec.bytes += 2 * len;
}

void ls_fault_note_write(int fd, const void *buf, size_t len, uint64_t off)
{
	if (!recording())
		return;
	pthread_mutex_lock(&rec.mu);
	if (atomic_load(&rec.on))
		rec_write_locked(fd, buf, len, off);
	pthread_mutex_unlock(&rec.mu);
}

/* Device and inode of the directory holding path. */
static int parent_of(const char *path, dev_t *dev, ino_t *ino)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	struct stat st;
	int rc = stat(dirname(copy), &st) < 0 ? -errno : 0;
	free(copy);
	*dev = st.st_dev;
	*ino = st.st_ino;
	return rc;
}

static void note_dir_op(enum rec_dir_kind kind, const char *path,
			const char *to)
{
	if (!recording())
		return;
	struct rec_dir_op op = {.kind = kind};
	op.path = strdup(path);
	op.to = to ? strdup(to) : NULL;
	pthread_mutex_lock(&rec.mu);
	bool ok = atomic_load(&rec.on) && op.path && (op.to || !to) &&
		  parent_of(path, &op.dir_dev, &op.dir_ino) == 0;
	if (ok && rec.ndir_ops == rec.cap_dir_ops) {
		size_t cap = rec.cap_dir_ops ? rec.cap_dir_ops * 2 : 64;
		void *p = realloc(rec.dir_ops, cap * sizeof(*rec.dir_ops));
		ok = p != NULL;
		if (ok) {
			rec.dir_ops = p;
			rec.cap_dir_ops = cap;
		}
	}
	if (ok) {
		rec.dir_ops[rec.ndir_ops++] = op;
	} else {
		rec.overflow = rec.overflow || atomic_load(&rec.on);
		free(op.path);
		free(op.to);
	}
	pthread_mutex_unlock(&rec.mu);
}

/*
 * An fsync of fd completed: its file's writes noted before mark are
 * durable (all of them for a synchronous fsync), or, for a directory,
 * the creates and renames in it.
 */
static void note_synced(int fd, uint64_t mark)
{
	if (!recording())
		return;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&rec.mu);
	size_t keep = 0;
	if (S_ISDIR(st.st_mode)) {
		for (size_t i = 0; i < rec.ndir_ops; i++) {
			struct rec_dir_op *op = &rec.dir_ops[i];
			if (op->dir_dev == st.st_dev &&
			    op->dir_ino == st.st_ino) {
				free(op->path);
				free(op->to);
			} else {
				rec.dir_ops[keep++] = *op;
			}
		}
		rec.ndir_ops = keep;
	} else {
		for (size_t i = 0; i < rec.nwrites; i++) {
			struct rec_write *w = &rec.writes[i];
			const struct rec_file *f = &rec.files[w->file];
			if (f->dev == st.st_dev && f->ino == st.st_ino &&
			    w->serial < mark) {
				rec.bytes -= 2 * w->len;
				free(w->old);
				free(w->new);
			} else {
				rec.writes[keep++] = *w;
			}
		}
		rec.nwrites = keep;
	}
	pthread_mutex_unlock(&rec.mu);
}

int ls_fault_result(enum ls_sys_op op, int fd, int res)
{
	uint32_t cut;
	int err = fault_take(op, &cut);
	if (err)
		res = -err;
	else if (res > 0 && cut > 0)
		res = (uint32_t)res > cut ? res - (int)cut : 1;
	if (op == LS_SYS_URING_FSYNC && res == 0)
		note_synced(fd, UINT64_MAX);
	return res;
}

uint64_t ls_fault_fsync_mark(void)
{
	return atomic_load_explicit(&rec.serial, memory_order_relaxed);
}

int ls_fault_result_fsync(int fd, int res, uint64_t mark)
{
	uint32_t cut;
	int err = fault_take(LS_SYS_URING_FSYNC, &cut);
	if (err)
		res = -err;
	if (res == 0)
		note_synced(fd, mark);
	return res;
}

/* ---- power loss ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int put_bytes(const struct rec_write *w, const uint8_t *src,
		     uint64_t from, uint64_t to)
{
	int fd = rec.files[w->file].fd;
	if (to <= from)
		return 0;
	ssize_t n = pwrite(fd, src + from, to - from, (off_t)(w->off + from));
	return n == (ssize_t)(to - from) ? 0 : -EIO;
}

/* Bytes of w to keep: a prefix of it, or none. */
static uint64_t torn_prefix(const struct rec_write *w, bool sector,
			    uint64_t *rng)
{
	uint64_t keep = rng_next(rng) % (w->len + 1);
	if (sector) {
		/* Cut at a sector boundary of the file, not of the write. */
		uint64_t end = (w->off + keep) & ~(uint64_t)511;
		keep = end > w->off ? end - w->off : 0;
	}
	return keep;
}

/*
 * The number of the first unsynced write that did not reach the sector
 * of file at off: the disk writes a whole sector from the page cache,
 * so a sector holds the bytes of some prefix of the writes to it.
 */
static size_t sector_cut(uint64_t seed, size_t file, uint64_t off, size_t n)
{
	uint64_t s = seed ^ ((uint64_t)file << 48) ^ (off >> 9);
	return (size_t)(rng_next(&s) % (n + 1));
}

/* Re-apply what the mode keeps of the undone writes, oldest first. */
static int keep_writes(enum ls_power_loss mode, uint64_t *rng,
		       struct ls_power_loss_report *r)
{
	size_t n = rec.nwrites;
	size_t torn = n ? (size_t)(rng_next(rng) % n) : 0;
	uint64_t seed = rng_next(rng);
	int rc = 0;
	r->bytes_lost = r->bytes_unsynced;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct rec_write *w = &rec.writes[i];
		if (mode == LS_POWER_LOSS_SECTORS_RANDOM) {
			uint64_t from = 0;
			while (from < w->len && !rc) {
				uint64_t to =
				    ((w->off + from) | 511) + 1 - w->off;
				to = to < w->len ? to : w->len;
				if (i < sector_cut(seed, w->file, w->off + from,
						   n)) {
					rc = put_bytes(w, w->new, from, to);
					r->bytes_lost -= to - from;
				}
				from = to;
			}
			continue;
		}
		if (mode == LS_POWER_LOSS_DROP_ALL || i > torn)
			break;
		bool sector = mode == LS_POWER_LOSS_PREFIX_SECTOR;
		uint64_t keep = i < torn ? w->len : torn_prefix(w, sector, rng);
		rc = put_bytes(w, w->new, 0, keep);
		r->bytes_lost -= keep;
	}
	return rc;
}

/* Undo the newest unsynced directory operations, back to a random one. */
static int undo_dir_ops(enum ls_power_loss mode, uint64_t *rng,
			struct ls_power_loss_report *r)
{
	size_t n = rec.ndir_ops;
	size_t survive = mode == LS_POWER_LOSS_DROP_ALL
			     ? 0
			     : (size_t)(rng_next(rng) % (n + 1));
	for (size_t i = n; i-- > survive;) {
		const struct rec_dir_op *op = &rec.dir_ops[i];
		int rc = op->kind == REC_RENAME ? rename(op->to, op->path)
						: unlink(op->path);
		if (rc < 0 && errno != ENOENT)
			return -errno;
		r->dir_ops_undone++;
	}
	return 0;
}

int ls_fault_power_loss(enum ls_power_loss mode, uint64_t seed,
			struct ls_power_loss_report *report)
{
	struct ls_power_loss_report r = {0};
	uint64_t rng = seed;
	pthread_mutex_lock(&rec.mu);
	atomic_store(&rec.on, 0);
	r.overflow = rec.overflow;
	r.writes_unsynced = rec.nwrites;
	r.dir_ops_unsynced = rec.ndir_ops;
	int rc = 0;
	for (size_t i = rec.nwrites; i-- > 0 && !rc;) {
		const struct rec_write *w = &rec.writes[i];
		r.bytes_unsynced += w->len;
		rc = put_bytes(w, w->old, 0, w->len);
	}
	if (!rc)
		rc = keep_writes(mode, &rng, &r);
	for (size_t i = 0; i < rec.nfiles && !rc; i++)
		rc = fsync(rec.files[i].fd) < 0 ? -errno : 0;
	if (!rc)
		rc = undo_dir_ops(mode, &rng, &r);
	rec_free_locked();
	pthread_mutex_unlock(&rec.mu);
	if (report)
		*report = r;
	return rc;
}

/* ---- wrappers ---- */

int ls_sys_open(const char *path, int flags, mode_t mode)
{
	bool created = (flags & O_CREAT) && recording() && access(path, F_OK);
	int fd = -EINTR;
	for (int tries = 0; tries < LS_SYS_RETRY_MAX && fd == -EINTR; tries++) {
		fd = ls_fault_check(LS_SYS_OPEN);
		if (fd)
			continue;
		fd = open(path, flags | O_CLOEXEC, mode);
		if (fd < 0)
			fd = -errno;
	}
	if (fd >= 0 && created)
		note_dir_op(REC_CREATE, path, NULL);
	return fd;
}

int ls_sys_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	if (recording())
		ls_fault_note_write(fd, buf, len, off);
	const char *p = buf;
	int tries = 0;
	while (len > 0) {
		if (tries++ == LS_SYS_RETRY_MAX)
			return -EINTR;
		uint32_t cut;
		int err = fault_take(LS_SYS_PWRITE, &cut);
		if (err == EINTR)
			continue;
		if (err)
			return -err;
		size_t ask = cut == 0 ? len : len > cut ? len - cut : 1;
		ssize_t n = pwrite(fd, p, ask, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		tries = 0;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * fdatasync and fsync: an EINTR means the call was interrupted before it
 * finished, not that write-back failed, so it is made again. Any other
 * error is returned and never retried: after EIO the page state is
 * unknown (STYLE.md rule 5).
 */
static int sync_fd(int fd, bool data_only, uint64_t mark)
{
	for (int tries = 0; tries < LS_SYS_RETRY_MAX; tries++) {
		int rc = ls_fault_check(LS_SYS_FDATASYNC);
		if (rc == -EINTR)
			continue;
		if (rc)
			return rc;
		rc = data_only ? fdatasync(fd) : fsync(fd);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		note_synced(fd, mark);
		return 0;
	}
	return -EINTR;
}

int ls_sys_fdatasync(int fd)
{
	return sync_fd(fd, true, UINT64_MAX);
}

int ls_sys_fdatasync_marked(int fd, uint64_t mark)
{
	return sync_fd(fd, true, mark);
}

int ls_sys_fsync(int fd)
{
	return sync_fd(fd, false, UINT64_MAX);
}

int ls_sys_fallocate(int fd, uint64_t len)
{
	for (int tries = 0; tries < LS_SYS_RETRY_MAX; tries++) {
		int rc = ls_fault_check(LS_SYS_FALLOCATE);
		if (rc == -EINTR)
			continue;
		if (rc)
			return rc;
		rc = posix_fallocate(fd, 0, (off_t)len);
		if (rc != EINTR)
			return -rc;
	}
	return -EINTR;
}

int ls_sys_writeback(int fd, uint64_t off, uint64_t len)
{
	for (int tries = 0; tries < LS_SYS_RETRY_MAX; tries++) {
		int rc = ls_fault_check(LS_SYS_WRITEBACK);
		if (rc == -EINTR)
			continue;
		if (rc)
			return rc;
		if (sync_file_range(fd, (off_t)off, (off_t)len,
				    SYNC_FILE_RANGE_WAIT_BEFORE |
					SYNC_FILE_RANGE_WRITE |
					SYNC_FILE_RANGE_WAIT_AFTER) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
	return -EINTR;
}

int ls_sys_mmap(int fd, size_t len, int prot, void **out)
{
	int rc;
	int tries = 0;
	while ((rc = ls_fault_check(LS_SYS_MMAP)) == -EINTR &&
	       ++tries < LS_SYS_RETRY_MAX)
		;
	if (rc)
		return rc;
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int ls_sys_rename(const char *from, const char *to)
{
	int rc;
	int tries = 0;
	while ((rc = ls_fault_check(LS_SYS_RENAME)) == -EINTR &&
	       ++tries < LS_SYS_RETRY_MAX)
		;
	if (rc)
		return rc;
	if (rename(from, to) < 0)
		return -errno;
	note_dir_op(REC_RENAME, from, to);
	return 0;
}

int ls_sys_unlink(const char *path)
{
	int rc;
	int tries = 0;
	while ((rc = ls_fault_check(LS_SYS_UNLINK)) == -EINTR &&
	       ++tries < LS_SYS_RETRY_MAX)
		;
	if (rc)
		return rc;
	return unlink(path) < 0 ? -errno : 0;
}

int ls_sys_uring_submit_and_wait(struct io_uring *ring, unsigned n)
{
	for (int tries = 0; tries < LS_SYS_RETRY_MAX; tries++) {
		int rc = ls_fault_check(LS_SYS_URING_ENTER);
		if (rc == -EINTR || rc == -EAGAIN)
			continue; /* as if interrupted before submitting */
		if (rc)
			return rc;
		rc = io_uring_submit_and_wait(ring, n);
		if (rc != -EINTR)
			return rc;
	}
	return -EINTR;
}
