/* Helpers shared by the fuzz targets (and by tests/unit/test_fuzz_regressions.c,
 * which includes every target into one file: keep everything here static
 * inline and every name in a target prefixed by the target's name). */
#ifndef SHOPMQ_FUZZ_UTIL_H
#define SHOPMQ_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failed property: print where and abort, which libFuzzer reports as a
 * crash (and saves the input) and a plain build reports as SIGABRT. */
#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* The input as a sequence of byte strings: each is a 2-byte big-endian
 * length then that many bytes; a length running past the end takes what is
 * left. fuzz_next returns 0 and sets (*p, *n), or -1 at the end. */
typedef struct {
    const uint8_t *data;
    size_t size, pos;
} fuzz_reader_t;

static inline void fuzz_reader_init(fuzz_reader_t *r, const uint8_t *data, size_t size)
{
    r->data = data;
    r->size = size;
    r->pos = 0;
}

static inline int fuzz_next(fuzz_reader_t *r, const uint8_t **p, size_t *n)
{
    if (r->pos + 2 > r->size)
        return -1;
    size_t len = (size_t)r->data[r->pos] << 8 | r->data[r->pos + 1];
    r->pos += 2;
    if (len > r->size - r->pos)
        len = r->size - r->pos;
    *p = r->data + r->pos;
    *n = len;
    r->pos += len;
    return 0;
}

/* A NUL-terminated malloc'd copy of the next piece ("" at the end). The
 * copy may contain NULs before its end: C-string consumers see a prefix. */
static inline char *fuzz_next_str(fuzz_reader_t *r, size_t *len)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    if (fuzz_next(r, &p, &n) != 0)
        n = 0;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

/* A malloc'd NUL-terminated copy of a whole buffer. */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

#endif
