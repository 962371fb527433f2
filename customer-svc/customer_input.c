/* The customer create body; see customer_input.h. */
#include "customer_input.h"

#include <string.h>

#include "validate.h"

int customer_input_parse(const char *body, size_t len, customer_input_t *in, json_t *errs)
{
    memset(in, 0, sizeof *in);
    size_t before = json_array_size(errs);
    in->obj = v_parse_object(body, len, errs);
    if (in->obj) {
        /* Both fields are checked so one answer lists every problem. */
        if (v_string(in->obj, "email", true, 255, &in->email, NULL, errs) && !v_is_email(in->email))
            v_error(errs, "body", "email", "value is not a valid email address", "value_error");
        v_string(in->obj, "name", true, 200, &in->name, NULL, errs);
    }
    if (json_array_size(errs) > before) {
        customer_input_clear(in);
        return -1;
    }
    return 0;
}

void customer_input_clear(customer_input_t *in)
{
    json_decref(in->obj);
    memset(in, 0, sizeof *in);
}
