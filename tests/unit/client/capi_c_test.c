/* The public header compiles as strict C11, and the library answers a C program: a missing
 * daemon is NULL with errno, words in vr_last_error; errors have descriptions. Exit status 0
 * when every check holds. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <vremote/vremote.h>

static int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

int main(void) {
    struct vr_stat st;
    vr_client* c;
    memset(&st, 0, sizeof st);
    CHECK(sizeof st.ino == 8 && sizeof st.size == 8 && sizeof st.mode == 4 &&
          sizeof st.mtime_ns == 8);
    CHECK((VR_O_CREAT | VR_O_EXCL | VR_O_TRUNC | VR_O_RDONLY) == 0xF);

    errno = 0;
    c = vr_connect("/nonexistent/vremoted.sock");
    CHECK(c == NULL);
    CHECK(errno == ENOENT);
    CHECK(strstr(vr_last_error(), "/nonexistent/vremoted.sock") != NULL);
    CHECK(strcmp(vr_strerror(-ENOENT), "no such file") == 0);
    CHECK(vr_strerror(-123456) != NULL);
    CHECK(vr_open(NULL, "n1/x", 0, 0) == -EINVAL);
    CHECK(vr_pread(NULL, 0, NULL, 0, 0) == -EINVAL);
    CHECK(vr_stat(NULL, "n1/x", &st) == -EINVAL);
    vr_disconnect(NULL);
    if (failures == 0) {
        printf("capi_c_test: ok\n");
    }
    return failures == 0 ? 0 : 1;
}
