/* SPDX-License-Identifier: MIT */
/*
 * System calls with fault injection (see sys.h).
 *
 * Each wrapper asks ls_fault_check() first; a programmed fault returns its
 * -errno without making the call. Interrupted calls (EINTR) and short
 * writes are completed here, so callers see either the whole operation
 * or an error.
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

struct fault {
	_Atomic uint64_t calls;	   /* calls seen since ls_fault_clear */
	_Atomic uint64_t fail_at;  /* call number that fails; 0 = none */
	_Atomic int err;	   /* errno to inject */
	_Atomic uint32_t short_by; /* bytes to cut from a write instead */
};

static struct fault faults[LS_SYS_OP_COUNT];
static _Atomic int faults_armed; /* any fail_at set: skips the work if not */

void ls_fault_set(enum ls_sys_op op, uint64_t nth, int err)
{
	uint64_t now = atomic_load(&faults[op].calls);
	atomic_store(&faults[op].err, err);
	atomic_store(&faults[op].short_by, 0);
	atomic_store(&faults[op].fail_at, now + nth);
	atomic_store(&faults_armed, 1);
}

void ls_fault_set_short(enum ls_sys_op op, uint64_t nth, uint32_t short_bytes)
{
	uint64_t now = atomic_load(&faults[op].calls);
	atomic_store(&faults[op].err, 0);
	atomic_store(&faults[op].short_by, short_bytes);
	atomic_store(&faults[op].fail_at, now + nth);
	atomic_store(&faults_armed, 1);
}

void ls_fault_clear(void)
{
	atomic_store(&faults_armed, 0);
	for (int i = 0; i < LS_SYS_OP_COUNT; i++) {
		atomic_store(&faults[i].fail_at, 0);
		atomic_store(&faults[i].calls, 0);
		atomic_store(&faults[i].err, 0);
		atomic_store(&faults[i].short_by, 0);
	}
}

uint64_t ls_fault_calls(enum ls_sys_op op)
{
	return atomic_load(&faults[op].calls);
}

/* Counts the call; returns the fault's fail_at match (true) or false. */
static int fault_hit(enum ls_sys_op op)
{
	uint64_t n = atomic_fetch_add(&faults[op].calls, 1) + 1;
	if (!atomic_load_explicit(&faults_armed, memory_order_relaxed))
		return 0;
	uint64_t at = atomic_load(&faults[op].fail_at);
	return at != 0 && n == at;
}

int ls_fault_check(enum ls_sys_op op)
{
	if (!fault_hit(op))
		return 0;
	int err = atomic_load(&faults[op].err);
	return err ? -err : 0;
}

int ls_fault_result(enum ls_sys_op op, int res)
{
	if (!fault_hit(op))
		return res;
	int err = atomic_load(&faults[op].err);
	if (err)
		return -err;
	uint32_t cut = atomic_load(&faults[op].short_by);
	if (res > 0 && cut > 0)
		return (uint32_t)res > cut ? res - (int)cut : 1;
	return res;
}

int ls_sys_open(const char *path, int flags, mode_t mode)
{
	int rc = ls_fault_check(LS_SYS_OPEN);
	if (rc)
		return rc;
	int fd;
	do
		fd = open(path, flags | O_CLOEXEC, mode);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int ls_sys_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	int rc = ls_fault_check(LS_SYS_PWRITE);
	if (rc)
		return rc;
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int ls_sys_fdatasync(int fd)
{
	int rc = ls_fault_check(LS_SYS_FDATASYNC);
	if (rc)
		return rc;
	/* No retry on failure: after EIO the page state is unknown. */
	return fdatasync(fd) < 0 ? -errno : 0;
}

int ls_sys_fsync(int fd)
{
	int rc = ls_fault_check(LS_SYS_FDATASYNC);
	if (rc)
		return rc;
	return fsync(fd) < 0 ? -errno : 0;
}

int ls_sys_fallocate(int fd, uint64_t len)
{
	int rc = ls_fault_check(LS_SYS_FALLOCATE);
	if (rc)
		return rc;
	do
		rc = posix_fallocate(fd, 0, (off_t)len);
	while (rc == EINTR);
	return -rc;
}

int ls_sys_mmap(int fd, size_t len, int prot, void **out)
{
	int rc = ls_fault_check(LS_SYS_MMAP);
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
	int rc = ls_fault_check(LS_SYS_RENAME);
	if (rc)
		return rc;
	return rename(from, to) < 0 ? -errno : 0;
}

int ls_sys_unlink(const char *path)
{
	int rc = ls_fault_check(LS_SYS_UNLINK);
	if (rc)
		return rc;
	return unlink(path) < 0 ? -errno : 0;
}
