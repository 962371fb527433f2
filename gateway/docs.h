/* Static documents: GET /docs (index.html and its assets from a docs
 * directory) and GET /openapi.json. Files are read per request, so docs
 * installed after start-up are served without a restart.
 *   docs dir:  $ECOM_DOCS_DIR, else <exe dir>/../docs, else ./docs
 *   openapi:   $ECOM_OPENAPI_PATH, else ./proto/openapi.json, else
 *              <exe dir>/../proto/openapi.json */
#ifndef SHOPMQ_DOCS_H
#define SHOPMQ_DOCS_H

#include <stddef.h>

/* Resolves the locations once (call before the event loops start). */
void docs_init(void);

/* Reads a document: name NULL for /openapi.json, "" for /docs (index.html),
 * else an asset file name (no directories, no leading dot). Returns 0 with a
 * malloc'd body and its static content type, or -1 (not found / refused). */
int docs_read(const char *name, char **body, size_t *len, const char **ctype);

#endif
