#include "order_request.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

/* v_* helpers report loc [where, field]; item errors need
 * ["body", "items", i, field], so they are validated into a scratch array
 * and moved over with the full location. */
static void move_item_errors(json_t *scratch, json_t *errs, size_t index, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(scratch, i, e)
    {
        json_t *loc = json_pack("[s, s, I]", "body", "items", (json_int_t)index);
        if (field)
            json_array_append_new(loc, json_string(field));
        json_object_set_new(e, "loc", loc);
        json_array_append(errs, e);
    }
    json_array_clear(scratch);
}

static int line_cmp(const void *a, const void *b)
{
    return strcmp(((const order_line_t *)a)->product_id, ((const order_line_t *)b)->product_id);
}

static void lower_copy(char dst[37], const char *src)
{
    for (int i = 0; i < 36; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[36] = '\0';
}

/* Validates one element of "items"; true and *line filled when valid. */
static bool parse_line(json_t *item, size_t index, order_line_t *line, json_t *scratch,
                       json_t *errs)
{
    if (!json_is_object(item)) {
        v_error(scratch, "body", NULL, "Input should be a valid dictionary", "dict_type");
        move_item_errors(scratch, errs, index, NULL);
        return false;
    }
    const char *pid = NULL;
    int64_t qty = 0;
    bool ok = v_uuid(item, "product_id", true, false, &pid, NULL, scratch);
    move_item_errors(scratch, errs, index, "product_id");
    if (!v_int(item, "quantity", true, 1, ORDER_MAX_QUANTITY, &qty, NULL, scratch))
        ok = false;
    move_item_errors(scratch, errs, index, "quantity");
    if (!ok || !pid)
        return false;
    lower_copy(line->product_id, pid);
    line->quantity = qty;
    return true;
}

int order_request_parse(const char *body, size_t len, order_request_t *req, json_t *errs)
{
    memset(req, 0, sizeof *req);
    size_t nerr = json_array_size(errs);
    json_t *obj = v_parse_object(body, len, errs);
    if (!obj)
        return -1;

    const char *cid = NULL;
    v_uuid(obj, "customer_id", true, false, &cid, NULL, errs);

    json_t *items = json_object_get(obj, "items");
    size_t n = 0;
    if (!items)
        v_error(errs, "body", "items", "Field required", "missing");
    else if (!json_is_array(items))
        v_error(errs, "body", "items", "Input should be a valid list", "list_type");
    else if ((n = json_array_size(items)) == 0)
        v_error(errs, "body", "items", "List should have at least 1 item after validation, not 0",
                "too_short");
    else if (n > ORDER_MAX_LINES) {
        char msg[80];
        snprintf(msg, sizeof msg, "List should have at most %d items", ORDER_MAX_LINES);
        v_error(errs, "body", "items", msg, "too_long");
        n = 0;
    }

    order_line_t *lines = n ? calloc(n, sizeof *lines) : NULL;
    json_t *scratch = json_array();
    for (size_t i = 0; lines && i < n; i++)
        parse_line(json_array_get(items, i), i, &lines[i], scratch, errs);
    json_decref(scratch);

    if (json_array_size(errs) > nerr || !cid || !lines) {
        free(lines);
        json_decref(obj);
        return -1;
    }
    lower_copy(req->customer_id, cid);
    json_decref(obj);

    /* Sort, then merge neighbours naming the same product. */
    qsort(lines, n, sizeof *lines, line_cmp);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out > 0 && strcmp(lines[out - 1].product_id, lines[i].product_id) == 0)
            lines[out - 1].quantity += lines[i].quantity;
        else
            lines[out++] = lines[i];
    }
    req->lines = lines;
    req->nlines = out;
    return 0;
}

void order_request_clear(order_request_t *req)
{
    free(req->lines);
    memset(req, 0, sizeof *req);
}

char *order_request_products_text(const order_request_t *req)
{
    char *s = malloc(req->nlines * 37 + 3);
    size_t o = 0;
    if (!s)
        return NULL;
    s[o++] = '{';
    for (size_t i = 0; i < req->nlines; i++) {
        if (i)
            s[o++] = ',';
        memcpy(s + o, req->lines[i].product_id, 36);
        o += 36;
    }
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

char *order_request_quantities_text(const order_request_t *req)
{
    size_t cap = req->nlines * 21 + 3, o = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[o++] = '{';
    for (size_t i = 0; i < req->nlines; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s%lld", i ? "," : "",
                              (long long)req->lines[i].quantity);
    snprintf(s + o, cap - o, "}");
    return s;
}

char *order_request_canonical(const order_request_t *req)
{
    size_t cap = 37 + req->nlines * (37 + 22) + 1, o = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    o += (size_t)snprintf(s, cap, "%s|", req->customer_id);
    for (size_t i = 0; i < req->nlines; i++)
        o += (size_t)snprintf(s + o, cap - o, "%s%s:%lld", i ? "," : "", req->lines[i].product_id,
                              (long long)req->lines[i].quantity);
    return s;
}

bool order_idem_key_valid(const char *key, json_t *errs)
{
    long n = v_utf8_len(key, strlen(key));
    if (n >= 1 && n <= ORDER_MAX_IDEM_KEY)
        return true;
    json_t *e = json_pack("{s:[s,s], s:s, s:s}", "loc", "header", "Idempotency-Key", "msg",
                          n < 0 ? "must be valid UTF-8 text"
                                : "must be between 1 and 255 characters",
                          "type", "value_error");
    json_array_append_new(errs, e);
    return false;
}
