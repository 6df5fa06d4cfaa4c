/*
 * Big-endian codec.  Readers never read past len; writers never write past
 * cap.  A fixed writer remembers an overflow in err so that a sequence of
 * puts can be checked once at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wire.h"
#include "xmalloc.h"

void
wire_r_init(struct wire_r *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->off = 0;
}

size_t
wire_r_left(const struct wire_r *r)
{
	return (r->len - r->off);
}

int
wire_get_ptr(struct wire_r *r, const uint8_t **p, size_t n)
{
	if (n > r->len - r->off)
		return (-1);
	*p = r->buf + r->off;
	r->off += n;
	return (0);
}

int
wire_skip(struct wire_r *r, size_t n)
{
	const uint8_t	*p;

	return (wire_get_ptr(r, &p, n));
}

int
wire_get_bytes(struct wire_r *r, void *out, size_t n)
{
	const uint8_t	*p;

	if (wire_get_ptr(r, &p, n) == -1)
		return (-1);
	if (n > 0)
		memcpy(out, p, n);
	return (0);
}

int
wire_get_u8(struct wire_r *r, uint8_t *v)
{
	const uint8_t	*p;

	if (wire_get_ptr(r, &p, 1) == -1)
		return (-1);
	*v = p[0];
	return (0);
}

int
wire_get_u16(struct wire_r *r, uint16_t *v)
{
	const uint8_t	*p;

	if (wire_get_ptr(r, &p, 2) == -1)
		return (-1);
	*v = wire_load16(p);
	return (0);
}

int
wire_get_u32(struct wire_r *r, uint32_t *v)
{
	const uint8_t	*p;

	if (wire_get_ptr(r, &p, 4) == -1)
		return (-1);
	*v = wire_load32(p);
	return (0);
}

int
wire_get_u64(struct wire_r *r, uint64_t *v)
{
	const uint8_t	*p;

	if (wire_get_ptr(r, &p, 8) == -1)
		return (-1);
	*v = wire_load64(p);
	return (0);
}

void
wire_w_fixed(struct wire_w *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->grow = 0;
	w->err = 0;
}

void
wire_w_grow(struct wire_w *w, size_t hint)
{
	if (hint < 64)
		hint = 64;
	w->buf = xmalloc(hint);
	w->cap = hint;
	w->len = 0;
	w->grow = 1;
	w->err = 0;
}

void
wire_w_free(struct wire_w *w)
{
	if (w->grow)
		free(w->buf);
	w->buf = NULL;
	w->cap = w->len = 0;
}

/* Make room for n more bytes; -1 (and err set) when a fixed buffer is full. */
static uint8_t *
wire_w_room(struct wire_w *w, size_t n)
{
	uint8_t	*p;
	size_t	 ncap;

	if (w->err)
		return (NULL);
	if (n > w->cap - w->len) {
		if (!w->grow) {
			w->err = 1;
			return (NULL);
		}
		ncap = w->cap;
		while (n > ncap - w->len) {
			if (ncap > SIZE_MAX / 2)
				fatalx("wire_w_room: buffer too large");
			ncap *= 2;
		}
		w->buf = xreallocarray(w->buf, 1, ncap);
		w->cap = ncap;
	}
	p = w->buf + w->len;
	w->len += n;
	return (p);
}

int
wire_put_bytes(struct wire_w *w, const void *data, size_t n)
{
	uint8_t	*p;

	if (n == 0)
		return (w->err ? -1 : 0);
	if ((p = wire_w_room(w, n)) == NULL)
		return (-1);
	memcpy(p, data, n);
	return (0);
}

int
wire_put_u8(struct wire_w *w, uint8_t v)
{
	uint8_t	*p;

	if ((p = wire_w_room(w, 1)) == NULL)
		return (-1);
	p[0] = v;
	return (0);
}

int
wire_put_u16(struct wire_w *w, uint16_t v)
{
	uint8_t	*p;

	if ((p = wire_w_room(w, 2)) == NULL)
		return (-1);
	wire_store16(p, v);
	return (0);
}

int
wire_put_u32(struct wire_w *w, uint32_t v)
{
	uint8_t	*p;

	if ((p = wire_w_room(w, 4)) == NULL)
		return (-1);
	wire_store32(p, v);
	return (0);
}

int
wire_put_u64(struct wire_w *w, uint64_t v)
{
	uint8_t	*p;

	if ((p = wire_w_room(w, 8)) == NULL)
		return (-1);
	wire_store64(p, v);
	return (0);
}

uint16_t
wire_load16(const uint8_t *p)
{
	return ((uint16_t)(p[0] << 8 | p[1]));
}

uint32_t
wire_load32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3]);
}

uint64_t
wire_load64(const uint8_t *p)
{
	return ((uint64_t)wire_load32(p) << 32 | wire_load32(p + 4));
}

void
wire_store16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

void
wire_store32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}

void
wire_store64(uint8_t *p, uint64_t v)
{
	wire_store32(p, (uint32_t)(v >> 32));
	wire_store32(p + 4, (uint32_t)v);
}
