/* catalog_query: product list parameters (see catalog_query.h). */
#include "catalog_query.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

bool catalog_uuid_normalize(const char *s, char out[37])
{
    if (!s || !v_is_uuid(s) || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[36] = '\0';
    return true;
}

int catalog_like_escape(const char *term, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *s = term; *s; s++) {
        bool special = *s == '\\' || *s == '%' || *s == '_';
        if (n + (special ? 2 : 1) >= cap)
            return -1;
        if (special)
            out[n++] = '\\';
        out[n++] = *s;
    }
    if (cap == 0)
        return -1;
    out[n] = '\0';
    return (int)n;
}

bool catalog_list_query_parse(json_t *query, catalog_list_query_t *q, json_t *errs)
{
    memset(q, 0, sizeof *q);
    bool ok = true;
    ok &= q_int(query, "page", 1, 1, INT32_MAX, &q->page, errs);
    ok &= q_int(query, "page_size", 20, 1, 100, &q->page_size, errs);

    const char *cat = NULL;
    if (!q_uuid(query, "category_id", &cat, errs))
        ok = false;
    else if (cat) {
        q->has_category = catalog_uuid_normalize(cat, q->category_id);
        if (!q->has_category) { /* q_uuid accepted it: cannot happen, but never trust */
            v_error(errs, "query", "category_id", "value is not a valid uuid", "uuid_parsing");
            ok = false;
        }
    }
    ok &= q_money(query, "min_price", q->min_price, &q->has_min, errs);
    ok &= q_money(query, "max_price", q->max_price, &q->has_max, errs);
    ok &= q_bool(query, "in_stock", &q->in_stock, NULL, errs);

    json_t *s = json_object_get(query, "search");
    if (s && !json_is_string(s)) {
        v_error(errs, "query", "search", "value is not a valid string", "string_type");
        ok = false;
    } else if (s && json_string_length(s) > 0) {
        const char *text = json_string_value(s);
        long chars = v_utf8_len(text, json_string_length(s));
        if (chars < 0) {
            v_error(errs, "query", "search", "must be valid UTF-8 text", "string_type");
            ok = false;
        } else if (chars > CATALOG_SEARCH_MAX) {
            v_error(errs, "query", "search", "ensure this value has at most 200 characters",
                    "string_too_long");
            ok = false;
        } else {
            snprintf(q->search, sizeof q->search, "%s", text);
            q->pattern[0] = '%';
            int n = catalog_like_escape(text, q->pattern + 1, sizeof q->pattern - 2);
            if (n < 0) {
                v_error(errs, "query", "search", "too long", "string_too_long");
                ok = false;
            } else {
                q->pattern[n + 1] = '%';
                q->pattern[n + 2] = '\0';
                q->has_search = true;
            }
        }
    }
    return ok;
}

int catalog_list_query_params(const catalog_list_query_t *q, catalog_list_bufs_t *bufs,
                              int *variant, const char *values[8])
{
    snprintf(bufs->page_size, sizeof bufs->page_size, "%lld", (long long)q->page_size);
    snprintf(bufs->offset, sizeof bufs->offset, "%lld", (long long)((q->page - 1) * q->page_size));
    snprintf(bufs->page, sizeof bufs->page, "%lld", (long long)q->page);
    int n = 0, v = 0;
    values[n++] = bufs->page_size;
    values[n++] = bufs->offset;
    values[n++] = bufs->page;
    if (q->has_category) {
        v |= CATALOG_LIST_CATEGORY;
        values[n++] = q->category_id;
    }
    if (q->has_min || q->has_max) {
        v |= CATALOG_LIST_PRICE;
        values[n++] = q->has_min ? q->min_price : NULL;
        values[n++] = q->has_max ? q->max_price : NULL;
    }
    if (q->has_search) {
        v |= CATALOG_LIST_SEARCH;
        values[n++] = q->pattern;
    }
    if (q->in_stock)
        v |= CATALOG_LIST_IN_STOCK;
    *variant = v;
    return n;
}

int catalog_list_query_key(const catalog_list_query_t *q, char *out, size_t cap)
{
    int n = snprintf(out, cap, "p=%lld&ps=%lld&c=%s&min=%s&max=%s&st=%d&s=%s", (long long)q->page,
                     (long long)q->page_size, q->has_category ? q->category_id : "",
                     q->has_min ? q->min_price : "", q->has_max ? q->max_price : "",
                     q->in_stock ? 1 : 0, q->has_search ? q->search : "");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
