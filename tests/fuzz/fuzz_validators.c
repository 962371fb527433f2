/* Fuzz target: the request validators of every route.
 *
 * First byte: which validator; the rest: a JSON body, or a raw query
 * string (turned into the "query" object a service receives by the same
 * gateway code that does it for real: gwreq_parse + gwreq_meta). Checks:
 * nothing crashes or leaks; a refusal always comes with 422 entries that
 * serialise to {"detail": [...]}, acceptance with none; accepted values
 * respect the documented bounds. */
#include <jansson.h>

#include "catalog_input.h"
#include "catalog_query.h"
#include "customer_input.h"
#include "fuzz_util.h"
#include "gwreq.h"
#include "order_request.h"
#include "shopmq_proto.h"
#include "validate.h"

/* Checks the errors of a call that returned ok (true: accepted). */
static void validators_errors(json_t *errs, bool ok)
{
    if (ok) {
        FUZZ_CHECK(json_array_size(errs) == 0);
        return;
    }
    FUZZ_CHECK(json_array_size(errs) > 0);
    size_t i;
    json_t *e;
    json_array_foreach(errs, i, e)
    {
        FUZZ_CHECK(json_is_array(json_object_get(e, "loc")));
        FUZZ_CHECK(json_is_string(json_object_get(e, "msg")));
        FUZZ_CHECK(json_is_string(json_object_get(e, "type")));
    }
    char *body = v_errors_body(errs);
    FUZZ_CHECK(body);
    json_t *back = json_loads(body, 0, NULL);
    FUZZ_CHECK(back && json_is_array(json_object_get(back, "detail")));
    json_decref(back);
    free(body);
}

/* Money text: digits, optional '.' and one or two digits. */
static void validators_money_text(const char *m)
{
    size_t i = 0, dot = 0;
    FUZZ_CHECK(m[0] != '\0');
    for (; m[i]; i++) {
        if (m[i] == '.')
            dot++;
        else
            FUZZ_CHECK(m[i] >= '0' && m[i] <= '9');
    }
    FUZZ_CHECK(dot <= 1 && i < 32);
}

/* The query object a worker would see for "GET /api/v1/products?<raw>". */
static json_t *validators_query(const char *raw, size_t len)
{
    static const char prefix[] = "/api/v1/products?";
    size_t ulen = sizeof prefix - 1 + len;
    if (ulen > GWREQ_MAX_URI)
        return NULL;
    char *uri = malloc(ulen + 1);
    char *scratch = malloc(GWREQ_SCRATCH(ulen));
    char *meta = malloc(SMQ_MAX_META);
    memcpy(uri, prefix, sizeof prefix - 1);
    memcpy(uri + sizeof prefix - 1, raw, len);
    uri[ulen] = '\0';
    gwreq_t req;
    json_t *query = NULL;
    if (gwreq_parse("GET", uri, ulen, &req, scratch, GWREQ_SCRATCH(ulen)) == 0) {
        long n = gwreq_meta(&req, NULL, "GET", "127.0.0.1", "t", NULL, meta, SMQ_MAX_META);
        if (n > 0) {
            json_t *root = json_loadb(meta, (size_t)n, 0, NULL);
            FUZZ_CHECK(root);
            query = json_incref(json_object_get(root, "query"));
            FUZZ_CHECK(json_is_object(query));
            json_decref(root);
        }
    }
    free(meta);
    free(scratch);
    free(uri);
    return query;
}

/* Every v_* on fields of one object, and the text predicates on the bytes. */
static void validators_fields(const char *body, size_t len)
{
    json_t *errs = json_array();
    json_t *obj = v_parse_object(body, len, errs);
    validators_errors(errs, obj != NULL);
    if (obj) {
        const char *s = NULL, *u = NULL;
        int64_t i = 0;
        char money[32];
        bool b = false, present = false;
        json_array_clear(errs);
        bool ok = v_string(obj, "s", true, 5, &s, &present, errs);
        validators_errors(errs, ok);
        if (ok)
            FUZZ_CHECK(v_utf8_len(s, strlen(s)) >= 1 && v_utf8_len(s, strlen(s)) <= 5);
        json_array_clear(errs);
        ok = v_int(obj, "i", false, -10, 1000, &i, &present, errs);
        validators_errors(errs, ok);
        if (ok && present)
            FUZZ_CHECK(i >= -10 && i <= 1000);
        json_array_clear(errs);
        ok = v_money(obj, "m", true, false, money, &present, errs);
        validators_errors(errs, ok);
        if (ok)
            validators_money_text(money);
        json_array_clear(errs);
        ok = v_money(obj, "z", false, true, money, &present, errs);
        validators_errors(errs, ok);
        if (ok && present)
            validators_money_text(money);
        json_array_clear(errs);
        ok = v_uuid(obj, "u", false, true, &u, &present, errs);
        validators_errors(errs, ok);
        if (ok && u)
            FUZZ_CHECK(v_is_uuid(u));
        json_array_clear(errs);
        ok = v_bool(obj, "b", false, &b, &present, errs);
        validators_errors(errs, ok);
        json_decref(obj);
    }
    json_decref(errs);
    char *text = fuzz_strndup((const uint8_t *)body, len);
    (void)v_is_email(text);
    (void)v_is_uuid(text);
    long cps = v_utf8_len(body, len);
    FUZZ_CHECK(cps <= (long)len);
    free(text);
}

static void validators_order(const char *body, size_t len)
{
    json_t *errs = json_array();
    order_request_t req;
    int rc = order_request_parse(body, len, &req, errs);
    validators_errors(errs, rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(req.nlines >= 1 && req.nlines <= ORDER_MAX_LINES);
        FUZZ_CHECK(v_is_uuid(req.customer_id));
        for (size_t i = 0; i < req.nlines; i++) {
            FUZZ_CHECK(v_is_uuid(req.lines[i].product_id));
            FUZZ_CHECK(req.lines[i].quantity >= 1 &&
                       req.lines[i].quantity <= (int64_t)ORDER_MAX_LINES * ORDER_MAX_QUANTITY);
            /* merged and sorted: strictly increasing ids */
            FUZZ_CHECK(i == 0 || strcmp(req.lines[i - 1].product_id, req.lines[i].product_id) < 0);
        }
        char *p = order_request_products_text(&req);
        char *q = order_request_quantities_text(&req);
        char *c = order_request_canonical(&req);
        FUZZ_CHECK(p && q && c && p[0] == '{' && q[0] == '{');
        FUZZ_CHECK(strlen(p) == req.nlines * 37 + 1);
        FUZZ_CHECK(strncmp(c, req.customer_id, 36) == 0 && c[36] == '|');
        free(p);
        free(q);
        free(c);
        order_request_clear(&req);
    } else {
        FUZZ_CHECK(req.lines == NULL && req.nlines == 0);
    }
    /* The same bytes as an Idempotency-Key header value. */
    json_array_clear(errs);
    char *key = fuzz_strndup((const uint8_t *)body, len);
    validators_errors(errs, order_idem_key_valid(key, errs));
    free(key);
    json_decref(errs);
}

static void validators_catalog_list(const char *raw, size_t len)
{
    json_t *query = validators_query(raw, len);
    if (!query)
        return;
    json_t *errs = json_array();
    catalog_list_query_t q;
    bool ok = catalog_list_query_parse(query, &q, errs);
    validators_errors(errs, ok);
    if (ok) {
        FUZZ_CHECK(q.page >= 1 && q.page <= INT32_MAX);
        FUZZ_CHECK(q.page_size >= 1 && q.page_size <= 100);
        if (q.has_min)
            validators_money_text(q.min_price);
        if (q.has_max)
            validators_money_text(q.max_price);
        if (q.has_category)
            FUZZ_CHECK(v_is_uuid(q.category_id));
        catalog_list_bufs_t bufs;
        int variant = -1;
        const char *values[8];
        int n = catalog_list_query_params(&q, &bufs, &variant, values);
        FUZZ_CHECK(n >= 3 && n <= 8 && values[0] && values[1] && values[2]);
        char key[2048];
        int klen = catalog_list_query_key(&q, key, sizeof key);
        FUZZ_CHECK(klen > 0 && (size_t)klen < sizeof key);
    }
    json_decref(errs);
    json_decref(query);
}

/* The query helpers of validate.h on their own (other routes' filters). */
static void validators_q(const char *raw, size_t len)
{
    json_t *query = validators_query(raw, len);
    if (!query)
        return;
    json_t *errs = json_array();
    int64_t i;
    char money[32];
    bool b, present;
    const char *u = NULL;
    bool ok = q_int(query, "n", 7, -5, 50, &i, errs);
    validators_errors(errs, ok);
    if (ok)
        FUZZ_CHECK(i >= -5 && i <= 50);
    json_array_clear(errs);
    ok = q_money(query, "m", money, &present, errs);
    validators_errors(errs, ok);
    if (ok && present)
        validators_money_text(money);
    json_array_clear(errs);
    validators_errors(errs, q_bool(query, "b", &b, &present, errs));
    json_array_clear(errs);
    ok = q_uuid(query, "u", &u, errs);
    validators_errors(errs, ok);
    if (ok && u)
        FUZZ_CHECK(v_is_uuid(u));
    json_decref(errs);
    json_decref(query);
}

static void validators_product(const char *body, size_t len, bool partial)
{
    json_t *errs = json_array();
    catalog_product_input_t in;
    int rc = catalog_product_input_parse(body, len, partial, &in, errs);
    validators_errors(errs, rc == 0);
    if (rc == 0) {
        if (!partial) {
            FUZZ_CHECK(in.name && in.name[0] && in.sku && in.sku[0] && in.description);
            validators_money_text(in.price);
        }
        if (in.has_price)
            validators_money_text(in.price);
        if (in.has_name)
            FUZZ_CHECK(in.name[0] != '\0');
        FUZZ_CHECK(in.stock >= 0 && in.stock <= INT32_MAX);
        if (in.category_id)
            FUZZ_CHECK(v_is_uuid(in.category_id));
        (void)catalog_product_input_empty(&in);
        catalog_product_input_clear(&in);
    } else {
        FUZZ_CHECK(in.obj == NULL);
    }
    json_decref(errs);
}

static void validators_category(const char *body, size_t len)
{
    json_t *errs = json_array();
    catalog_category_input_t in;
    int rc = catalog_category_input_parse(body, len, &in, errs);
    validators_errors(errs, rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(in.name && in.name[0] && in.description);
        catalog_category_input_clear(&in);
    }
    json_decref(errs);
}

static void validators_customer(const char *body, size_t len)
{
    json_t *errs = json_array();
    customer_input_t in;
    int rc = customer_input_parse(body, len, &in, errs);
    validators_errors(errs, rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(in.email && v_is_email(in.email) && in.name && in.name[0]);
        customer_input_clear(&in);
    }
    json_decref(errs);
}

int fuzz_validators_one(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* Bodies are copied so ASan sees reads past the end (the real ones are
     * NUL-terminated, so one terminator is allowed). */
    char *body = fuzz_strndup(data + 1, size - 1);
    size_t len = size - 1;
    switch (data[0] % 8) {
    case 0:
        validators_fields(body, len);
        break;
    case 1:
        validators_order(body, len);
        break;
    case 2:
        validators_catalog_list(body, len);
        break;
    case 3:
        validators_product(body, len, false);
        break;
    case 4:
        validators_product(body, len, true);
        break;
    case 5:
        validators_category(body, len);
        break;
    case 6:
        validators_customer(body, len);
        break;
    default:
        validators_q(body, len);
        break;
    }
    free(body);
    return 0;
}

#ifdef SHOPMQ_FUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_validators_one(data, size);
}
#endif
