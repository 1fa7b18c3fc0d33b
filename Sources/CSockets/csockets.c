#define _GNU_SOURCE
#include "csockets.h"
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

int pgproxy_accept(int listener, struct sockaddr *address, socklen_t *length) {
    return accept4(listener, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int pgproxy_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void pgproxy_name_thread(const char *name) {
    pthread_setname_np(pthread_self(), name);
}

ssize_t pgproxy_send(int socket, const void *bytes, size_t count) {
    return syscall(SYS_sendto, socket, bytes, count, MSG_NOSIGNAL, NULL, 0);
}

ssize_t pgproxy_sendmsg(int socket, const struct msghdr *message) {
    return syscall(SYS_sendmsg, socket, message, MSG_NOSIGNAL);
}

ssize_t pgproxy_recv(int socket, void *bytes, size_t count) {
    return syscall(SYS_recvfrom, socket, bytes, count, 0, NULL, NULL);
}
