#define _GNU_SOURCE
#include "csockets.h"
#include <pthread.h>
#include <sys/eventfd.h>

int pgproxy_accept(int listener, struct sockaddr *address, socklen_t *length) {
    return accept4(listener, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int pgproxy_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void pgproxy_name_thread(const char *name) {
    pthread_setname_np(pthread_self(), name);
}
