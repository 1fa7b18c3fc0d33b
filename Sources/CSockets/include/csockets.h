#ifndef PGPROXY_CSOCKETS_H
#define PGPROXY_CSOCKETS_H
// System calls pgproxy's own event loop needs that Swift's Glibc module does not offer
// (they need _GNU_SOURCE, or live in headers it leaves out).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC: the accepted socket needs no fcntl calls.
int pgproxy_accept(int listener, struct sockaddr *address, socklen_t *length);
// A non-blocking, close-on-exec eventfd (the loop's wake-up), -1 on failure.
int pgproxy_eventfd(void);
// Names the calling thread (at most 15 bytes are kept), for ps and top.
void pgproxy_name_thread(const char *name);
// send(2) with MSG_NOSIGNAL, sendmsg(2) with MSG_NOSIGNAL, and recv(2), made with syscall(2):
// glibc's own wrappers are cancellation points, and the bookkeeping for that (pgproxy cancels no
// threads) costs more user-space instructions than the rest of the call. -1 and errno on error.
// recv, not read: read(2) on a socket goes through the kernel's file layer first (vfs_read,
// fdget_pos, rw_verify_area, sock_read_iter), which costs more kernel time per call than
// recvfrom's direct way to the socket.
ssize_t pgproxy_send(int socket, const void *bytes, size_t count);
ssize_t pgproxy_sendmsg(int socket, const struct msghdr *message);
ssize_t pgproxy_recv(int socket, void *bytes, size_t count);
#endif
