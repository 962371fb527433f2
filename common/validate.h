/* Request validation producing API.md's 422 shape:
 * {"detail": [{"loc": ["body", "price"], "msg": "...", "type": "..."}]}
 *
 * Each v_* function checks one field, appends an error to errs on failure
 * and returns false. Absent optional fields leave *out untouched and
 * return true; `present` (when non-NULL) says whether the field was there. */
#ifndef SHOPMQ_VALIDATE_H
#define SHOPMQ_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends {"loc": [where, field], "msg": msg, "type": type}. field may be NULL. */
void v_error(json_t *errs, const char *where, const char *field, const char *msg, const char *type);

/* Parses a request body that must be a JSON object. NULL (and an entry in
 * errs: loc ["body"], type "json_invalid" / "dict_type") when it is not. */
json_t *v_parse_object(const char *body, size_t len, json_t *errs);

/* Strings: must be a JSON string, valid UTF-8, 1..maxlen characters
 * (counted in code points) when required, 0..maxlen when optional. */
bool v_string(json_t *obj, const char *field, bool required, size_t maxlen, const char **out,
              bool *present, json_t *errs);

/* Integers: a JSON integer (not a real, not a string, not a bool) in [min, max]. */
bool v_int(json_t *obj, const char *field, bool required, int64_t min, int64_t max,
           int64_t *out, bool *present, json_t *errs);

/* Money: a JSON number > 0 (or >= 0 when allow_zero), at most two decimals,
 * at most 9999999999.99. Written as exact decimal text ("29.99") into out. */
bool v_money(json_t *obj, const char *field, bool required, bool allow_zero, char out[32],
             bool *present, json_t *errs);

/* UUID field: a JSON string in canonical 8-4-4-4-12 hex form (null allowed
 * when nullable; *out set to NULL then). */
bool v_uuid(json_t *obj, const char *field, bool required, bool nullable, const char **out,
            bool *present, json_t *errs);

/* Booleans: a JSON true/false. */
bool v_bool(json_t *obj, const char *field, bool required, bool *out, bool *present,
            json_t *errs);

/* Query-string parameters (all values are strings): integer in [min, max],
 * default def when absent; decimal money >= 0; boolean true/false/1/0. */
bool q_int(json_t *query, const char *name, int64_t def, int64_t min, int64_t max,
           int64_t *out, json_t *errs);
bool q_money(json_t *query, const char *name, char out[32], bool *present, json_t *errs);
bool q_bool(json_t *query, const char *name, bool *out, bool *present, json_t *errs);
bool q_uuid(json_t *query, const char *name, const char **out, json_t *errs);

/* Canonical UUID text check (case-insensitive hex). */
bool v_is_uuid(const char *s);
/* A plausible e-mail address: local@domain.tld, no spaces, ≤ 255. */
bool v_is_email(const char *s);
/* Valid UTF-8 without NUL bytes; returns the number of code points or -1. */
long v_utf8_len(const char *s, size_t len);

/* {"detail": errs} as malloc'd text. Steals nothing. */
char *v_errors_body(json_t *errs);
/* {"detail": "msg"} as malloc'd text. */
char *v_detail_body(const char *msg);

#endif
