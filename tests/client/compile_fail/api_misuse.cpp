// Compiled once per case by tests/client/expect_compile.cmake: ZCP_CASE_ok must compile,
// every other case must fail to compile, with a diagnostic matching the test's regex.
#include <string>
#include <utility>

#include <zcp/zcp.hpp>

struct Tick {
  long id;
};
struct NotTrivial {
  std::string s;
};

void use(zcp::Publisher<>& pub, zcp::Publisher<Tick>& typed) {
  auto loan = pub.loan(8);
  auto tick = typed.loan();
#if defined(ZCP_CASE_ok)
  (void)pub.publish(std::move(*loan));
  (void)typed.publish(std::move(*tick));
#elif defined(ZCP_CASE_publish_lvalue)
  (void)pub.publish(*loan);  // use after publish would follow: refused
  (*loan).data()[0] = std::byte{1};
#elif defined(ZCP_CASE_typed_publish_lvalue)
  (void)typed.publish(*tick);
  (*tick)->id = 2;
#elif defined(ZCP_CASE_copy_loan)
  zcp::Loan<> copy = *loan;  // two owners of one chunk
  (void)copy;
#elif defined(ZCP_CASE_span_of_temporary)
  auto span = std::move(*loan).data();  // would dangle
  (void)span;
#elif defined(ZCP_CASE_non_trivial_type)
  zcp::Publisher<NotTrivial>* p = nullptr;
  (void)p->publish(NotTrivial{});
#else
#error "define one ZCP_CASE_*"
#endif
  (void)tick;
}
