/* A tiny JSON text writer into a caller-owned fixed buffer, for the hot
 * path (meta JSON, error bodies) where a jansson tree per request would
 * cost more than the request. Strings are escaped and invalid UTF-8 is
 * replaced by U+FFFD, so whatever bytes a client sends, the output parses.
 * Overflow is sticky: check jbuf_ok() once at the end. */
#ifndef SHOPMQ_JBUF_H
#define SHOPMQ_JBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t len;
    size_t cap;
    bool overflow;
} jbuf_t;

void jbuf_init(jbuf_t *jb, char *buf, size_t cap);
/* Appends raw text (already JSON). */
void jbuf_raw(jbuf_t *jb, const char *s);
/* Appends s (len bytes) as a quoted, escaped JSON string. */
void jbuf_strn(jbuf_t *jb, const char *s, size_t len);
void jbuf_str(jbuf_t *jb, const char *s);
void jbuf_int(jbuf_t *jb, long long v);
/* true when everything fit; the text is NUL-terminated in that case. */
bool jbuf_ok(const jbuf_t *jb);

#endif
