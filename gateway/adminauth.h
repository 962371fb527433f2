/* The admin token check for write routes (route_t.admin).
 *
 * When ECOM_ADMIN_TOKEN is set, those routes need
 * "Authorization: Bearer <token>". The comparison takes the same time
 * whatever the token and the guess are: both are held in fixed-size,
 * zero-padded buffers and every byte is compared, so neither the position of
 * the first wrong byte nor the token's length shows in the response time. */
#ifndef SHOPMQ_ADMINAUTH_H
#define SHOPMQ_ADMINAUTH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest token accepted (config_t.admin_token holds 255 bytes). */
#define ADMINAUTH_MAX 256

typedef struct {
    bool on; /* a token is configured */
    unsigned char token[ADMINAUTH_MAX];
    unsigned len;
} adminauth_t;

/* Keeps a padded copy of token (NULL or "" turns the check off). */
void adminauth_init(adminauth_t *self, const char *token);

/* Checks an Authorization header value (NULL when absent).
 * Returns 0 when allowed (or the check is off), 401 when the header is
 * missing or not "Bearer <credentials>", 403 when the credentials are wrong. */
int adminauth_check(const adminauth_t *self, const char *authorization);

/* Same with the header value's length as received, so a NUL inside it is
 * seen (and refused with 401) rather than ending the value early. */
int adminauth_check_n(const adminauth_t *self, const char *authorization, size_t len);

#endif
