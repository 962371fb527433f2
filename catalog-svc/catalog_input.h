/* catalog_input: the request bodies of POST/PATCH /api/v1/products and
 * POST /api/v1/categories, validated into the values the SQL takes.
 * Pure (no I/O), so the handlers, the unit tests and the fuzzers share it. */
#ifndef CATALOG_INPUT_H
#define CATALOG_INPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    json_t *obj; /* owned: the strings below point into it */
    const char *name, *description, *sku;
    char price[32];   /* exact decimal text */
    int64_t stock;
    bool is_active;
    /* category_id: NULL when absent or JSON null, else lower-case UUID */
    const char *category_id;
    char category_buf[37];
    /* what the body gave (for a partial update; create fills defaults) */
    bool has_name, has_description, has_price, has_stock, has_category, has_active;
} catalog_product_input_t;

/* Validates a product body. partial=false is create (name, price, sku
 * required; description defaults to "", stock to 0; is_active and unknown
 * fields ignored); partial=true is update (every field optional, name not
 * empty, sku ignored, null means "not given" except for category_id where
 * it clears the category). 0 on success; -1 with API.md 422 entries
 * appended to errs (in is cleared then). */
int catalog_product_input_parse(const char *body, size_t len, bool partial,
                                catalog_product_input_t *in, json_t *errs);
/* true when an update body changes nothing. */
bool catalog_product_input_empty(const catalog_product_input_t *in);
void catalog_product_input_clear(catalog_product_input_t *in);

typedef struct {
    json_t *obj; /* owned */
    const char *name;
    const char *description; /* "" when absent or null */
} catalog_category_input_t;

/* Validates a category body: name 1..100, description optional. */
int catalog_category_input_parse(const char *body, size_t len, catalog_category_input_t *in,
                                 json_t *errs);
void catalog_category_input_clear(catalog_category_input_t *in);

#endif
