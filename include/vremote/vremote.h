/*
 * vremote.h: the native C API of vremote, a coherent distributed page cache.
 *
 * A program talks to the vremoted daemon of its own machine. Files are named
 * "VOLUME/relative/path": the volume is the name a node exports a directory under, the rest a
 * path beneath it. Every read sees the last write completed anywhere in the cluster.
 *
 *   vr_client* c = vr_connect(NULL);            // $VREMOTE_CONFIG or /etc/vremote/vremote.toml
 *   int fd = vr_open(c, "n1/data/log", VR_O_CREAT, 0644);
 *   ssize_t n = vr_pwrite(c, fd, buf, len, 0);
 *   vr_fsync(c, fd);                             // durable on the file's home node
 *   vr_close(c, fd);
 *   vr_disconnect(c);
 *
 * Return convention (like liburing): functions returning int or ssize_t return a value >= 0 on
 * success and a negative errno value on failure (-ENOENT, -ETIMEDOUT, ...); errno is left alone.
 * vr_connect, which returns a pointer, returns NULL and sets errno instead. After any failure,
 * vr_last_error() describes it in words for the calling thread.
 *
 * Descriptors are small integers local to one vr_client (not kernel file descriptors, and not
 * valid in another vr_client). Every call is synchronous: one request to the daemon over its
 * Unix socket, then its reply (vr_pread and vr_pwrite send one request per chunk of at most the
 * protocol's I/O size, 1 MiB). A vr_client may be used from several threads at once; its calls
 * are then serialised. vr_disconnect must not race with other calls on the same client.
 *
 * The API is shaped so that a shared-memory transport (submission and completion rings, as in
 * io_uring) can be added later without changing it: vr_client is opaque, descriptors belong to
 * the library rather than to the daemon's wire protocol, and every result is the same ">= 0 or
 * -errno" value a completion entry would carry. A future vr_ring_* API would submit these same
 * operations asynchronously.
 *
 * Link with -lvremote. This header is valid C99 and C++.
 */
#ifndef VREMOTE_VREMOTE_H
#define VREMOTE_VREMOTE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define VREMOTE_API __attribute__((visibility("default")))
#else
#define VREMOTE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A connection to the local daemon. Opaque. */
typedef struct vr_client vr_client;

/* vr_open flags; 0 opens an existing file for reading and writing. */
#define VR_O_CREAT 0x1  /* create the file if it does not exist (mode applies) */
#define VR_O_EXCL 0x2   /* with VR_O_CREAT: fail with -EEXIST if it exists */
#define VR_O_TRUNC 0x4  /* truncate to 0 bytes; not with VR_O_RDONLY */
#define VR_O_RDONLY 0x8 /* open for reading only */

struct vr_stat {
    uint64_t ino;     /* inode number on the home node */
    uint64_t size;    /* bytes */
    uint32_t mode;    /* st_mode: type and permission bits */
    int64_t mtime_ns; /* last modification, nanoseconds since the epoch */
};

/*
 * Connects to the local vremoted. config_or_socket is a node config (a path ending in ".toml",
 * or any regular file) whose node.client_socket is used and whose timeouts.request_ms (plus 5 s)
 * becomes the per-call timeout; or the daemon's Unix socket itself (timeout 30 s). NULL means
 * $VREMOTE_CONFIG if set, else /etc/vremote/vremote.toml. Only the config's syntax and values
 * are checked: the caller need not be able to read the cluster secret.
 * Returns NULL with errno set on failure (ENOENT: no socket or no config, ECONNREFUSED is
 * reported as EIO, EACCES, EINVAL for a bad config, ETIMEDOUT).
 */
VREMOTE_API vr_client* vr_connect(const char* config_or_socket);

/* Closes the connection; the daemon closes the client's open files. NULL is ignored. */
VREMOTE_API void vr_disconnect(vr_client* c);

/* Sets the per-call timeout (milliseconds, > 0). A call that times out fails with -ETIMEDOUT;
 * the client stays usable. Returns 0 or -EINVAL. */
VREMOTE_API int vr_set_timeout(vr_client* c, unsigned int timeout_ms);

/* Opens "VOLUME/relative/path". flags: VR_O_* bits; mode: permission bits (<= 07777) for a file
 * VR_O_CREAT creates, ignored otherwise. Returns a descriptor >= 0. */
VREMOTE_API int vr_open(vr_client* c, const char* path, int flags, unsigned int mode);

/* Reads up to count bytes at offset. Returns the bytes read: fewer than count only at the end of
 * the file (0 at or past it). If a chunk fails after others succeeded, returns what was read. */
VREMOTE_API ssize_t vr_pread(vr_client* c, int fd, void* buf, size_t count, uint64_t offset);

/* Writes count bytes at offset (extending the file as needed). Returns count, or fewer if a
 * chunk failed after others succeeded. A completed write is visible to every reader at once;
 * vr_fsync makes it durable. */
VREMOTE_API ssize_t vr_pwrite(vr_client* c, int fd, const void* buf, size_t count, uint64_t offset);

/* Makes the file's completed writes durable on its home node's disk. Returns 0. */
VREMOTE_API int vr_fsync(vr_client* c, int fd);

/* Closes the descriptor (released even if the daemon reports an error). Returns 0. */
VREMOTE_API int vr_close(vr_client* c, int fd);

/* Attributes of "VOLUME/relative/path". Returns 0 and fills *st. Like stat(2) and struct stat,
 * the function and the struct share a name; C++ then needs "struct vr_stat" for the type, and
 * g++ -Wshadow would say the function hides the struct's constructor, so it is told not to. */
#if defined(__GNUC__) && defined(__cplusplus)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
VREMOTE_API int vr_stat(vr_client* c, const char* path, struct vr_stat* st);
#if defined(__GNUC__) && defined(__cplusplus)
#pragma GCC diagnostic pop
#endif

/* A static description of an errno value (negative or positive), in vremote's words where
 * vremote has them ("no such file" for ENOENT, "timed out" for ETIMEDOUT). Never NULL. */
VREMOTE_API const char* vr_strerror(int err);

/* The calling thread's description of its last failed vr_* call (including the daemon's
 * message), valid until its next failed vr_* call; "" if none failed. Never NULL. */
VREMOTE_API const char* vr_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* VREMOTE_VREMOTE_H */
