/* catalog_sql: the statement table and the statement runner. */
#include "catalog_sql.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* p: a products row, c: its category (LEFT JOIN, may be NULL). */
#define PRODUCT_JSON                                                                               \
    "json_build_object('id', p.id, 'name', p.name, 'description', p.description, "                 \
    "'price', p.price, 'stock', p.stock, 'sku', p.sku, 'category_id', p.category_id, "             \
    "'category_name', c.name, 'is_active', p.is_active, "                                          \
    "'created_at', " TS("p.created_at") ", 'updated_at', " TS("p.updated_at") ")"

#define PRODUCT_FROM_CTE                                                                           \
    "SELECT p.version, " PRODUCT_JSON " FROM p LEFT JOIN categories c ON c.id = p.category_id"

#define CATEGORY_JSON(count)                                                                       \
    "json_build_object('id', c.id, 'name', c.name, 'description', c.description, "                 \
    "'product_count', " count ", 'created_at', " TS("c.created_at") ")"

#define NFIXED 7

static const pgpool_stmt_t fixed_stmts[NFIXED] = {
    {CATALOG_SQL_PRODUCT_GET,
     "SELECT p.version, " PRODUCT_JSON
     " FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = $1::uuid"},
    {CATALOG_SQL_PRODUCT_CREATE,
     "WITH p AS (INSERT INTO products (name, description, price, stock, sku, category_id) "
     "VALUES ($1, $2, $3::numeric, $4::int, $5, $6::uuid) RETURNING *) " PRODUCT_FROM_CTE},
    /* $1 id, $2 name, $3 description, $4 price, $5 stock, $6 set category?,
     * $7 category (NULL clears it), $8 is_active. NULL = leave unchanged.
     * version and updated_at are bumped by the products_bump_version trigger. */
    {CATALOG_SQL_PRODUCT_UPDATE,
     "WITH p AS (UPDATE products SET name = COALESCE($2, name), "
     "description = COALESCE($3, description), price = COALESCE($4::numeric, price), "
     "stock = COALESCE($5::int, stock), "
     "category_id = CASE WHEN $6::bool THEN $7::uuid ELSE category_id END, "
     "is_active = COALESCE($8::bool, is_active) WHERE id = $1::uuid RETURNING "
     "*) " PRODUCT_FROM_CTE},
    {CATALOG_SQL_PRODUCT_DELETE, "WITH p AS (UPDATE products SET is_active = false WHERE id = "
                                 "$1::uuid RETURNING *) " PRODUCT_FROM_CTE},
    /* One aggregate pass over active products, not one count per category. */
    {CATALOG_SQL_CATEGORY_LIST,
     "SELECT COALESCE(json_agg(" CATEGORY_JSON(
         "COALESCE(n.cnt, 0)") " ORDER BY c.name), '[]'::json) "
                               "FROM categories c LEFT JOIN (SELECT category_id, count(*) AS cnt "
                               "FROM products "
                               "WHERE is_active GROUP BY category_id) n ON n.category_id = c.id"},
    {CATALOG_SQL_CATEGORY_GET,
     "SELECT " CATEGORY_JSON("(SELECT count(*) FROM products p WHERE p.category_id = c.id AND "
                             "p.is_active)") " FROM categories c WHERE c.id = $1::uuid"},
    {CATALOG_SQL_CATEGORY_CREATE,
     "WITH c AS (INSERT INTO categories (name, description) VALUES ($1, $2) RETURNING *) "
     "SELECT " CATEGORY_JSON("0") " FROM c"},
};

static pgpool_stmt_t table[NFIXED + CATALOG_LIST_VARIANTS + 1];
static char list_names[CATALOG_LIST_VARIANTS][32];
static char *list_sql[CATALOG_LIST_VARIANTS];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Builds the WHERE clause of one variant; parameters after $3 are numbered
 * in the order the header documents. */
static void list_where(int variant, char *out, size_t cap)
{
    int n = 4;
    size_t len = (size_t)snprintf(out, cap, "p.is_active");
    if (variant & CATALOG_LIST_CATEGORY)
        len += (size_t)snprintf(out + len, cap - len, " AND p.category_id = $%d::uuid", n++);
    if (variant & CATALOG_LIST_PRICE) {
        len += (size_t)snprintf(out + len, cap - len,
                                " AND p.price >= COALESCE($%d::numeric, 0)"
                                " AND p.price <= COALESCE($%d::numeric, 9999999999.99)",
                                n, n + 1);
        n += 2;
    }
    if (variant & CATALOG_LIST_SEARCH)
        len += (size_t)snprintf(out + len, cap - len, " AND p.name ILIKE $%d", n++);
    if (variant & CATALOG_LIST_IN_STOCK)
        snprintf(out + len, cap - len, " AND p.stock > 0");
}

static void table_build(void)
{
    memcpy(table, fixed_stmts, sizeof fixed_stmts);
    for (int v = 0; v < CATALOG_LIST_VARIANTS; v++) {
        char where[512];
        list_where(v, where, sizeof where);
        snprintf(list_names[v], sizeof list_names[v], "cat_product_list_%d", v);
        /* The page and the count are separate scans on purpose: the page
         * walks an index in name order and stops after LIMIT rows, while a
         * window count over the page query would have to sort everything. */
        if (asprintf(&list_sql[v],
                     "SELECT json_build_object("
                     "'items', COALESCE((SELECT json_agg(" PRODUCT_JSON " ORDER BY p.name, p.id) "
                     "FROM (SELECT * FROM products p WHERE %s ORDER BY p.name, p.id "
                     "LIMIT $1::int OFFSET $2::bigint) p "
                     "LEFT JOIN categories c ON c.id = p.category_id), '[]'::json), "
                     "'total', t.n, 'page', $3::int, 'page_size', $1::int, "
                     "'pages', (t.n + $1::int - 1) / $1::int) "
                     "FROM (SELECT count(*) AS n FROM products p WHERE %s) t",
                     where, where) < 0)
            abort();
        table[NFIXED + v].name = list_names[v];
        table[NFIXED + v].sql = list_sql[v];
    }
    table[NFIXED + CATALOG_LIST_VARIANTS].name = NULL;
    table[NFIXED + CATALOG_LIST_VARIANTS].sql = NULL;
}

const pgpool_stmt_t *catalog_sql_statements(void)
{
    pthread_once(&table_once, table_build);
    return table;
}

const char *catalog_sql_list_name(int variant)
{
    pthread_once(&table_once, table_build);
    if (variant < 0 || variant >= CATALOG_LIST_VARIANTS)
        return NULL;
    return list_names[variant];
}

void catalog_sql_result_clear(catalog_sql_result_t *res)
{
    free(res->json);
    memset(res, 0, sizeof *res);
}

static int run_once(PGconn *conn, const char *rid, const char *stmt, int nparams,
                    const char *const *values, catalog_sql_result_t *out, bool *conn_broken)
{
    PGresult *res = pgpool_exec(conn, stmt, nparams, values);
    int rc;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK) {
        if (PQntuples(res) == 0) {
            rc = CATALOG_SQL_EMPTY;
        } else {
            int last = PQnfields(res) - 1;
            if (PQnfields(res) >= 2)
                out->version = strtol(PQgetvalue(res, 0, 0), NULL, 10);
            out->json = strdup(PQgetvalue(res, 0, last));
            rc = out->json ? CATALOG_SQL_OK : CATALOG_SQL_ERROR;
        }
    } else {
        const char *state = pgpool_sqlstate(res);
        snprintf(out->sqlstate, sizeof out->sqlstate, "%s", state);
        if (strncmp(state, "23", 2) == 0) {
            const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
            snprintf(out->constraint, sizeof out->constraint, "%s", cons ? cons : "");
            rc = CATALOG_SQL_CONSTRAINT;
        } else if (pgpool_is_conn_error(conn, res)) {
            *conn_broken = true;
            log_warn(rid, "%s: connection error: %s", stmt, PQerrorMessage(conn));
            rc = CATALOG_SQL_UNAVAILABLE;
        } else {
            log_error(rid, "%s failed: sqlstate %s: %s", stmt, state,
                      res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
            rc = CATALOG_SQL_ERROR;
        }
    }
    PQclear(res);
    return rc;
}

int catalog_sql_run(pgpool_t *pool, const char *rid, const char *stmt, int nparams,
                    const char *const *values, bool retry_safe, catalog_sql_result_t *out)
{
    memset(out, 0, sizeof *out);
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *conn = pgpool_acquire(pool, -1);
        if (!conn)
            return CATALOG_SQL_UNAVAILABLE;
        bool broken = false;
        int rc = run_once(conn, rid, stmt, nparams, values, out, &broken);
        pgpool_release(pool, conn);
        if (rc != CATALOG_SQL_UNAVAILABLE || !broken || !retry_safe)
            return rc;
    }
    return CATALOG_SQL_UNAVAILABLE;
}
