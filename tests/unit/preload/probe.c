/*
 * preload_probe: makes one kind of open call, as told, and prints what it got, so that
 * preload_test can run it under LD_PRELOAD=libvremote-preload.so.
 *
 *   preload_probe [--dir DIR | --dirfd N] [--repeat N] [--threads N] [--null] [--fork]
 *                 ENTRY PATH FLAGS [MODE]
 *
 * ENTRY is one of open open64 openat openat64 creat creat64 __open_2 __open64_2 __openat_2
 * __openat64_2; FLAGS and MODE are C numbers (0x..., 0...). For each open it prints
 *   ok PATH-OF-FD flags=HEX size=N mode=OCTAL     (the fd's /proc/self/fd link, F_GETFL, fstat)
 *   err ERRNO-NAME
 * The umask is 0, so MODE is the created file's mode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vremote/fcntl.h>

extern int __open_2(const char* path, int flags);
extern int __open64_2(const char* path, int flags);
extern int __openat_2(int dirfd, const char* path, int flags);
extern int __openat64_2(int dirfd, const char* path, int flags);

static const char* entry;
static const char* path;
static int flags;
static mode_t mode;
static int dirfd = AT_FDCWD;

static int call(void) {
    if (strcmp(entry, "open") == 0) {
        return open(path, flags, mode);
    }
    if (strcmp(entry, "open64") == 0) {
        return open64(path, flags, mode);
    }
    if (strcmp(entry, "openat") == 0) {
        return openat(dirfd, path, flags, mode);
    }
    if (strcmp(entry, "openat64") == 0) {
        return openat64(dirfd, path, flags, mode);
    }
    if (strcmp(entry, "creat") == 0) {
        return creat(path, mode);
    }
    if (strcmp(entry, "creat64") == 0) {
        return creat64(path, mode);
    }
    if (strcmp(entry, "__open_2") == 0) {
        return __open_2(path, flags);
    }
    if (strcmp(entry, "__open64_2") == 0) {
        return __open64_2(path, flags);
    }
    if (strcmp(entry, "__openat_2") == 0) {
        return __openat_2(dirfd, path, flags);
    }
    if (strcmp(entry, "__openat64_2") == 0) {
        return __openat64_2(dirfd, path, flags);
    }
    fprintf(stderr, "preload_probe: unknown entry %s\n", entry);
    exit(2);
}

/* One open, described in `out`. */
static void probe(char* out, size_t size) {
    errno = 0;
    int fd = call();
    if (fd < 0) {
        const char* name = strerrorname_np(errno);
        snprintf(out, size, "err %s\n", name != NULL ? name : "?");
        return;
    }
    char link[64];
    char target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    struct stat st;
    if (fstat(fd, &st) != 0) {
        memset(&st, 0, sizeof st);
    }
    snprintf(out,
             size,
             "ok %s flags=%#x size=%lld mode=%04o\n",
             target,
             (unsigned)fcntl(fd, F_GETFL),
             (long long)st.st_size,
             (unsigned)(st.st_mode & 07777));
    close(fd);
}

static void* thread_main(void* arg) {
    probe((char*)arg, 4200);
    return NULL;
}

int main(int argc, char** argv) {
    int repeat = 1;
    int threads = 0;
    int fork_first = 0;
    int null_path = 0;
    int i = 1;
    umask(0);
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; ++i) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dirfd = open(argv[++i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dirfd < 0) {
                perror("preload_probe: --dir");
                return 2;
            }
        } else if (strcmp(argv[i], "--dirfd") == 0 && i + 1 < argc) {
            dirfd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--null") == 0) {
            null_path = 1;
        } else if (strcmp(argv[i], "--fork") == 0) {
            fork_first = 1;
        } else {
            fprintf(stderr, "preload_probe: bad option %s\n", argv[i]);
            return 2;
        }
    }
    if (argc - i < 3 || argc - i > 4) {
        fprintf(stderr, "usage: preload_probe [options] ENTRY PATH FLAGS [MODE]\n");
        return 2;
    }
    entry = argv[i];
    path = null_path ? NULL : argv[i + 1];
    flags = (int)strtol(argv[i + 2], NULL, 0);
    mode = argc - i == 4 ? (mode_t)strtol(argv[i + 3], NULL, 0) : 0;
    if (fork_first) {
        /* The open happens in a child: nothing the library did before the fork is needed. */
        pid_t pid = fork();
        if (pid < 0) {
            return 2;
        }
        if (pid > 0) {
            int status = 0;
            waitpid(pid, &status, 0);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
        }
    }
    static char out[64][4200];
    if (threads > 64) {
        threads = 64;
    }
    if (threads > 0) {
        pthread_t t[64];
        for (int k = 0; k < threads; ++k) {
            pthread_create(&t[k], NULL, thread_main, out[k]);
        }
        for (int k = 0; k < threads; ++k) {
            pthread_join(t[k], NULL);
            fputs(out[k], stdout);
        }
        return 0;
    }
    for (int k = 0; k < repeat; ++k) {
        probe(out[0], sizeof out[0]);
        fputs(out[0], stdout);
    }
    return 0;
}
