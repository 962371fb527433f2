/* POST /api/v1/orders body: validation, merging and the text forms the
 * database functions take. Pure (no I/O), so unit tests cover it. */
#ifndef ORDER_REQUEST_H
#define ORDER_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORDER_MAX_LINES 1000       /* more lines -> 422 */
#define ORDER_MAX_QUANTITY 1000000 /* per line; merged lines stay below INT32_MAX */
#define ORDER_MAX_IDEM_KEY 255

typedef struct {
    char product_id[37]; /* canonical lower-case UUID */
    int64_t quantity;
} order_line_t;

typedef struct {
    char customer_id[37];
    size_t nlines;        /* distinct products, sorted by id */
    order_line_t *lines;  /* owned */
} order_request_t;

/* Parses and validates body. On success fills req (lines merged per product
 * and sorted by product id, which is also PostgreSQL's uuid order) and
 * returns 0. On invalid input appends API.md 422 entries to errs and
 * returns -1 (req left empty). */
int order_request_parse(const char *body, size_t len, order_request_t *req, json_t *errs);
void order_request_clear(order_request_t *req);

/* PostgreSQL array literals "{id,id}" and "{q,q}" (malloc'd; NULL when out of memory). */
char *order_request_products_text(const order_request_t *req);
char *order_request_quantities_text(const order_request_t *req);
/* A canonical text of the request ("customer|pid:q,..."): two bodies that
 * mean the same order share it; the Idempotency-Key check hashes it. */
char *order_request_canonical(const order_request_t *req);

/* Checks an Idempotency-Key header value: 1..255 characters of valid
 * UTF-8. false (and a 422 entry in errs) otherwise. */
bool order_idem_key_valid(const char *key, json_t *errs);

#endif
