#include <fcntl.h>
#include <stdio.h>

#define O_REMOTE   00000020
#define O_ORIGIN   10000000

int main() {
    int fd = open("myfile.txt", O_RDWR | O_REMOTE | O_ORIGIN);
    if (fd < 0) {
        perror("Failed to open file");
        return 1;
    }

    char buffer[512];
    ssize_t bytes = read(fd, buffer, sizeof(buffer));
    printf("Read %zd bytes\n", bytes);
    
    close(fd);
    return 0;
}
