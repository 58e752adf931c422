/* CPosix shim: wrappers for POSIX calls Swift cannot import (variadic
 * functions, GNU extensions). */
#define _GNU_SOURCE
#include <spawn.h>
#include <syslog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include "CPosix.h"

void posthorn_syslog(int priority, const char *text) { syslog(priority, "%s", text); }

int posthorn_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int posthorn_listener_epoll(const int *listeners, int count, int watch_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    for (int i = 0; i < count; i++) {
        struct epoll_event event = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listeners[i] };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &event) != 0) {
            /* Kernels before 4.5: plain (wake-all) registration. */
            event.events = EPOLLIN;
            if (epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i], &event) != 0) { close(ep); return -1; }
        }
    }
    if (watch_fd >= 0) {
        struct epoll_event event = { .events = 0, .data.fd = watch_fd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, watch_fd, &event) != 0) { close(ep); return -1; }
    }
    return ep;
}

int posthorn_listener_wait(int epoll_fd, int watch_fd, int timeout) {
    struct epoll_event events[8];
    int n = epoll_wait(epoll_fd, events, 8, timeout);
    if (n < 0) return -1;
    if (n == 0) return -3;
    int ready = -3;
    for (int i = 0; i < n; i++) {
        if (events[i].data.fd == watch_fd) {
            if (events[i].events & (EPOLLERR | EPOLLHUP)) return -2;
        } else if (ready == -3) {
            ready = events[i].data.fd;
        }
    }
    return ready;
}

int posthorn_open_tmpfile(const char *directory, unsigned int mode) {
    return open(directory, O_RDWR | O_TMPFILE | O_CLOEXEC, (mode_t) mode);
}

int posthorn_open_directory(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd;
}

int posthorn_accept_cloexec(int listener) {
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
}

int posthorn_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int posthorn_epoll_watch(int epoll_fd, int fd) {
    struct epoll_event event = { .events = EPOLLIN, .data.fd = fd };
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) == 0) return 0;
    if (errno != EEXIST) return -1;
    return epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &event);
}

int posthorn_epoll_unwatch(int epoll_fd, int fd) {
    struct epoll_event unused = { 0 };
    return epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, &unused);
}

int posthorn_epoll_ready(int epoll_fd, int *fds, int max, int timeout) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epoll_fd, events, max, timeout);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

int posthorn_status_page_create(unsigned long size) {
    int fd = memfd_create("posthorn-status", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, (off_t) size) != 0) { int saved = errno; close(fd); errno = saved; return -1; }
    return fd;
}

void *posthorn_map_shared(int fd, unsigned long size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

int posthorn_atomic_add(int *counter, int delta) { return __atomic_fetch_add(counter, delta, __ATOMIC_SEQ_CST); }
int posthorn_atomic_load(int *counter) { return __atomic_load_n(counter, __ATOMIC_SEQ_CST); }
void posthorn_atomic_store(int *counter, int value) { __atomic_store_n(counter, value, __ATOMIC_SEQ_CST); }
unsigned char posthorn_atomic_load_byte(unsigned char *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
void posthorn_atomic_store_byte(unsigned char *p, unsigned char value) { __atomic_store_n(p, value, __ATOMIC_SEQ_CST); }

int posthorn_recv_datagrams(int fd, unsigned char *buffer, int slot_size, int count, int *lengths) {
    struct mmsghdr messages[64];
    struct iovec vectors[64];
    if (count > 64) count = 64;
    memset(messages, 0, sizeof(struct mmsghdr) * (size_t) count);
    for (int i = 0; i < count; i++) {
        vectors[i].iov_base = buffer + (size_t) i * (size_t) slot_size;
        vectors[i].iov_len = (size_t) slot_size;
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, messages, (unsigned int) count, MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) lengths[i] = (int) messages[i].msg_len;
    return n;
}
