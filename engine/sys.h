/* SPDX-License-Identifier: MIT */
/*
 * The engine's system calls and io_uring results go through this layer so
 * that a test can program them (fault injection): fail the Nth call of a
 * kind with an errno, make it write short, delay it, or hold it until the
 * test lets it go; and record what was written since the last completed
 * fsync of each file, to simulate a power loss (see ls_fault_power_loss).
 *
 * The wrappers complete EINTR (injected or real) and short writes
 * themselves, so callers see the whole operation or an error. Unused, the
 * layer costs a relaxed counter increment and one predictable branch on
 * a global per call.
 *
 * Everything named ls_fault_* except ls_fault_result and ls_fault_note_*
 * is for tests: programming a fault is not thread-safe against itself,
 * but is safe against the engine running in other threads.
 */
#ifndef LOGSTORE_SYS_H
#define LOGSTORE_SYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct io_uring;

enum ls_sys_op {
	LS_SYS_OPEN = 0,
	LS_SYS_PWRITE,	  /* each pwrite(2): zero-fill, header, seal, batch */
	LS_SYS_FDATASYNC, /* synchronous fdatasync/fsync */
	LS_SYS_FALLOCATE,
	LS_SYS_MMAP,
	LS_SYS_RENAME,
	LS_SYS_UNLINK,
	LS_SYS_URING_WRITE, /* result of an io_uring write completion */
	LS_SYS_URING_FSYNC, /* result of an io_uring fsync completion */
	LS_SYS_URING_ENTER, /* io_uring_submit_and_wait, before the call */
	LS_SYS_WRITEBACK,   /* sync_file_range: write back, no flush */
	LS_SYS_OP_COUNT,
};

/*
 * A retry loop on EINTR/EAGAIN gives up after this many tries in a row:
 * a signal storm that long is treated as the error it returns.
 */
#define LS_SYS_RETRY_MAX 1000

/*
 * Program a fault: calls nth .. nth + count - 1 of op from now (1 = the
 * next one) fail with -err. ls_fault_set is count 1. EINTR and EAGAIN are
 * retried by the engine, so they must not show outside it.
 */
void ls_fault_set(enum ls_sys_op op, uint64_t nth, int err);
void ls_fault_set_repeat(enum ls_sys_op op, uint64_t nth, uint64_t count,
			 int err);
/*
 * The nth call of op writes short_bytes less than asked (at least one
 * byte): LS_SYS_PWRITE really writes less, LS_SYS_URING_WRITE reports
 * less than the kernel wrote (the engine then writes the rest again).
 */
void ls_fault_set_short(enum ls_sys_op op, uint64_t nth, uint32_t short_bytes);
/* The nth call of op sleeps delay_ns first (a late completion). */
void ls_fault_set_delay(enum ls_sys_op op, uint64_t nth, int64_t delay_ns);
/*
 * The nth call of op blocks until ls_fault_release(op): a test can hold
 * a completion, do things meanwhile, and then let it finish.
 * ls_fault_wait_held waits until a call is held (true) or timeout_ns has
 * passed (false; a bound against hangs only).
 */
void ls_fault_set_hold(enum ls_sys_op op, uint64_t nth);
bool ls_fault_wait_held(enum ls_sys_op op, int64_t timeout_ns);
void ls_fault_release(enum ls_sys_op op);
/* Forget every programmed fault and counter; stops recording. */
void ls_fault_clear(void);
/* Number of calls of op seen since the last ls_fault_clear(). */
uint64_t ls_fault_calls(enum ls_sys_op op);

/* Returns the injected -errno for this call of op, or 0. */
int ls_fault_check(enum ls_sys_op op);
/*
 * For io_uring completions on fd: maps the kernel's result through the
 * faults; a successful LS_SYS_URING_FSYNC counts as a completed fsync of
 * fd for the recorder.
 */
int ls_fault_result(enum ls_sys_op op, int fd, int res);
/*
 * Pipelined fsyncs: an fsync covers only the writes that completed
 * before it started. The engine takes ls_fault_fsync_mark() when it
 * prepares an fsync and passes it with the completion's result to
 * ls_fault_result_fsync (LS_SYS_URING_FSYNC), which counts only writes
 * noted before the mark as synced.
 */
uint64_t ls_fault_fsync_mark(void);
int ls_fault_result_fsync(int fd, int res, uint64_t mark);

/* ---- power-loss recording ---- */

/*
 * Start recording: from now on every write through this layer (and every
 * io_uring write noted with ls_fault_note_write) keeps the bytes it
 * overwrote until an fdatasync/fsync of its file completes, and every
 * create and rename keeps its undo until its directory is fsynced.
 * Returns 0 or -ENOMEM.
 */
int ls_fault_record_start(void);
/* Called by the engine before it submits an io_uring write. */
void ls_fault_note_write(int fd, const void *buf, size_t len, uint64_t off);

enum ls_power_loss {
	LS_POWER_LOSS_DROP_ALL,	     /* no unsynced write, no unsynced dir op */
	LS_POWER_LOSS_PREFIX_BYTE,   /* a prefix of the writes, the last torn
					at a random byte */
	LS_POWER_LOSS_PREFIX_SECTOR, /* the same, torn at a 512-byte sector */
	LS_POWER_LOSS_SECTORS_RANDOM, /* each sector holds a random prefix of
					 the unsynced writes to it */
	LS_POWER_LOSS_MODE_COUNT,
};

struct ls_power_loss_report {
	uint64_t writes_unsynced; /* writes not covered by an fsync */
	uint64_t bytes_unsynced;
	uint64_t bytes_lost; /* unsynced bytes put back to what they were */
	uint64_t dir_ops_unsynced;
	uint64_t dir_ops_undone;
	bool overflow; /* too much to record: the result is not trustworthy */
};

/*
 * Simulate a power loss now: stop recording, then put the files back to
 * what a disk may hold after losing power (mode; random choices from
 * seed): every write since its file's last completed fsync is undone,
 * except what the mode keeps, and directory operations not followed by a
 * directory fsync are undone from the newest back to a random point
 * (all of them for LS_POWER_LOSS_DROP_ALL). The engine's handle must be
 * abandoned first (no close that writes). Returns 0 or -errno.
 */
int ls_fault_power_loss(enum ls_power_loss mode, uint64_t seed,
			struct ls_power_loss_report *report);

/* ---- wrappers ---- */

int ls_sys_open(const char *path, int flags, mode_t mode); /* fd or -errno */
int ls_sys_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int ls_sys_fdatasync(int fd);
/*
 * fdatasync that the power-loss recorder counts as covering only the
 * writes noted before mark (ls_fault_fsync_mark()): another thread's
 * write that lands while it runs stays unsynced for the recorder.
 */
int ls_sys_fdatasync_marked(int fd, uint64_t mark);
int ls_sys_fsync(int fd);
int ls_sys_fallocate(int fd, uint64_t len);
/*
 * Write back the dirty pages of [off, off + len) and wait for them
 * (sync_file_range): no device flush, so nothing becomes durable and the
 * power-loss recorder is not told. Returns 0 or -errno.
 */
int ls_sys_writeback(int fd, uint64_t off, uint64_t len);
int ls_sys_mmap(int fd, size_t len, int prot, void **out);
int ls_sys_rename(const char *from, const char *to);
int ls_sys_unlink(const char *path);
/* io_uring_submit_and_wait with EINTR completed; submitted count or -errno */
int ls_sys_uring_submit_and_wait(struct io_uring *ring, unsigned n);

#endif
