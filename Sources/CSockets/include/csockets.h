#ifndef PGPROXY_CSOCKETS_H
#define PGPROXY_CSOCKETS_H
// System calls pgproxy's own event loop needs that Swift's Glibc module does not offer
// (they need _GNU_SOURCE, or live in headers it leaves out).
#include <sys/epoll.h>
#include <sys/socket.h>

// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC: the accepted socket needs no fcntl calls.
int pgproxy_accept(int listener, struct sockaddr *address, socklen_t *length);
// A non-blocking, close-on-exec eventfd (the loop's wake-up), -1 on failure.
int pgproxy_eventfd(void);
// Names the calling thread (at most 15 bytes are kept), for ps and top.
void pgproxy_name_thread(const char *name);
#endif
