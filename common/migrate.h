/* Per-service schema migrations, embedded in the binary at build time from
 * <svc>/sql/NNN_name.sql (see CMakeLists.txt: the generated
 * <svc>_migrations.c defines `const migration_t <svc>_migrations[]`,
 * terminated by {NULL, NULL}, sorted by name).
 *
 * migrate_run() takes a PostgreSQL advisory lock (replicas may start
 * together), creates schema_migrations(service, name, applied_at) if
 * needed, and applies each file not yet recorded for this service, each in
 * its own transaction. */
#ifndef SHOPMQ_MIGRATE_H
#define SHOPMQ_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct {
    const char *name; /* "001_customers.sql" */
    const char *sql;
} migration_t;

/* 0 on success, -1 with a message in err. */
int migrate_run(PGconn *conn, const char *service, const migration_t *list, char *err,
                size_t errlen);

/* Start-up helper used by every service: connects with cfg->database_url,
 * waits (logging once, retrying every second, forever until stop is set)
 * for the database and for every table in `requires` (NULL-terminated,
 * may be NULL), then runs migrate_run(). 0 on success, -1 if stopped or
 * a migration failed. */
int migrate_startup(const char *database_url, const char *service, const migration_t *list,
                    const char *const *requires, volatile int *stop);

#endif
