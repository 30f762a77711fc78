/* SPDX-License-Identifier: MIT */
#ifndef LOGSTORE_CRC32C_H
#define LOGSTORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C (Castagnoli) as format.h defines it. crc is the value returned
 * by an earlier call (0 to start), so ls_crc32c(ls_crc32c(0, a, n), b, m)
 * is the checksum of a followed by b. Uses SSE4.2 when the CPU has it.
 */
uint32_t ls_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
