/*
 * mime_decode.c - transfer decoders and encoders, charset conversion.
 *
 * RFC 2045 section 6 (transfer encodings), RFC 4648 section 4 (base64),
 * POSIX uuencode.  Sees untrusted input (message bodies) after SMTP DATA
 * and when IMAP/JMAP serve decoded content; nothing here allocates more
 * than its output, and the output of a decoder is never larger than its
 * input.
 */
#include "mime/mime_decode.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"

#define B64_JUNK	(-1)
#define B64_PAD		(-2)

/* base64 decode table: value, B64_JUNK (-1) or B64_PAD (-2) */
static const signed char b64_dec[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -2, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* the same, pre-shifted for each place of a quad; bit 31 marks junk */
static const uint32_t b64_q0[256] = {
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x00f80000, 0x80000000, 0x80000000, 0x80000000, 0x00fc0000,
	0x00d00000, 0x00d40000, 0x00d80000, 0x00dc0000, 0x00e00000, 0x00e40000,
	0x00e80000, 0x00ec0000, 0x00f00000, 0x00f40000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000,
	0x00040000, 0x00080000, 0x000c0000, 0x00100000, 0x00140000, 0x00180000,
	0x001c0000, 0x00200000, 0x00240000, 0x00280000, 0x002c0000, 0x00300000,
	0x00340000, 0x00380000, 0x003c0000, 0x00400000, 0x00440000, 0x00480000,
	0x004c0000, 0x00500000, 0x00540000, 0x00580000, 0x005c0000, 0x00600000,
	0x00640000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x00680000, 0x006c0000, 0x00700000, 0x00740000, 0x00780000,
	0x007c0000, 0x00800000, 0x00840000, 0x00880000, 0x008c0000, 0x00900000,
	0x00940000, 0x00980000, 0x009c0000, 0x00a00000, 0x00a40000, 0x00a80000,
	0x00ac0000, 0x00b00000, 0x00b40000, 0x00b80000, 0x00bc0000, 0x00c00000,
	0x00c40000, 0x00c80000, 0x00cc0000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000,
};
static const uint32_t b64_q1[256] = {
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x0003e000, 0x80000000, 0x80000000, 0x80000000, 0x0003f000,
	0x00034000, 0x00035000, 0x00036000, 0x00037000, 0x00038000, 0x00039000,
	0x0003a000, 0x0003b000, 0x0003c000, 0x0003d000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000,
	0x00001000, 0x00002000, 0x00003000, 0x00004000, 0x00005000, 0x00006000,
	0x00007000, 0x00008000, 0x00009000, 0x0000a000, 0x0000b000, 0x0000c000,
	0x0000d000, 0x0000e000, 0x0000f000, 0x00010000, 0x00011000, 0x00012000,
	0x00013000, 0x00014000, 0x00015000, 0x00016000, 0x00017000, 0x00018000,
	0x00019000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x0001a000, 0x0001b000, 0x0001c000, 0x0001d000, 0x0001e000,
	0x0001f000, 0x00020000, 0x00021000, 0x00022000, 0x00023000, 0x00024000,
	0x00025000, 0x00026000, 0x00027000, 0x00028000, 0x00029000, 0x0002a000,
	0x0002b000, 0x0002c000, 0x0002d000, 0x0002e000, 0x0002f000, 0x00030000,
	0x00031000, 0x00032000, 0x00033000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000,
};
static const uint32_t b64_q2[256] = {
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x00000f80, 0x80000000, 0x80000000, 0x80000000, 0x00000fc0,
	0x00000d00, 0x00000d40, 0x00000d80, 0x00000dc0, 0x00000e00, 0x00000e40,
	0x00000e80, 0x00000ec0, 0x00000f00, 0x00000f40, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000,
	0x00000040, 0x00000080, 0x000000c0, 0x00000100, 0x00000140, 0x00000180,
	0x000001c0, 0x00000200, 0x00000240, 0x00000280, 0x000002c0, 0x00000300,
	0x00000340, 0x00000380, 0x000003c0, 0x00000400, 0x00000440, 0x00000480,
	0x000004c0, 0x00000500, 0x00000540, 0x00000580, 0x000005c0, 0x00000600,
	0x00000640, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x00000680, 0x000006c0, 0x00000700, 0x00000740, 0x00000780,
	0x000007c0, 0x00000800, 0x00000840, 0x00000880, 0x000008c0, 0x00000900,
	0x00000940, 0x00000980, 0x000009c0, 0x00000a00, 0x00000a40, 0x00000a80,
	0x00000ac0, 0x00000b00, 0x00000b40, 0x00000b80, 0x00000bc0, 0x00000c00,
	0x00000c40, 0x00000c80, 0x00000cc0, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000,
};
static const uint32_t b64_q3[256] = {
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x0000003e, 0x80000000, 0x80000000, 0x80000000, 0x0000003f,
	0x00000034, 0x00000035, 0x00000036, 0x00000037, 0x00000038, 0x00000039,
	0x0000003a, 0x0000003b, 0x0000003c, 0x0000003d, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x00000000,
	0x00000001, 0x00000002, 0x00000003, 0x00000004, 0x00000005, 0x00000006,
	0x00000007, 0x00000008, 0x00000009, 0x0000000a, 0x0000000b, 0x0000000c,
	0x0000000d, 0x0000000e, 0x0000000f, 0x00000010, 0x00000011, 0x00000012,
	0x00000013, 0x00000014, 0x00000015, 0x00000016, 0x00000017, 0x00000018,
	0x00000019, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x0000001a, 0x0000001b, 0x0000001c, 0x0000001d, 0x0000001e,
	0x0000001f, 0x00000020, 0x00000021, 0x00000022, 0x00000023, 0x00000024,
	0x00000025, 0x00000026, 0x00000027, 0x00000028, 0x00000029, 0x0000002a,
	0x0000002b, 0x0000002c, 0x0000002d, 0x0000002e, 0x0000002f, 0x00000030,
	0x00000031, 0x00000032, 0x00000033, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000, 0x80000000,
	0x80000000, 0x80000000, 0x80000000, 0x80000000,
};

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum mime_cte
mime_cte_parse(struct span v)
{
	size_t i = 0, j;

	/* skip CFWS: blanks, folds and a leading comment */
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' ||
	    v.p[i] == '\r' || v.p[i] == '\n'))
		i++;
	if (i < v.len && v.p[i] == '(') {
		int depth = 0;

		for (; i < v.len; i++) {
			if (v.p[i] == '(')
				depth++;
			else if (v.p[i] == ')' && --depth == 0) {
				i++;
				break;
			}
		}
		while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' ||
		    v.p[i] == '\r' || v.p[i] == '\n'))
			i++;
	}
	for (j = i; j < v.len && v.p[j] != ' ' && v.p[j] != '\t' &&
	    v.p[j] != '\r' && v.p[j] != '\n' && v.p[j] != '(' &&
	    v.p[j] != ';'; j++)
		;
	v = span_make(v.p + i, j - i);
	if (v.len == 0 || span_eq_str_ci(v, "7bit"))
		return MIME_CTE_7BIT;
	if (span_eq_str_ci(v, "8bit"))
		return MIME_CTE_8BIT;
	if (span_eq_str_ci(v, "binary"))
		return MIME_CTE_BINARY;
	if (span_eq_str_ci(v, "base64"))
		return MIME_CTE_BASE64;
	if (span_eq_str_ci(v, "quoted-printable"))
		return MIME_CTE_QP;
	if (span_eq_str_ci(v, "x-uuencode") || span_eq_str_ci(v, "x-uue") ||
	    span_eq_str_ci(v, "uuencode"))
		return MIME_CTE_UUENCODE;
	return MIME_CTE_UNKNOWN;
}

const char *
mime_cte_name(enum mime_cte cte)
{
	switch (cte) {
	case MIME_CTE_7BIT:	return "7bit";
	case MIME_CTE_8BIT:	return "8bit";
	case MIME_CTE_BINARY:	return "binary";
	case MIME_CTE_BASE64:	return "base64";
	case MIME_CTE_QP:	return "quoted-printable";
	case MIME_CTE_UUENCODE:	return "x-uuencode";
	case MIME_CTE_UNKNOWN:	break;
	}
	return "unknown";
}

int
mime_base64_decode(struct span in, struct buf *out, bool *errors_r)
{
	const uint8_t *p = in.p;
	size_t n = in.len, i = 0, room;
	uint8_t *o, *o0;
	uint32_t acc = 0;
	int k = 0, v;
	bool err = false;
	int rc = 0;

	room = n / 4 * 3 + 3;
	if (out->max - out->len < room)
		room = out->max - out->len;
	if ((o0 = buf_reserve(out, room)) == NULL)
		return -1;
	o = o0;
	while (i < n) {
		if (k == 0) {
			/* fast path: whole quads of alphabet characters;
			 * room for all of them was checked up front */
			size_t used = (size_t)(o - o0);
			size_t lim = room >= (n - i) / 4 * 3 + used ?
			    n : i + (room - used) / 3 * 4;

			while (i + 4 <= lim) {
				uint32_t w = b64_q0[p[i]] | b64_q1[p[i + 1]] |
				    b64_q2[p[i + 2]] | b64_q3[p[i + 3]];

				if (w & 0x80000000u)
					break;
				o[0] = (uint8_t)(w >> 16);
				o[1] = (uint8_t)(w >> 8);
				o[2] = (uint8_t)w;
				o += 3;
				i += 4;
			}
			if (i >= n)
				break;
		}
		v = b64_dec[p[i++]];
		if (v >= 0) {
			acc = acc << 6 | (uint32_t)v;
			if (++k == 4) {
				if ((size_t)(o - o0) + 3 > room) {
					rc = -1;
					break;
				}
				o[0] = (uint8_t)(acc >> 16);
				o[1] = (uint8_t)(acc >> 8);
				o[2] = (uint8_t)acc;
				o += 3;
				k = 0;
				acc = 0;
			}
		} else if (v == B64_PAD) {
			/* padding ends a quad early; decoding goes on after
			 * it, for messages that concatenate base64 blocks */
			if (k == 1)
				err = true;
			if (k >= 2) {
				if ((size_t)(o - o0) + 2 > room) {
					rc = -1;
					break;
				}
				if (k == 2)
					*o++ = (uint8_t)(acc >> 4);
				else {
					*o++ = (uint8_t)(acc >> 10);
					*o++ = (uint8_t)(acc >> 2);
				}
			}
			k = 0;
			acc = 0;
		} else if (p[i - 1] != '\n' && p[i - 1] != '\r' &&
		    p[i - 1] != ' ' && p[i - 1] != '\t')
			err = true;
	}
	if (rc == 0 && k > 0) {
		/* missing padding: keep what the last group holds */
		err = true;
		if (k >= 2 && (size_t)(o - o0) + 2 <= room) {
			if (k == 2)
				*o++ = (uint8_t)(acc >> 4);
			else {
				*o++ = (uint8_t)(acc >> 10);
				*o++ = (uint8_t)(acc >> 2);
			}
		} else if (k >= 2)
			rc = -1;
	}
	out->len += (size_t)(o - o0);
	out->data[out->len] = '\0';
	if (errors_r != NULL)
		*errors_r = err;
	return rc;
}

static inline int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)ascii_tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
mime_qp_decode(struct span in, struct buf *out, bool *errors_r)
{
	const uint8_t *p = in.p;
	size_t n = in.len, i = 0, line_out, room;
	uint8_t *o, *o0;
	bool err = false;

	/* the output is never longer than the input */
	room = n;
	if (out->max - out->len < room)
		return -1;
	if ((o0 = buf_reserve(out, room)) == NULL)
		return -1;
	o = o0;
	line_out = 0;
	while (i < n) {
		uint8_t c = p[i];

		if (c == '=') {
			int h, l;
			size_t j;

			if (i + 2 < n && (h = hexval(p[i + 1])) >= 0 &&
			    (l = hexval(p[i + 2])) >= 0) {
				*o++ = (uint8_t)(h << 4 | l);
				i += 3;
				/* an encoded blank is not padding */
				line_out = (size_t)(o - o0);
				continue;
			}
			/* soft line break: "=" then blanks then EOL/EOF */
			for (j = i + 1; j < n && (p[j] == ' ' || p[j] == '\t');
			    j++)
				;
			if (j == n) {
				i = n;
				continue;
			}
			if (p[j] == '\n' || (p[j] == '\r' && j + 1 < n &&
			    p[j + 1] == '\n')) {
				i = j + (p[j] == '\r' ? 2 : 1);
				line_out = (size_t)(o - o0);
				continue;
			}
			/* a bad escape is kept literally (RFC 2045 6.7 note) */
			err = true;
			*o++ = c;
			i++;
			continue;
		}
		if (c == '\n') {
			size_t e = (size_t)(o - o0);
			bool cr = e > line_out && o0[e - 1] == '\r';

			/* drop transport padding: blanks before the EOL */
			if (cr)
				e--;
			while (e > line_out && (o0[e - 1] == ' ' ||
			    o0[e - 1] == '\t'))
				e--;
			o = o0 + e;
			if (cr)
				*o++ = '\r';
			*o++ = '\n';
			i++;
			line_out = (size_t)(o - o0);
			continue;
		}
		/* plain run up to the next '=' or LF */
		{
			size_t j = i + 1;

			while (j < n && p[j] != '=' && p[j] != '\n')
				j++;
			memcpy(o, p + i, j - i);
			o += j - i;
			i = j;
		}
	}
	out->len += (size_t)(o - o0);
	out->data[out->len] = '\0';
	if (errors_r != NULL)
		*errors_r = err;
	return 0;
}

/* next_line - the line at *pos (without its EOL); advances *pos. */
static bool
next_line(struct span in, size_t *pos, struct span *line)
{
	const uint8_t *nl;
	size_t start = *pos, end;

	if (start >= in.len)
		return false;
	nl = memchr(in.p + start, '\n', in.len - start);
	end = nl != NULL ? (size_t)(nl - in.p) : in.len;
	*pos = nl != NULL ? end + 1 : in.len;
	if (end > start && in.p[end - 1] == '\r')
		end--;
	*line = span_make(in.p + start, end - start);
	return true;
}

/* uu_begin - is line "begin MODE NAME" (MODE octal)? */
static bool
uu_begin(struct span line, struct span *name_r)
{
	size_t i = 6, m;

	if (line.len < 8 || memcmp(line.p, "begin ", 6) != 0)
		return false;
	for (m = i; i < line.len && line.p[i] >= '0' && line.p[i] <= '7'; i++)
		;
	if (i == m || i >= line.len || line.p[i] != ' ')
		return false;
	i++;
	*name_r = span_trim(span_make(line.p + i, line.len - i));
	return true;
}

bool
mime_uu_find(struct span in, struct span *block_r, struct span *name_r)
{
	size_t pos = 0, start;
	struct span line;

	for (;;) {
		start = pos;
		if (!next_line(in, &pos, &line))
			return false;
		if (uu_begin(line, name_r))
			break;
	}
	while (next_line(in, &pos, &line)) {
		if (line.len == 3 && memcmp(line.p, "end", 3) == 0)
			break;
	}
	*block_r = span_make(in.p + start, pos - start);
	return true;
}

int
mime_uu_decode(struct span in, struct buf *out, struct span *name_r)
{
	struct span block, line;
	size_t pos = 0;
	uint8_t *o, *o0;

	if (!mime_uu_find(in, &block, name_r))
		return 0;
	if ((o0 = buf_reserve(out, block.len)) == NULL)
		return -1;
	o = o0;
	(void)next_line(block, &pos, &line);	/* the begin line */
	while (next_line(block, &pos, &line)) {
		size_t want, i;

		if (line.len == 0)
			continue;
		if (line.len == 3 && memcmp(line.p, "end", 3) == 0)
			break;
		want = (size_t)((line.p[0] - 0x20) & 0x3f);
		if (want == 0)
			continue;	/* the "`" line before "end" */
		/* each group of 4 characters carries 3 bytes; a short
		 * line (trailing blanks stripped in transit) ends early */
		for (i = 1; want > 0 && i < line.len; i += 4) {
			uint8_t c[4] = { 0, 0, 0, 0 };
			size_t k;

			for (k = 0; k < 4; k++)
				c[k] = i + k >= line.len ? 0 :
				    (uint8_t)((line.p[i + k] - 0x20) & 0x3f);
			*o++ = (uint8_t)(c[0] << 2 | c[1] >> 4);
			if (--want == 0)
				break;
			*o++ = (uint8_t)(c[1] << 4 | c[2] >> 2);
			if (--want == 0)
				break;
			*o++ = (uint8_t)(c[2] << 6 | c[3]);
			--want;
		}
	}
	out->len += (size_t)(o - o0);
	out->data[out->len] = '\0';
	return 1;
}

int
mime_decode_body(enum mime_cte cte, struct span in, struct buf *out,
    bool *errors_r)
{
	struct span name;
	int rc;

	if (errors_r != NULL)
		*errors_r = false;
	switch (cte) {
	case MIME_CTE_BASE64:
		return mime_base64_decode(in, out, errors_r);
	case MIME_CTE_QP:
		return mime_qp_decode(in, out, errors_r);
	case MIME_CTE_UUENCODE:
		rc = mime_uu_decode(in, out, &name);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
		break;
	default:
		break;
	}
	return buf_append(out, in.p, in.len);
}

/* ---- charsets ---- */

static bool
charset_is(struct span cs, const char *name)
{
	return span_eq_str_ci(cs, name);
}

static bool
charset_is_utf8(struct span cs)
{
	return charset_is(cs, "utf-8") || charset_is(cs, "utf8");
}

static bool
charset_is_ascii(struct span cs)
{
	return charset_is(cs, "us-ascii") || charset_is(cs, "ascii") ||
	    charset_is(cs, "ansi_x3.4-1968") ||
	    charset_is(cs, "ansi-x3.4-1968");
}

/*
 * A per-thread cache of open converters: iconv_open() costs far more than
 * converting a typical header word, and a mailbox uses few charsets.
 */
#define CS_CACHE	4
struct cs_slot {
	char	 name[40];
	iconv_t	 cd;
};
static __thread struct cs_slot cs_cache[CS_CACHE];
static __thread unsigned cs_next;
/* Closes a thread's converters when it exits (the value is its cache). */
static pthread_key_t cs_key;
static pthread_once_t cs_key_once = PTHREAD_ONCE_INIT;

static void
cs_cache_close(void *arg)
{
	struct cs_slot *cache = arg;
	size_t i;

	for (i = 0; i < CS_CACHE; i++) {
		if (cache[i].cd != NULL) {
			iconv_close(cache[i].cd);
			cache[i].cd = NULL;
		}
	}
}

static void
cs_key_create(void)
{
	if (pthread_key_create(&cs_key, cs_cache_close) != 0)
		fatal("pthread_key_create failed");
}

static iconv_t
cs_open(struct span cs)
{
	char name[40];
	size_t i;
	iconv_t cd;
	struct cs_slot *s;

	if (cs.len == 0 || cs.len >= sizeof(name))
		return (iconv_t)-1;
	for (i = 0; i < cs.len; i++) {
		uint8_t c = cs.p[i];

		/* only plausible charset name characters reach iconv */
		if (!ascii_isalnum(c) && c != '-' && c != '_' && c != '.' &&
		    c != ':')
			return (iconv_t)-1;
		name[i] = (char)ascii_tolower(c);
	}
	name[i] = '\0';
	for (i = 0; i < CS_CACHE; i++) {
		if (cs_cache[i].cd != NULL &&
		    strcmp(cs_cache[i].name, name) == 0) {
			/* reset the shift state */
			iconv(cs_cache[i].cd, NULL, NULL, NULL, NULL);
			return cs_cache[i].cd;
		}
	}
	cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return cd;
	if (cs_next == 0) {
		/* the thread's first converter: close them all at its exit */
		pthread_once(&cs_key_once, cs_key_create);
		pthread_setspecific(cs_key, cs_cache);
	}
	s = &cs_cache[cs_next++ % CS_CACHE];
	if (s->cd != NULL)
		iconv_close(s->cd);
	memcpy(s->name, name, strlen(name) + 1);
	s->cd = cd;
	return cd;
}

bool
mime_charset_known(struct span cs)
{
	if (charset_is_utf8(cs) || charset_is_ascii(cs))
		return true;
	return cs_open(cs) != (iconv_t)-1;
}

int
mime_charset_to_utf8(struct span cs, struct span in, struct buf *out)
{
	iconv_t cd;
	char *ip;
	size_t il;

	if (charset_is_utf8(cs) || charset_is_ascii(cs))
		return buf_append(out, in.p, in.len);
	if ((cd = cs_open(cs)) == (iconv_t)-1)
		return -2;
	ip = (char *)(uintptr_t)in.p;
	il = in.len;
	for (;;) {
		size_t chunk = il * 3 + 16, r, ol;
		uint8_t *w;
		char *op;
		bool flush = il == 0;

		if (chunk > out->max - out->len)
			chunk = out->max - out->len;
		if (chunk == 0 || (w = buf_reserve(out, chunk)) == NULL)
			return -1;
		op = (char *)w;
		ol = chunk;
		/* the last round flushes a stateful encoding's shift state */
		r = flush ? iconv(cd, NULL, NULL, &op, &ol) :
		    iconv(cd, &ip, &il, &op, &ol);
		out->len = (size_t)((uint8_t *)op - out->data);
		out->data[out->len] = '\0';
		if (r != (size_t)-1) {
			if (flush)
				return 0;
			continue;
		}
		if (errno == E2BIG) {
			if (ol == chunk)
				return -1;	/* no progress: ceiling */
			continue;
		}
		if (flush)
			return 0;
		/* EILSEQ or EINVAL: replace one byte with U+FFFD */
		if (buf_append(out, "\xef\xbf\xbd", 3) < 0)
			return -1;
		ip++;
		il--;
		iconv(cd, NULL, NULL, NULL, NULL);
	}
}

/* ---- encoders ---- */

int
mime_base64_encode(struct span in, size_t line_len, struct buf *out)
{
	size_t groups = (in.len + 2) / 3, olen = groups * 4, i, col = 0;
	uint8_t *o;

	if (line_len > 0)
		olen += (olen / line_len + 1) * 2;
	if ((o = buf_reserve(out, olen)) == NULL)
		return -1;
	for (i = 0; i < in.len; i += 3) {
		uint32_t w = (uint32_t)in.p[i] << 16;
		size_t left = in.len - i;

		if (left > 1)
			w |= (uint32_t)in.p[i + 1] << 8;
		if (left > 2)
			w |= in.p[i + 2];
		*o++ = (uint8_t)b64_alpha[w >> 18];
		*o++ = (uint8_t)b64_alpha[(w >> 12) & 63];
		*o++ = left > 1 ? (uint8_t)b64_alpha[(w >> 6) & 63] : '=';
		*o++ = left > 2 ? (uint8_t)b64_alpha[w & 63] : '=';
		col += 4;
		if (line_len > 0 && col >= line_len) {
			*o++ = '\r';
			*o++ = '\n';
			col = 0;
		}
	}
	if (line_len > 0 && col > 0) {
		*o++ = '\r';
		*o++ = '\n';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

int
mime_qp_encode(struct span in, bool is_text, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;

	for (i = 0; i < in.len; i++) {
		uint8_t c = in.p[i];
		char tmp[3];
		size_t tl;
		bool eol_next;

		if (is_text && (c == '\n' || (c == '\r' && i + 1 < in.len &&
		    in.p[i + 1] == '\n'))) {
			if (c == '\r')
				i++;
			if (buf_append(out, "\r\n", 2) < 0)
				return -1;
			col = 0;
			continue;
		}
		eol_next = i + 1 == in.len || (is_text && (in.p[i + 1] == '\n'
		    || (in.p[i + 1] == '\r' && i + 2 < in.len &&
		    in.p[i + 2] == '\n')));
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol_next)) {
			tmp[0] = (char)c;
			tl = 1;
			/* "From " and a lone "." at a line start */
			if (col == 0 && ((c == 'F' && in.len - i >= 5 &&
			    memcmp(in.p + i, "From ", 5) == 0) ||
			    (c == '.' && eol_next)))
				goto escape;
		} else {
escape:
			tmp[0] = '=';
			tmp[1] = hex[c >> 4];
			tmp[2] = hex[c & 15];
			tl = 3;
		}
		/* keep room for a soft break "=" within 76 columns */
		if (col + tl > (eol_next ? 76 : 75)) {
			if (buf_append(out, "=\r\n", 3) < 0)
				return -1;
			col = 0;
		}
		if (buf_append(out, tmp, tl) < 0)
			return -1;
		col += tl;
	}
	return 0;
}
