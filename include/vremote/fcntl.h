/*
 * vremote/fcntl.h: the open(2) flags of the VRemote Storage kernel patch, for programs run under
 * the vremote preload library (libvremote-preload.so, docs/preload.md).
 *
 *   #include <fcntl.h>
 *   #include <vremote/fcntl.h>
 *
 *   int fd = open("notes.txt", O_RDWR | O_REMOTE);             // this node is a remote
 *   int fd = open("notes.txt", O_RDWR | O_REMOTE | O_ORIGIN);  // this node is the file's origin
 *
 * With LD_PRELOAD=libvremote-preload.so, an open carrying O_REMOTE is redirected to the file's
 * path on the vremote mount (node.mount) and the two flags are removed before the real open(2);
 * the descriptor is an ordinary one. Without the library the kernel ignores both bits (open(2)
 * drops unknown flags), so the program opens its local file unchanged. O_ORIGIN without
 * O_REMOTE means nothing, as in the seed kernel.
 *
 * The values are those of the seed's final kernel header (include/uapi/asm-generic/fcntl.h):
 * octal 020 and octal 010. Its README's example defines O_ORIGIN as decimal 10000000
 * (0x989680), which carries O_TRUNC, O_APPEND and more; the preload library recognises that
 * exact value and treats it as O_ORIGIN without truncating anything (docs/preload.md).
 *
 * Collision check (Linux open flags, octal; the uapi layout of asm-generic/fcntl.h, with arm64's
 * own four, and glibc's bits/fcntl-linux.h):
 *
 *   bit  octal       x86-64                      aarch64
 *   0-1  00000003    O_ACCMODE                   O_ACCMODE
 *   2    00000004    -                           -
 *   3    00000010    -            <- O_ORIGIN    -
 *   4    00000020    -            <- O_REMOTE    -
 *   5    00000040    -  (the kernel's internal __FMODE_EXEC; not an open flag)
 *   6    00000100    O_CREAT                     O_CREAT
 *   7    00000200    O_EXCL                      O_EXCL
 *   8    00000400    O_NOCTTY                    O_NOCTTY
 *   9    00001000    O_TRUNC                     O_TRUNC
 *   10   00002000    O_APPEND                    O_APPEND
 *   11   00004000    O_NONBLOCK                  O_NONBLOCK
 *   12   00010000    O_DSYNC                     O_DSYNC
 *   13   00020000    O_ASYNC (FASYNC)            O_ASYNC (FASYNC)
 *   14   00040000    O_DIRECT                    O_DIRECTORY
 *   15   00100000    O_LARGEFILE (kernel)        O_NOFOLLOW
 *   16   00200000    O_DIRECTORY                 O_DIRECT
 *   17   00400000    O_NOFOLLOW                  O_LARGEFILE (kernel)
 *   18   01000000    O_NOATIME                   O_NOATIME
 *   19   02000000    O_CLOEXEC                   O_CLOEXEC
 *   20   04000000    __O_SYNC (O_SYNC = 04010000) __O_SYNC
 *   21   010000000   O_PATH                      O_PATH
 *   22   020000000   __O_TMPFILE (with O_DIRECTORY = O_TMPFILE)
 *
 * Bits 3 and 4 are used by neither architecture (glibc defines O_LARGEFILE as 0 on both 64-bit
 * ABIs; the kernel's own value is listed). The check below repeats this at compile time against
 * the <fcntl.h> in use. Other architectures differ: on alpha, parisc, sparc and mips, 010 is
 * O_APPEND, and on mips 020 is O_DSYNC, so this header refuses them.
 *
 * This header is valid C99 and C++.
 */
#ifndef VREMOTE_FCNTL_H
#define VREMOTE_FCNTL_H

#include <fcntl.h>

#if !defined(__linux__) || !(defined(__x86_64__) || defined(__aarch64__))
#error "vremote/fcntl.h: O_REMOTE and O_ORIGIN are checked for Linux on x86-64 and aarch64 only"
#endif

#ifndef O_REMOTE
#define O_REMOTE 020 /* open the file through vremote (this node is a remote) */
#endif
#ifndef O_ORIGIN
#define O_ORIGIN 010 /* with O_REMOTE: the path is this node's own file (its origin) */
#endif

/* The seed README's O_ORIGIN, decimal 10000000: never use it (see above). */
#define VREMOTE_SEED_DECIMAL_O_ORIGIN 0x989680

#if O_REMOTE != 020
#error "vremote/fcntl.h: O_REMOTE was defined elsewhere with another value; it is octal 020"
#endif
#if O_ORIGIN != 010
#error \
    "vremote/fcntl.h: O_ORIGIN was defined elsewhere with another value (the seed README's decimal 10000000?); it is octal 010"
#endif

/* Every open flag <fcntl.h> defines here, and the kernel's O_LARGEFILE, must avoid both bits. */
#define VREMOTE_FCNTL_BITS_ (O_REMOTE | O_ORIGIN)
#if (O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | \
     O_SYNC | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) &                                      \
    VREMOTE_FCNTL_BITS_
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with a POSIX open flag"
#endif
#if defined(O_ASYNC) && (O_ASYNC & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_ASYNC"
#endif
#if defined(O_DIRECT) && (O_DIRECT & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_DIRECT"
#endif
#if defined(O_LARGEFILE) && (O_LARGEFILE & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_LARGEFILE"
#endif
#if defined(O_NOATIME) && (O_NOATIME & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_NOATIME"
#endif
#if defined(O_PATH) && (O_PATH & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_PATH"
#endif
#if defined(O_TMPFILE) && (O_TMPFILE & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_TMPFILE"
#endif
#if defined(O_RSYNC) && (O_RSYNC & VREMOTE_FCNTL_BITS_)
#error "vremote/fcntl.h: O_REMOTE or O_ORIGIN collides with O_RSYNC"
#endif
/* The kernel's O_LARGEFILE (glibc shows 0 on 64-bit ABIs): 0100000 on x86-64, 0400000 on
 * aarch64; neither holds bit 3 or 4. */
#undef VREMOTE_FCNTL_BITS_

#endif /* VREMOTE_FCNTL_H */
