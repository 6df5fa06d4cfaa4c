/*
 * Tests for the big-endian codec: exact encodings, every getter failing on
 * short input without moving, and fixed writers refusing to overflow.
 */
#include <string.h>

#include "unit.h"
#include "wire.h"

static void
test_roundtrip(void)
{
	uint8_t		 buf[64];
	struct wire_w	 w;
	struct wire_r	 r;
	uint8_t		 a;
	uint16_t	 b;
	uint32_t	 c;
	uint64_t	 d;
	char		 s[4];
	static const uint8_t want[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 'a', 'b',
	    'c' };

	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(wire_put_u8(&w, 0x01) == 0);
	CU_ASSERT(wire_put_u16(&w, 0x0203) == 0);
	CU_ASSERT(wire_put_u32(&w, 0x04050607) == 0);
	CU_ASSERT(wire_put_u64(&w, 0x08090a0b0c0d0e0fULL) == 0);
	CU_ASSERT(wire_put_bytes(&w, "abc", 3) == 0);
	CU_ASSERT_EQUAL(w.len, sizeof(want));
	CU_ASSERT(memcmp(buf, want, sizeof(want)) == 0);

	wire_r_init(&r, buf, w.len);
	CU_ASSERT(wire_get_u8(&r, &a) == 0 && a == 0x01);
	CU_ASSERT(wire_get_u16(&r, &b) == 0 && b == 0x0203);
	CU_ASSERT(wire_get_u32(&r, &c) == 0 && c == 0x04050607);
	CU_ASSERT(wire_get_u64(&r, &d) == 0 && d == 0x08090a0b0c0d0e0fULL);
	CU_ASSERT(wire_get_bytes(&r, s, 3) == 0 && memcmp(s, "abc", 3) == 0);
	CU_ASSERT_EQUAL(wire_r_left(&r), 0);
	CU_ASSERT(wire_get_u8(&r, &a) == -1);
}

static void
test_short_reads(void)
{
	static const uint8_t	 buf[7] = { 1, 2, 3, 4, 5, 6, 7 };
	struct wire_r		 r;
	uint64_t		 d = 42;
	uint32_t		 c = 42;
	uint16_t		 b;
	const uint8_t		*p;

	wire_r_init(&r, buf, sizeof(buf));
	CU_ASSERT(wire_get_u64(&r, &d) == -1);
	CU_ASSERT_EQUAL(d, 42);		/* untouched */
	CU_ASSERT_EQUAL(r.off, 0);	/* did not move */
	CU_ASSERT(wire_skip(&r, 5) == 0);
	CU_ASSERT(wire_get_u32(&r, &c) == -1);
	CU_ASSERT_EQUAL(c, 42);
	CU_ASSERT(wire_get_u16(&r, &b) == 0 && b == 0x0607);
	CU_ASSERT(wire_get_ptr(&r, &p, 1) == -1);
	CU_ASSERT(wire_get_ptr(&r, &p, 0) == 0);
	/* A huge length must not wrap around the bounds check. */
	wire_r_init(&r, buf, sizeof(buf));
	CU_ASSERT(wire_skip(&r, 3) == 0);
	CU_ASSERT(wire_get_ptr(&r, &p, SIZE_MAX) == -1);
	CU_ASSERT(wire_get_ptr(&r, &p, SIZE_MAX - 2) == -1);
}

static void
test_fixed_overflow(void)
{
	uint8_t		buf[5];
	struct wire_w	w;

	wire_w_fixed(&w, buf, sizeof(buf));
	CU_ASSERT(wire_put_u32(&w, 1) == 0);
	CU_ASSERT(wire_put_u16(&w, 1) == -1);
	CU_ASSERT(w.err == 1);
	/* Once overflowed, even a fitting put fails: the error is sticky. */
	CU_ASSERT(wire_put_u8(&w, 1) == -1);
	CU_ASSERT_EQUAL(w.len, 4);
}

static void
test_grow(void)
{
	struct wire_w	w;
	uint32_t	i;
	struct wire_r	r;
	uint32_t	v;

	wire_w_grow(&w, 1);
	for (i = 0; i < 10000; i++)
		CU_ASSERT_FATAL(wire_put_u32(&w, i) == 0);
	CU_ASSERT_EQUAL(w.len, 40000);
	wire_r_init(&r, w.buf, w.len);
	for (i = 0; i < 10000; i++) {
		CU_ASSERT_FATAL(wire_get_u32(&r, &v) == 0);
		CU_ASSERT_FATAL(v == i);
	}
	wire_w_free(&w);
}

static CU_TestInfo tests[] = {
	{ "round trip", test_roundtrip },
	{ "short reads fail without moving", test_short_reads },
	{ "fixed writer overflow", test_fixed_overflow },
	{ "growing writer", test_grow },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("wire", tests));
}
