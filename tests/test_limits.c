/* SPDX-License-Identifier: MIT */
/*
 * Connection limits of the HTTP layer (issue 2, point 4), over raw sockets: an idle keep-alive
 * connection is closed after idle_timeout_s, and connections beyond max_connections are
 * refused at once while those within keep being served.
 */
#define _GNU_SOURCE /* strcasestr */
#include "common.h"
#include "e2e.h"
#include "tests.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static struct test_server srv;
static char conf[600];

static void start_with(const char *settings)
{
    char *dir = test_tmpdir();
    snprintf(conf, sizeof(conf), "%s/limits.conf", dir);
    free(dir);
    ck_assert(test_write_file(conf, settings));
    const char *extra[] = {"--config", conf, NULL};
    ck_assert(test_server_start(&srv, NULL, extra));
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    return fd;
}

/* Waits up to timeout_ms for the peer to close: true when recv returns 0 (or reset). */
static bool closed_within(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    char b[512];
    ssize_t n = recv(fd, b, sizeof(b), 0);
    return n <= 0;
}

/* Sends a GET with the suite's token and reads the whole response (headers and
 * Content-Length bytes of body); true when it is a 200. */
static bool served(int fd)
{
    char req[5000];
    int n = snprintf(req, sizeof(req),
                     "GET /api/incidents?$top=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     "%s\r\n\r\n",
                     srv.token);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return false;
    char b[16384];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            return false;
        ssize_t r = recv(fd, b + got, sizeof(b) - 1 - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
        b[got] = '\0';
        const char *end = strstr(b, "\r\n\r\n");
        const char *cl = strcasestr(b, "Content-Length:");
        if (end && cl && got >= (size_t)(end + 4 - b) + (size_t)atol(cl + 15))
            break;
        if (got >= sizeof(b) - 1)
            return false;
    }
    return strncmp(b, "HTTP/1.1 200", 12) == 0;
}

START_TEST(test_limits_idle_timeout_closes)
{
    start_with("idle_timeout_s = 1\n");
    int fd = connect_to(srv.port);
    ck_assert(served(fd)); /* keep-alive: the connection stays open after a response */
    ck_assert_msg(closed_within(fd, 6000), "idle connection not closed after idle_timeout_s");
    close(fd);
    ck_assert_int_eq(test_server_stop(&srv, false), 0);
}
END_TEST

START_TEST(test_limits_connection_count)
{
    start_with("max_connections = 3\n");
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = connect_to(srv.port);
        ck_assert(served(fds[i]));
    }
    /* The fourth is accepted by the kernel and closed by the server straight away. */
    int extra = connect_to(srv.port);
    ck_assert_msg(closed_within(extra, 5000), "connection over max_connections was served");
    close(extra);
    /* The three within the limit are still served, and a slot frees when one closes. */
    ck_assert(served(fds[1]));
    close(fds[0]);
    bool ok = false;
    for (int tries = 0; tries < 50 && !ok; tries++) {
        int fd = connect_to(srv.port);
        ok = served(fd);
        close(fd);
        if (!ok)
            usleep(100 * 1000);
    }
    ck_assert_msg(ok, "no connection accepted after one closed");
    close(fds[1]);
    close(fds[2]);
    ck_assert_int_eq(test_server_stop(&srv, false), 0);
}
END_TEST

Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("connections");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_limits_idle_timeout_closes);
    tcase_add_test(tc, test_limits_connection_count);
    suite_add_tcase(s, tc);
    return s;
}
