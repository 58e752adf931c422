/* CPosix: POSIX calls Swift cannot import directly (variadic ones). */
#ifndef POSTHORN_CPOSIX_H
#define POSTHORN_CPOSIX_H
#include <spawn.h>
/* syslog(priority, "%s", text). */
void posthorn_syslog(int priority, const char *text);
/* posix_spawn_file_actions_addclosefrom_np (a GNU extension). */
int posthorn_spawn_add_closefrom(posix_spawn_file_actions_t *actions, int from);
/* An epoll set in which each of the count listeners wakes one waiting
 * process per event (EPOLLEXCLUSIVE), plus watch_fd (or -1), of which only
 * errors and hang-ups are reported. Returns the epoll descriptor or -1. */
int posthorn_listener_epoll(const int *listeners, int count, int watch_fd);
/* Waits up to timeout milliseconds (-1: forever) on such a set. Returns a
 * ready listener, -2 when watch_fd reported an error or hang-up, -3 on
 * timeout, -1 on failure (errno set; EINTR included). */
int posthorn_listener_wait(int epoll_fd, int watch_fd, int timeout);
/* open(directory, O_RDWR | O_TMPFILE | O_CLOEXEC, mode): an unnamed file in
 * directory (the flag's value differs between architectures). -1 with
 * errno set when the file system or kernel cannot. */
int posthorn_open_tmpfile(const char *directory, unsigned int mode);
/* A directory opened for reading, without access-time updates when the
 * caller owns it (O_NOATIME), else plainly; -1 and errno on failure. */
int posthorn_open_directory(const char *path);
/* accept4(listener, NULL, NULL, SOCK_CLOEXEC): the new connection is
 * close-on-exec and blocking (Linux does not carry the listener's
 * O_NONBLOCK over) in one call. */
int posthorn_accept_cloexec(int listener);
/* Level-triggered readability in an epoll set for EventLoop: create the
 * set (close-on-exec); add (or, when already there, modify) and remove a
 * descriptor; 0 or -1 with errno. */
int posthorn_epoll_create(void);
int posthorn_epoll_watch(int epoll_fd, int fd);
int posthorn_epoll_unwatch(int epoll_fd, int fd);
/* epoll_wait up to timeout milliseconds; the ready descriptors go to fds
 * (at most max). Returns their number, or -1 with errno (EINTR included). */
int posthorn_epoll_ready(int epoll_fd, int *fds, int max, int timeout);
/* The status page master shares with a service's processes: an unnamed
 * memory file (memfd, close-on-exec) of size bytes, zero-filled; -1 with
 * errno on failure. Mapped shared with posthorn_map_shared. */
int posthorn_status_page_create(unsigned long size);
void *posthorn_map_shared(int fd, unsigned long size);
/* Sequentially consistent atomics on that page: add returns the value
 * before the addition. */
int posthorn_atomic_add(int *counter, int delta);
int posthorn_atomic_load(int *counter);
void posthorn_atomic_store(int *counter, int value);
unsigned char posthorn_atomic_load_byte(unsigned char *p);
void posthorn_atomic_store_byte(unsigned char *p, unsigned char value);
/* Up to count datagrams waiting on fd in one call (recvmmsg, MSG_DONTWAIT):
 * datagram i goes to buffer + i * slot_size, its length to lengths[i]
 * (a longer one is cut at slot_size, as recv would cut it). Returns how
 * many were read, or -1 with errno (EAGAIN: none waiting). */
int posthorn_recv_datagrams(int fd, unsigned char *buffer, int slot_size, int count, int *lengths);
#endif
