/* A C11 program on zerocp's C ABI alone: publishes one message and receives it through the
 * daemon named by $ZCP_INSTANCE, checks that misuse is refused with an error (not a crash),
 * and prints "received 42". Built in-tree with -std=c11 -Wall -Wextra -Werror -pedantic, and
 * by tests/install against the installed package (find_package and pkg-config). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zcp/zcp.h>

static int failed(const char* what, zcp_status status) {
  fprintf(stderr, "%s: %s: %s\n", what, zcp_status_name(status), zcp_last_error());
  return 1;
}

int main(void) {
  zcp_runtime_options options;
  zcp_runtime_options_init(&options);
  options.name = "c-consumer";

  zcp_runtime* rt = NULL;
  zcp_status st = zcp_runtime_connect(&options, &rt);
  if (st != ZCP_OK) return failed("connect", st);

  zcp_subscriber* sub = NULL;
  st = zcp_subscriber_create(rt, "c/consumer/answer", NULL, &sub);
  if (st != ZCP_OK) return failed("subscriber", st);
  zcp_publisher* pub = NULL;
  st = zcp_publisher_create(rt, "c/consumer/answer", NULL, &pub);
  if (st != ZCP_OK) return failed("publisher", st);

  zcp_loan loan;
  st = zcp_publisher_loan(pub, sizeof(uint32_t), &loan);
  if (st != ZCP_OK) return failed("loan", st);
  const uint32_t answer = 42;
  memcpy(loan.data, &answer, sizeof answer); /* written once, in shared memory */
  st = zcp_publisher_publish(pub, &loan);
  if (st != ZCP_OK) return failed("publish", st);

  /* The loan was consumed: publishing it again is refused, not a crash. */
  if (zcp_publisher_publish(pub, &loan) != ZCP_ERR_INVALID_HANDLE) {
    fprintf(stderr, "a second publish of one loan was not refused\n");
    return 1;
  }

  zcp_sample sample;
  for (int tries = 0; tries < 100; ++tries) {
    st = zcp_subscriber_take(sub, &sample);
    if (st != ZCP_EMPTY) break;
    (void)zcp_subscriber_wait(sub, 100 * 1000 * 1000);
  }
  if (st != ZCP_OK) return failed("take (10 s)", st);
  uint32_t got = 0;
  if (sample.size != sizeof got) {
    fprintf(stderr, "received %zu bytes, not %zu\n", sample.size, sizeof got);
    return 1;
  }
  memcpy(&got, sample.data, sizeof got);
  printf("received %u (sequence %llu)\n", got, (unsigned long long)sample.sequence);

  zcp_sample copy = sample;
  st = zcp_subscriber_release(sub, &sample);
  if (st != ZCP_OK) return failed("release", st);
  if (zcp_subscriber_release(sub, &copy) != ZCP_ERR_INVALID_HANDLE) {
    fprintf(stderr, "a second release of one sample was not refused\n");
    return 1;
  }
  if (zcp_publisher_loan(NULL, 1, &loan) != ZCP_ERR_INVALID_ARGUMENT) {
    fprintf(stderr, "a NULL publisher was not refused\n");
    return 1;
  }

  zcp_publisher_destroy(pub);
  zcp_subscriber_destroy(sub);
  zcp_runtime_close(rt);
  return got == 42 ? 0 : 1;
}
