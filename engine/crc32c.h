/* SPDX-License-Identifier: MIT */
#ifndef LOGSTORE_CRC32C_H
#define LOGSTORE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C (Castagnoli) as format.h defines it. crc is the value returned
 * by an earlier call (0 to start), so ls_crc32c(ls_crc32c(0, a, n), b, m)
 * is the checksum of a followed by b. Uses SSE4.2 when the CPU has it.
 */
uint32_t ls_crc32c(uint32_t crc, const void *buf, size_t len);

/* The ways ls_crc32c can compute, each needing the CPU of the one before. */
enum ls_crc32c_path {
	LS_CRC32C_PATH_SW,    /* byte-wise table */
	LS_CRC32C_PATH_SSE42, /* one chain of crc32 */
	LS_CRC32C_PATH_CLMUL, /* three chains joined with pclmulqdq */
	LS_CRC32C_PATH_FOLD,  /* AVX-512 vpclmulqdq folding, one stream */
	LS_CRC32C_PATH_COUNT,
};

/*
 * For tests: make ls_crc32c use path from now on. Returns false, and
 * changes nothing, when this CPU lacks it. Not safe while another thread
 * is in ls_crc32c; the engine never calls it, so it keeps the best path
 * chosen at load.
 */
bool ls_crc32c_path_select(enum ls_crc32c_path path);

#endif
