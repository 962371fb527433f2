/* Fixed-buffer JSON writer; see jbuf.h. */
#include "jbuf.h"

#include <stdio.h>
#include <string.h>

void jbuf_init(jbuf_t *jb, char *buf, size_t cap)
{
    jb->p = buf;
    jb->len = 0;
    jb->cap = cap;
    jb->overflow = cap == 0;
    if (cap)
        buf[0] = '\0';
}

static void put(jbuf_t *jb, const char *s, size_t n)
{
    if (jb->overflow)
        return;
    if (jb->len + n + 1 > jb->cap) {
        jb->overflow = true;
        return;
    }
    memcpy(jb->p + jb->len, s, n);
    jb->len += n;
    jb->p[jb->len] = '\0';
}

void jbuf_raw(jbuf_t *jb, const char *s)
{
    put(jb, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t need;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
        cp = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        cp = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (need > n)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

void jbuf_strn(jbuf_t *jb, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    put(jb, "\"", 1);
    size_t run = 0; /* start of a run of bytes copied as they are */
    size_t i = 0;
    while (i < len) {
        unsigned char c = u[i];
        size_t n = utf8_seq(u + i, len - i);
        const char *esc = NULL;
        char tmp[8];
        if (n == 0) {
            esc = "\xEF\xBF\xBD"; /* U+FFFD for each invalid byte */
            n = 1;
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c == '\n') {
            esc = "\\n";
        } else if (c == '\r') {
            esc = "\\r";
        } else if (c == '\t') {
            esc = "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        }
        if (esc) {
            put(jb, s + run, i - run);
            put(jb, esc, strlen(esc));
            i += n;
            run = i;
        } else {
            i += n;
        }
    }
    put(jb, s + run, len - run);
    put(jb, "\"", 1);
}

void jbuf_str(jbuf_t *jb, const char *s)
{
    jbuf_strn(jb, s, strlen(s));
}

void jbuf_int(jbuf_t *jb, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    put(jb, tmp, (size_t)n);
}

bool jbuf_ok(const jbuf_t *jb)
{
    return !jb->overflow;
}
