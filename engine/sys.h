/* SPDX-License-Identifier: MIT */
/*
 * The engine's system calls and io_uring results go through this layer so
 * that a test can make the Nth call of a kind fail (fault injection).
 * Unused, it costs one predictable branch per call.
 */
#ifndef LOGSTORE_SYS_H
#define LOGSTORE_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ls_sys_op {
	LS_SYS_OPEN = 0,
	LS_SYS_PWRITE,	  /* synchronous writes: zero-fill, header, seal */
	LS_SYS_FDATASYNC, /* synchronous fdatasync/fsync */
	LS_SYS_FALLOCATE,
	LS_SYS_MMAP,
	LS_SYS_RENAME,
	LS_SYS_UNLINK,
	LS_SYS_URING_WRITE, /* result of an io_uring write completion */
	LS_SYS_URING_FSYNC, /* result of an io_uring fsync completion */
	LS_SYS_OP_COUNT,
};

/*
 * Program a fault: the nth call of op from now (1 = the next one) fails
 * with -err. For LS_SYS_URING_WRITE, err = 0 with short_bytes > 0 makes
 * that write complete short by short_bytes instead. Test-only; not
 * thread-safe against itself, safe against the engine.
 */
void ls_fault_set(enum ls_sys_op op, uint64_t nth, int err);
void ls_fault_set_short(enum ls_sys_op op, uint64_t nth, uint32_t short_bytes);
void ls_fault_clear(void);
/* Number of calls of op seen since the last ls_fault_clear(). */
uint64_t ls_fault_calls(enum ls_sys_op op);

/* Returns the injected -errno for this call of op, or 0. */
int ls_fault_check(enum ls_sys_op op);
/* For io_uring completions: maps the kernel's result through the faults. */
int ls_fault_result(enum ls_sys_op op, int res);

int ls_sys_open(const char *path, int flags, mode_t mode); /* fd or -errno */
int ls_sys_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
int ls_sys_fdatasync(int fd);
int ls_sys_fsync(int fd);
int ls_sys_fallocate(int fd, uint64_t len);
int ls_sys_mmap(int fd, size_t len, int prot, void **out);
int ls_sys_rename(const char *from, const char *to);
int ls_sys_unlink(const char *path);

#endif
