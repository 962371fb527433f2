/* Field validation with FastAPI/pydantic-compatible error entries.
 * Messages and type names follow pydantic v2 where the replaced system
 * used pydantic, and API.md's wording ("must be greater than 0") where it
 * used custom validators. */
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MONEY_MAX_CENTS 999999999999LL /* 9999999999.99: NUMERIC(12,2) */

void v_error(json_t *errs, const char *where, const char *field, const char *msg, const char *type)
{
    if (!errs)
        return;
    json_t *loc = json_array();
    json_array_append_new(loc, json_string(where ? where : "body"));
    if (field)
        json_array_append_new(loc, json_string(field));
    json_t *e = json_object();
    json_object_set_new(e, "loc", loc);
    json_object_set_new(e, "msg", json_string(msg));
    json_object_set_new(e, "type", json_string(type));
    json_array_append_new(errs, e);
}

json_t *v_parse_object(const char *body, size_t len, json_t *errs)
{
    if (!body || len == 0) {
        v_error(errs, "body", NULL, "Field required", "missing");
        return NULL;
    }
    /* No JSON_DECODE_INT_AS_REAL: v_int must tell 5 from 5.5. Duplicate keys
     * are accepted (last wins), as Python's json module does. JSON_DECODE_ANY
     * so that a scalar body is a type error, not a syntax error. \u0000 in a
     * string is refused by jansson unless JSON_ALLOW_NUL; we keep that. */
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        v_error(errs, "body", NULL, "JSON decode error", "json_invalid");
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        v_error(errs, "body", NULL, "Input should be a valid dictionary", "dict_type");
        return NULL;
    }
    return root;
}

long v_utf8_len(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return -1;
        if (c < 0x80) {
            i++;
            count++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4, cp = c & 0x07;
        else
            return -1; /* continuation byte, C0/C1 overlong lead, F5..FF */
        if (len - i < n)
            return -1;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return -1;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
            return -1;
        if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
            return -1;
        i += n;
        count++;
    }
    return count;
}

/* Shared prologue: absent -> missing/ok, returns the value or NULL. */
static json_t *field_get(json_t *obj, const char *field, bool required, bool *present,
                         json_t *errs, bool *ok)
{
    json_t *v = obj ? json_object_get(obj, field) : NULL;
    if (present)
        *present = v != NULL;
    *ok = true;
    if (!v && required) {
        v_error(errs, "body", field, "Field required", "missing");
        *ok = false;
    }
    return v;
}

bool v_string(json_t *obj, const char *field, bool required, size_t maxlen, const char **out,
              bool *present, json_t *errs)
{
    bool ok;
    json_t *v = field_get(obj, field, required, present, errs, &ok);
    if (!v)
        return ok;
    if (!json_is_string(v)) {
        v_error(errs, "body", field, "Input should be a valid string", "string_type");
        return false;
    }
    const char *s = json_string_value(v);
    long chars = v_utf8_len(s, json_string_length(v));
    if (chars < 0) {
        v_error(errs, "body", field, "Input should be a valid string", "string_unicode");
        return false;
    }
    if (required && chars == 0) {
        v_error(errs, "body", field, "String should have at least 1 character", "string_too_short");
        return false;
    }
    if ((size_t)chars > maxlen) {
        char msg[96];
        snprintf(msg, sizeof(msg), "String should have at most %zu character%s", maxlen,
                 maxlen == 1 ? "" : "s");
        v_error(errs, "body", field, msg, "string_too_long");
        return false;
    }
    if (out)
        *out = s;
    return true;
}

/* The range messages shared by body and query integers. */
static bool int_range(const char *where, const char *field, int64_t v, int64_t min, int64_t max,
                      json_t *errs)
{
    char msg[96];
    if (v < min) {
        if (min == 1) {
            v_error(errs, where, field, "must be greater than 0", "greater_than");
        } else {
            snprintf(msg, sizeof(msg), "must be greater than or equal to %" PRId64, min);
            v_error(errs, where, field, msg, "greater_than_equal");
        }
        return false;
    }
    if (v > max) {
        snprintf(msg, sizeof(msg), "must be less than or equal to %" PRId64, max);
        v_error(errs, where, field, msg, "less_than_equal");
        return false;
    }
    return true;
}

bool v_int(json_t *obj, const char *field, bool required, int64_t min, int64_t max,
           int64_t *out, bool *present, json_t *errs)
{
    bool ok;
    json_t *v = field_get(obj, field, required, present, errs, &ok);
    if (!v)
        return ok;
    int64_t n;
    if (json_is_integer(v)) {
        n = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        /* pydantic accepts 3.0 for an int but not 3.5. */
        double d = json_real_value(v);
        if (d != floor(d)) {
            v_error(errs, "body", field,
                    "Input should be a valid integer, got a number with a fractional part",
                    "int_from_float");
            return false;
        }
        if (d < -9.2e18 || d > 9.2e18) {
            v_error(errs, "body", field, "Input should be a valid integer", "int_type");
            return false;
        }
        n = (int64_t)d;
    } else {
        v_error(errs, "body", field, "Input should be a valid integer", "int_type");
        return false;
    }
    if (!int_range("body", field, n, min, max, errs))
        return false;
    if (out)
        *out = n;
    return true;
}

/* Cents -> "123.45". */
static void cents_text(int64_t cents, char out[32])
{
    snprintf(out, 32, "%s%" PRId64 ".%02" PRId64, cents < 0 ? "-" : "",
             (cents < 0 ? -cents : cents) / 100, (cents < 0 ? -cents : cents) % 100);
}

/* A JSON number as whole cents, or -1 when it has more than 2 decimals.
 * The check is exact on the double: the nearest double to "29.99" prints
 * back as 29.99 with %.2f and parses to the same double; 1.999 does not. */
static int number_cents(json_t *v, int64_t *cents, bool *too_big)
{
    *too_big = false;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i > MONEY_MAX_CENTS / 100 || i < -MONEY_MAX_CENTS / 100) {
            *too_big = true;
            *cents = i < 0 ? -1 : 1;
            return 0;
        }
        *cents = (int64_t)i * 100;
        return 0;
    }
    double d = json_real_value(v);
    if (!isfinite(d) || fabs(d) > 1e11) {
        *too_big = true;
        *cents = d < 0 ? -1 : 1;
        return 0;
    }
    char text[64];
    snprintf(text, sizeof(text), "%.2f", d);
    if (strtod(text, NULL) != d)
        return -1;
    double c = round(d * 100.0);
    *cents = (int64_t)c;
    if (*cents > MONEY_MAX_CENTS || *cents < -MONEY_MAX_CENTS)
        *too_big = true;
    return 0;
}

bool v_money(json_t *obj, const char *field, bool required, bool allow_zero, char out[32],
             bool *present, json_t *errs)
{
    bool ok;
    json_t *v = field_get(obj, field, required, present, errs, &ok);
    if (!v)
        return ok;
    if (!json_is_number(v)) {
        v_error(errs, "body", field, "Input should be a valid decimal", "decimal_type");
        return false;
    }
    int64_t cents;
    bool too_big;
    if (number_cents(v, &cents, &too_big) != 0) {
        /* Sign first, as a reader expects "must be greater than 0" for -0.001. */
        if (json_real_value(v) <= 0 && !(allow_zero && json_real_value(v) == 0)) {
            v_error(errs, "body", field,
                    allow_zero ? "must be greater than or equal to 0" : "must be greater than 0",
                    "value_error");
            return false;
        }
        v_error(errs, "body", field, "must have at most 2 decimal places", "value_error");
        return false;
    }
    if (cents < 0 || (cents == 0 && !allow_zero)) {
        v_error(errs, "body", field,
                allow_zero ? "must be greater than or equal to 0" : "must be greater than 0",
                "value_error");
        return false;
    }
    if (too_big) {
        v_error(errs, "body", field, "must be less than or equal to 9999999999.99", "value_error");
        return false;
    }
    if (out)
        cents_text(cents, out);
    return true;
}

bool v_is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

bool v_uuid(json_t *obj, const char *field, bool required, bool nullable, const char **out,
            bool *present, json_t *errs)
{
    bool ok;
    json_t *v = field_get(obj, field, required, present, errs, &ok);
    if (!v)
        return ok;
    if (json_is_null(v) && nullable) {
        if (out)
            *out = NULL;
        return true;
    }
    if (!json_is_string(v)) {
        v_error(errs, "body", field, "UUID input should be a string, bytes or UUID object",
                "uuid_type");
        return false;
    }
    if (!v_is_uuid(json_string_value(v))) {
        v_error(errs, "body", field, "Input should be a valid UUID", "uuid_parsing");
        return false;
    }
    if (out)
        *out = json_string_value(v);
    return true;
}

bool v_bool(json_t *obj, const char *field, bool required, bool *out, bool *present,
            json_t *errs)
{
    bool ok;
    json_t *v = field_get(obj, field, required, present, errs, &ok);
    if (!v)
        return ok;
    if (!json_is_boolean(v)) {
        v_error(errs, "body", field, "Input should be a valid boolean", "bool_type");
        return false;
    }
    if (out)
        *out = json_is_true(v);
    return true;
}

/* ---- query parameters: values are strings ---- */

static const char *query_get(json_t *query, const char *name)
{
    json_t *v = query ? json_object_get(query, name) : NULL;
    if (!v)
        return NULL;
    /* The gateway only puts strings here; anything else is treated as text
     * that cannot parse. */
    return json_is_string(v) ? json_string_value(v) : "";
}

bool q_int(json_t *query, const char *name, int64_t def, int64_t min, int64_t max,
           int64_t *out, json_t *errs)
{
    const char *s = query_get(query, name);
    if (!s) {
        if (out)
            *out = def;
        return true;
    }
    /* Python's int() accepts surrounding spaces and a sign; nothing else. */
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    char *end;
    errno = 0;
    long long n = strtoll(p, &end, 10);
    const char *digits = p + (*p == '+' || *p == '-');
    while (isspace((unsigned char)*end))
        end++;
    if (!isdigit((unsigned char)*digits) || *end != '\0' || errno == ERANGE) {
        v_error(errs, "query", name,
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing");
        return false;
    }
    if (!int_range("query", name, (int64_t)n, min, max, errs))
        return false;
    if (out)
        *out = (int64_t)n;
    return true;
}

bool q_money(json_t *query, const char *name, char out[32], bool *present, json_t *errs)
{
    const char *s = query_get(query, name);
    if (present)
        *present = s != NULL;
    if (!s)
        return true;
    /* Plain decimal text only: [+-]digits[.digits]. Exponents, NaN and
     * Infinity are refused so the text can go to PostgreSQL as NUMERIC. */
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    const char *start = p;
    size_t int_digits = 0, frac_digits = 0;
    while (isdigit((unsigned char)*p))
        p++, int_digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, frac_digits++;
    }
    const char *stop = p;
    while (isspace((unsigned char)*p))
        p++;
    if (int_digits + frac_digits == 0 || *p != '\0' || (size_t)(stop - start) >= 31) {
        v_error(errs, "query", name, "Input should be a valid decimal", "decimal_parsing");
        return false;
    }
    bool nonzero = false;
    for (const char *q = start; q < stop; q++)
        if (*q >= '1' && *q <= '9')
            nonzero = true;
    if (neg && nonzero) {
        v_error(errs, "query", name, "Input should be greater than or equal to 0",
                "greater_than_equal");
        return false;
    }
    if (out) {
        /* "5." and ".5" are valid Python decimals but not always valid
         * NUMERIC input: normalise to "5" / "0.5". */
        size_t n = 0;
        if (int_digits == 0)
            out[n++] = '0';
        size_t len = (size_t)(stop - start);
        if (frac_digits == 0 && len > 0 && start[len - 1] == '.')
            len--;
        memcpy(out + n, start, len);
        out[n + len] = '\0';
    }
    return true;
}

bool q_bool(json_t *query, const char *name, bool *out, bool *present, json_t *errs)
{
    const char *s = query_get(query, name);
    if (present)
        *present = s != NULL;
    if (!s)
        return true;
    /* pydantic's accepted spellings. */
    static const char *yes[] = {"true", "1", "yes", "on", "t", "y"};
    static const char *no[] = {"false", "0", "no", "off", "f", "n"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            if (out)
                *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            if (out)
                *out = false;
            return true;
        }
    }
    v_error(errs, "query", name, "Input should be a valid boolean, unable to interpret input",
            "bool_parsing");
    return false;
}

bool q_uuid(json_t *query, const char *name, const char **out, json_t *errs)
{
    const char *s = query_get(query, name);
    if (!s)
        return true;
    if (!v_is_uuid(s)) {
        v_error(errs, "query", name, "Input should be a valid UUID", "uuid_parsing");
        return false;
    }
    if (out)
        *out = s;
    return true;
}

/* One dot-separated domain label: letters, digits, hyphens (not at the
 * ends), or any non-ASCII (internationalised names). */
static bool email_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c >= 0x80))
            return false;
    }
    return true;
}

bool v_is_email(const char *s)
{
    if (!s)
        return false;
    size_t len = strlen(s);
    long chars = v_utf8_len(s, len);
    if (chars < 3 || chars > 255)
        return false;
    const char *at = strchr(s, '@');
    if (!at || strchr(at + 1, '@'))
        return false;
    size_t local_len = (size_t)(at - s);
    if (local_len == 0 || local_len > 64 || s[0] == '.' || at[-1] == '.')
        return false;
    /* RFC 5322 atext plus dots; no quoted local parts, no spaces. */
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";
    for (size_t i = 0; i < local_len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' && s[i + 1] == '.')
            return false;
        if (!(isalnum(c) || c >= 0x80 || (c != 0 && strchr(atext, c))))
            return false;
    }
    const char *domain = at + 1;
    size_t dlen = strlen(domain);
    if (dlen == 0 || dlen > 253)
        return false;
    int labels = 0;
    const char *p = domain, *last = NULL;
    size_t last_len = 0;
    while (1) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!email_label_ok(p, n))
            return false;
        labels++;
        last = p;
        last_len = n;
        if (!dot)
            break;
        p = dot + 1;
    }
    if (labels < 2 || last_len < 2)
        return false;
    /* A TLD is never all digits (rules out user@1.2.3.4). */
    bool has_alpha = false;
    for (size_t i = 0; i < last_len; i++)
        if (!isdigit((unsigned char)last[i]))
            has_alpha = true;
    return has_alpha;
}

char *v_errors_body(json_t *errs)
{
    json_t *root = json_object();
    json_object_set_new(root, "detail", errs ? json_incref(errs) : json_array());
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

char *v_detail_body(const char *msg)
{
    json_t *root = json_object();
    json_t *text_value = json_string(msg ? msg : "");
    if (!text_value) {
        /* Not UTF-8 (a message quoting raw input): keep the ASCII. */
        char *ascii = strdup(msg);
        for (char *p = ascii; p && *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
        text_value = json_string(ascii ? ascii : "");
        free(ascii);
    }
    json_object_set_new(root, "detail", text_value);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}
