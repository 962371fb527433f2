/* customer_input: the POST /api/v1/customers body, validated. Pure (no
 * I/O), so the handler, the unit tests and the fuzzers share it. */
#ifndef CUSTOMER_INPUT_H
#define CUSTOMER_INPUT_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    json_t *obj; /* owned: the strings point into it */
    const char *email, *name;
} customer_input_t;

/* email: a plausible address, 1..255; name: 1..200. 0 on success; -1 with
 * API.md 422 entries appended to errs (in is cleared then). */
int customer_input_parse(const char *body, size_t len, customer_input_t *in, json_t *errs);
void customer_input_clear(customer_input_t *in);

#endif
