/* A line server for the kit's tests of your own images, built static into an image
 * FROM scratch: it listens on PORT, answers each line of a connection with "ok: LINE",
 * closes a connection once its client does, and serves until it is stopped.
 * With --die it says so and exits 3 at once, as a server that cannot start does. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void serve(int conn)
{
    char line[512];
    FILE *in = fdopen(conn, "r");
    while (in && fgets(line, sizeof line, in)) {
        char reply[600];
        int n = snprintf(reply, sizeof reply, "ok: %s", line);
        if (write(conn, reply, (size_t)n) < 0)
            break;
    }
    printf("a client closed its connection\n");
    fflush(stdout);
    if (in)
        fclose(in);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lineserver PORT [--die]\n");
        return 2;
    }
    if (argc > 2 && strcmp(argv[2], "--die") == 0) {
        fprintf(stderr, "lineserver: told to die before listening\n");
        return 3;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 16) < 0) {
        perror("lineserver: bind/listen");
        return 1;
    }
    printf("listening on port %s\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int conn = accept(fd, NULL, NULL);
        if (conn >= 0)
            serve(conn);
    }
}
