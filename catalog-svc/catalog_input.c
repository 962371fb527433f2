/* Product and category request bodies; see catalog_input.h. */
#include "catalog_input.h"

#include <string.h>

#include "catalog_query.h"
#include "validate.h"

#define NAME_MAX_PRODUCT 200
#define NAME_MAX_CATEGORY 100
#define SKU_MAX 50
#define DESCRIPTION_MAX (1024 * 1024)

/* JSON null for a field that cannot be null means "not given". */
static void drop_nulls(json_t *obj, const char *const *fields)
{
    for (int i = 0; fields[i]; i++) {
        json_t *v = json_object_get(obj, fields[i]);
        if (v && json_is_null(v))
            json_object_del(obj, fields[i]);
    }
}

/* An optional string that, when given, must not be empty. */
static bool nonempty(json_t *obj, const char *field, size_t max, const char **out, bool *present,
                     json_t *errs)
{
    if (!v_string(obj, field, false, max, out, present, errs))
        return false;
    if (*present && (*out)[0] == '\0') {
        v_error(errs, "body", field, "String should have at least 1 character", "string_too_short");
        return false;
    }
    return true;
}

int catalog_product_input_parse(const char *body, size_t len, bool partial,
                                catalog_product_input_t *in, json_t *errs)
{
    memset(in, 0, sizeof *in);
    in->description = "";
    in->is_active = true;
    in->obj = v_parse_object(body, len, errs);
    if (!in->obj)
        return -1;
    static const char *const create_nulls[] = {"description", "stock", NULL};
    static const char *const update_nulls[] = {"name",  "description", "price",
                                               "stock", "is_active",   NULL};
    drop_nulls(in->obj, partial ? update_nulls : create_nulls);
    const char *cat = NULL;
    bool ok = true;
    if (partial)
        ok &= nonempty(in->obj, "name", NAME_MAX_PRODUCT, &in->name, &in->has_name, errs);
    else
        ok &= v_string(in->obj, "name", true, NAME_MAX_PRODUCT, &in->name, &in->has_name, errs);
    ok &= v_string(in->obj, "description", false, DESCRIPTION_MAX, &in->description,
                   &in->has_description, errs);
    ok &= v_money(in->obj, "price", !partial, false, in->price, &in->has_price, errs);
    ok &= v_int(in->obj, "stock", false, 0, INT32_MAX, &in->stock, &in->has_stock, errs);
    if (!partial)
        ok &= v_string(in->obj, "sku", true, SKU_MAX, &in->sku, NULL, errs);
    ok &= v_uuid(in->obj, "category_id", false, true, &cat, &in->has_category, errs);
    if (partial)
        ok &= v_bool(in->obj, "is_active", false, &in->is_active, &in->has_active, errs);
    if (!ok) {
        catalog_product_input_clear(in);
        return -1;
    }
    if (cat && catalog_uuid_normalize(cat, in->category_buf))
        in->category_id = in->category_buf;
    return 0;
}

bool catalog_product_input_empty(const catalog_product_input_t *in)
{
    return !in->has_name && !in->has_description && !in->has_price && !in->has_stock &&
           !in->has_category && !in->has_active;
}

void catalog_product_input_clear(catalog_product_input_t *in)
{
    json_decref(in->obj);
    memset(in, 0, sizeof *in);
}

int catalog_category_input_parse(const char *body, size_t len, catalog_category_input_t *in,
                                 json_t *errs)
{
    memset(in, 0, sizeof *in);
    in->description = "";
    in->obj = v_parse_object(body, len, errs);
    if (!in->obj)
        return -1;
    static const char *const nulls[] = {"description", NULL};
    drop_nulls(in->obj, nulls);
    bool ok = true;
    ok &= v_string(in->obj, "name", true, NAME_MAX_CATEGORY, &in->name, NULL, errs);
    ok &= v_string(in->obj, "description", false, DESCRIPTION_MAX, &in->description, NULL, errs);
    if (!ok) {
        catalog_category_input_clear(in);
        return -1;
    }
    return 0;
}

void catalog_category_input_clear(catalog_category_input_t *in)
{
    json_decref(in->obj);
    memset(in, 0, sizeof *in);
}
