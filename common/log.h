/* JSON line logging on stderr: one object per event,
 * {"ts":"...","level":"info","service":"gateway","rid":"...","msg":"..."}.
 * Thread-safe (one write(2) per line). */
#ifndef SHOPMQ_LOG_H
#define SHOPMQ_LOG_H

/* <syslog.h> (pulled in by czmq) defines LOG_DEBUG and LOG_INFO as macros
 * (7 and 6) that would shadow the names below. Include it here, once, and
 * drop those two macros: its include guard keeps a later include from
 * bringing them back, so the include order no longer matters. */
#include <syslog.h>
#undef LOG_DEBUG
#undef LOG_INFO

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *service, const char *level /* "info" etc, NULL = info */);
void log_write(enum log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(rid, ...) log_write(LOG_DEBUG, (rid), __VA_ARGS__)
#define log_info(rid, ...) log_write(LOG_INFO, (rid), __VA_ARGS__)
#define log_warn(rid, ...) log_write(LOG_WARN, (rid), __VA_ARGS__)
#define log_error(rid, ...) log_write(LOG_ERROR, (rid), __VA_ARGS__)

#endif
