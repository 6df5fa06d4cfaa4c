/*
 * Pre-shared keys for the standalone transport (`fleetcast send` and
 * `receive --psk FILE`).  A PSK file holds 32 random bytes as 64 hex
 * digits and a newline, mode 0600.
 */
#ifndef FC_PSK_H
#define FC_PSK_H

#include <stddef.h>
#include <stdint.h>

#define PSK_LEN		32

int	psk_generate(const char *, int, char *, size_t);
int	psk_read(const char *, uint8_t [PSK_LEN], char *, size_t);

#endif
