/* JSON line logging on stderr: one object per event,
 * {"ts":"...","level":"info","service":"gateway","rid":"...","msg":"..."}.
 * Thread-safe (one write(2) per line). */
#ifndef SHOPMQ_LOG_H
#define SHOPMQ_LOG_H

/* LOGL_, not LOG_: <syslog.h> (which czmq pulls in) owns LOG_DEBUG, LOG_INFO,
 * ... as macros, so those names cannot be ours in any include order. */
enum log_level { LOGL_DEBUG, LOGL_INFO, LOGL_WARN, LOGL_ERROR };

void log_init(const char *service, const char *level /* "info" etc, NULL = info */);
void log_write(enum log_level level, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(rid, ...) log_write(LOGL_DEBUG, (rid), __VA_ARGS__)
#define log_info(rid, ...) log_write(LOGL_INFO, (rid), __VA_ARGS__)
#define log_warn(rid, ...) log_write(LOGL_WARN, (rid), __VA_ARGS__)
#define log_error(rid, ...) log_write(LOGL_ERROR, (rid), __VA_ARGS__)

#endif
