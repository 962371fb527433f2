/* Static documents: GET /docs (index.html and its assets from a docs
 * directory) and GET /openapi.json, served from memory.
 *   docs dir:  $ECOM_DOCS_DIR, else <exe dir>/docs, else <exe dir>/../docs,
 *              else ./docs; an asset missing there is looked for in
 *              <docs dir>/node_modules/swagger-ui-dist
 *   openapi:   $ECOM_OPENAPI_PATH, else ./proto/openapi.json, else
 *              <exe dir>/../proto/openapi.json
 * Each file is read from disk on its first request and kept for the life of
 * the process, so a changed file needs a restart. A file that is not there
 * is looked for again on the next request (nothing is remembered about
 * misses), so docs installed after start-up are still served. */
#ifndef SHOPMQ_DOCS_H
#define SHOPMQ_DOCS_H

#include <stddef.h>

/* Resolves the locations and forgets anything loaded before (call before
 * the event loops start). */
void docs_init(void);

/* A document: name NULL for /openapi.json, "" for /docs (index.html), else an
 * asset file name (no directories, no leading dot). Returns 0 with body (not
 * NUL-terminated), its length and static content type, or -1 (not found /
 * refused). Safe from any thread; body belongs to the docs module and stays
 * valid until docs_destroy. */
int docs_get(const char *name, const char **body, size_t *len, const char **ctype);

/* Frees every loaded document. Only once nothing serves them any more (the
 * event loops have stopped). */
void docs_destroy(void);

#endif
