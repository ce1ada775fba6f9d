/* The event stream: one JSON object a line, written with write(2) so that a line
 * is never lost in a stdio buffer when the process dies (SIGPIPE). */
#ifndef NETKIT_EVENTS_H
#define NETKIT_EVENTS_H

#include <stddef.h>
#include <sys/socket.h>

struct event {
    char buf[16384];
    size_t len;
};

/* Where events go: a path (appended to) or an already open descriptor. */
int events_open(const char *program, const char *path, int fd);

/* A forked child names itself in its events. */
void events_rename(const char *program);

void event_begin(struct event *e, const char *name);
void event_int(struct event *e, const char *key, long value);
void event_str(struct event *e, const char *key, const char *value);
void event_bytes(struct event *e, const char *key, const char *data, size_t n);
void event_errno(struct event *e, int err);
void event_addr(struct event *e, const char *key, const struct sockaddr *sa, socklen_t len);
void event_end(struct event *e);

/* Shorthand for an event that is only a call's result: ret, and errno when ret < 0. */
void event_result(const char *name, int fd, long ret, int err);

/* A read or write: its result, then the bytes moved, "eof" (ret 0) or the errno. */
void event_io(const char *name, int fd, long ret, int err, const char *data);

/* Open the event stream and set the SIGPIPE disposition; on bad options, say which
 * and return 2 (the exit status for usage errors). */
int program_setup(const char *program, const char *events_path, int events_fd,
                  const char *sigpipe);

/* SIGPIPE disposition shared by both programs: "ignore", "default" or "handler". */
int sigpipe_setup(const char *mode);

/* Exit after recording the exit event. */
void exit_with(int status) __attribute__((noreturn));

/* Parse a non-negative number of seconds (decimals allowed); -1 when invalid. */
double parse_seconds(const char *text);

#endif
