/*
 * Bounds-checked big-endian readers and writers.  Nothing received from the
 * network or read from a file is ever cast to a struct: it is decoded field
 * by field through a wire_r, and every getter fails with -1 (leaving the
 * output untouched) when the buffer is too short.  Writers work either on a
 * fixed buffer (overflow sets a sticky error) or on a growing one.
 */
#ifndef FC_WIRE_H
#define FC_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct wire_r {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 off;
};

struct wire_w {
	uint8_t		*buf;
	size_t		 cap;
	size_t		 len;
	int		 grow;	/* buf is ours and may be reallocated */
	int		 err;	/* a fixed buffer overflowed */
};

void	wire_r_init(struct wire_r *, const void *, size_t);
size_t	wire_r_left(const struct wire_r *);
int	wire_get_u8(struct wire_r *, uint8_t *);
int	wire_get_u16(struct wire_r *, uint16_t *);
int	wire_get_u32(struct wire_r *, uint32_t *);
int	wire_get_u64(struct wire_r *, uint64_t *);
int	wire_get_bytes(struct wire_r *, void *, size_t);
int	wire_get_ptr(struct wire_r *, const uint8_t **, size_t);
int	wire_skip(struct wire_r *, size_t);

void	wire_w_fixed(struct wire_w *, void *, size_t);
void	wire_w_grow(struct wire_w *, size_t);
void	wire_w_free(struct wire_w *);
int	wire_put_u8(struct wire_w *, uint8_t);
int	wire_put_u16(struct wire_w *, uint16_t);
int	wire_put_u32(struct wire_w *, uint32_t);
int	wire_put_u64(struct wire_w *, uint64_t);
int	wire_put_bytes(struct wire_w *, const void *, size_t);

/* Plain helpers for fixed offsets in buffers already length-checked. */
uint16_t wire_load16(const uint8_t *);
uint32_t wire_load32(const uint8_t *);
uint64_t wire_load64(const uint8_t *);
void	 wire_store16(uint8_t *, uint16_t);
void	 wire_store32(uint8_t *, uint32_t);
void	 wire_store64(uint8_t *, uint64_t);

#endif
