/*
 * encoding.h — the binary encoding of a columnar batch (network shuffle and
 * spill files) and the compact encoding of one row (keyed state values).
 *
 * Both encodings are little-endian; the engine only builds on little-endian
 * hosts (encoding.c refuses to compile elsewhere), so fixed-width vectors are
 * copied with one memcpy each.  Decoders treat their input as untrusted:
 * every length, offset, tag and count is checked before use, a bad input is
 * answered with SPATE_EPARSE and a message, never with a crash or a read
 * outside the buffer.  Integrity (checksums) is the transport's job: a byte
 * flip inside a value decodes to another valid value.
 *
 * ---- Batch encoding, format version 1 ------------------------------------
 *
 * The encoding is a sequence of sections; every section starts at an offset
 * that is a multiple of 8 from the start of the encoding and is padded with
 * zero bytes to the next multiple of 8 (so the total size is a multiple of 8
 * and, in an 8-aligned buffer, every vector is aligned for its type).
 * Padding bytes, and bitmap bits at positions >= N, are written as zero and
 * ignored by the decoder.
 *
 *   Offset    Size   Meaning
 *   0         4      magic: the bytes 'S' 'P' 'T' 'B'
 *   4         2      format version (1)
 *   6         2      flags; 0 (reserved: a decoder rejects other values)
 *   8         4      row count N (<= SP_BATCH_ENCODED_MAX_ROWS)
 *   12        4      column count C (must equal the schema's field count)
 *   16        8      total size of the encoding in bytes (must equal the
 *                    length handed to the decoder)
 *   24        8*C    column descriptors, one per column:
 *                      +0  1  type tag (spate_type_id_t)
 *                      +1  1  DECIMAL precision (0 for other types)
 *                      +2  1  DECIMAL scale (0 for other types)
 *                      +3  1  flags: bit 0 = validity bitmap present (the
 *                             column has a NULL); other bits 0
 *                      +4  4  VARCHAR/BYTES: data bytes D; 0 for other types
 *   24+8*C    N      row kinds, one byte each (0..3, spate_row_kind_t)
 *   ...       8*N    event timestamps, int64 each
 *   then per column, in schema order:
 *   ...       N/8    validity bitmap (ceil(N/8) bytes, bit i LSB-first = 1
 *                    when row i is not NULL); only when descriptor flag
 *                    bit 0 is set, otherwise every row is non-NULL
 *   ...              values:
 *                      BOOLEAN            ceil(N/8) bytes, bit-packed LSB-first
 *                      INT, DATE          4*N  (int32)
 *                      BIGINT, TIMESTAMP  8*N  (int64)
 *                      DOUBLE             8*N  (IEEE 754 binary64)
 *                      DECIMAL            16*N (lo uint64, hi int64 per value)
 *                      VARCHAR, BYTES     4*(N+1) int32 offsets (offsets[0] = 0,
 *                                         non-decreasing, offsets[N] = D),
 *                                         then a section of D data bytes
 *
 * Values of NULL rows are unspecified (but present) in the fixed-width
 * vectors; a NULL VARCHAR/BYTES row may have any length, the engine writes 0.
 * The decoder checks: magic, version, flags, N <= limit, C and every type
 * tag (and DECIMAL precision/scale) against the schema, descriptor flags,
 * the total size against both the header and the buffer length, row kinds
 * in 0..3, offsets, and that NOT NULL fields hold no NULL.
 *
 * ---- Row encoding, format version 1 ---------------------------------------
 *
 * Compact and unaligned; the schema is not stored (the state that keeps the
 * value knows it), only the field count, which the decoder checks.
 *
 *   Offset    Size   Meaning
 *   0         1      bits 0-1 row kind; bit 2 = event timestamp present;
 *                    bit 3 = 0 (reserved); bits 4-7 format version (1)
 *   1         1..5   field count C, unsigned LEB128 varint
 *   ...       0|8    event timestamp, int64 (only when bit 2 is set; absent
 *                    means SPATE_NO_TIMESTAMP)
 *   ...       C/8    NULL bitmap, ceil(C/8) bytes, bit f LSB-first = 1 when
 *                    field f is NULL; bits >= C are 0
 *   then for each non-NULL field, in schema order:
 *                      BOOLEAN            1 byte, 0 or 1
 *                      INT, DATE          4 (int32)
 *                      BIGINT, TIMESTAMP  8 (int64)
 *                      DOUBLE             8 (binary64)
 *                      DECIMAL            16 (lo uint64, hi int64)
 *                      VARCHAR, BYTES     length L as LEB128 varint
 *                                         (L <= INT32_MAX), then L bytes
 *
 * The encoding must be consumed exactly: trailing bytes are an error.
 *
 * Thread-safety: all functions are reentrant; the batch being encoded must
 * not be written concurrently (published batches are read-only anyway).
 */
#ifndef SP_ENCODING_H
#define SP_ENCODING_H

#include "types/types.h"

#define SP_BATCH_ENCODING_VERSION 1
#define SP_ROW_ENCODING_VERSION   1
/* Largest row count a decoder accepts (batches hold a few thousand rows). */
#define SP_BATCH_ENCODED_MAX_ROWS (1u << 20)
/* Bytes of the fixed batch header (before the column descriptors). */
#define SP_BATCH_ENCODED_HEADER 24

/* Exact number of bytes sp_batch_encode writes for b (a multiple of 8).
 * b is borrowed; it may be a projection. */
size_t sp_batch_encoded_size(const sp_batch_t *b);

/* Writes b into buf (cap >= sp_batch_encoded_size(b)); returns the bytes
 * written, or SPATE_EINVAL when cap is too small or b has more than
 * SP_BATCH_ENCODED_MAX_ROWS rows (buf is then left unspecified).  b and buf
 * are borrowed; buf need not be aligned.  Never blocks. */
int64_t sp_batch_encode(const sp_batch_t *b, uint8_t *buf, size_t cap);

/* Reads the header of an encoded batch and reports its total size in *size,
 * for readers that frame batches in a stream (read the 24-byte header, then
 * the rest).  Checks magic and version only.  SPATE_EPARSE when len < 24 or
 * the header is not one of ours. */
int sp_batch_encoded_frame_size(const uint8_t *buf, size_t len, uint64_t *size);

/* Decodes untrusted bytes into a new batch of `schema` (refs = 1, transferred
 * to the caller in *out; capacity SP_BATCH_CAPACITY when N fits, else N).
 * The bytes are copied: buf is borrowed for the call only.  On error returns
 * SPATE_EPARSE (the message in err, which may be NULL) and leaves *out NULL. */
int sp_batch_decode(const spate_schema_t *schema, const uint8_t *buf, size_t len, sp_batch_t **out,
                    sp_error_t *err);

/* Encodes one row (values, kind and event timestamp) into buf; returns the
 * number of bytes needed and writes only when cap is at least that (so a
 * call with cap 0 sizes the encoding).  row is borrowed. */
size_t sp_row_encode(const spate_row_t *row, uint8_t *buf, size_t cap);
/* The same with only the fields in bitmap keep (NULL: all): each other one goes in as NULL, or as
 * zero, false or empty when it is NOT NULL. */
size_t sp_row_encode_only(const spate_row_t *row, const uint8_t *keep, uint8_t *buf, size_t cap);

/* Decodes an encoded row of b's schema and appends it to b (b must have
 * room: b->count < b->capacity, and must not be a projection).  Validates
 * everything; on SPATE_EPARSE (message in err) b->count is unchanged and no
 * row becomes visible.  SPATE_EINVAL when b is full. */
int sp_row_decode_append(sp_batch_t *b, const uint8_t *buf, size_t len, sp_error_t *err);

#endif
