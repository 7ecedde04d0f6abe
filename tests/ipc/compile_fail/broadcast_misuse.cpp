// Compiled once per case by tests/client/expect_compile.cmake (tests/ipc/CMakeLists.txt):
// ZCP_CASE_ok must compile; every other case must fail, with a diagnostic matching its regex.
#include <utility>

#include <zcp/ipc/broadcast_hub.hpp>

using namespace zcp::ipc;

void use(DataBroadcaster& out, DataSubscriber& in) {
  auto loan = out.loan_block();
  auto handle = in.receive_block();
#if defined(ZCP_CASE_ok)
  (*loan)->record_count = 1;
  loan->data()[0] = 1;
  (void)out.publish_block(std::move(*loan));
  const ZeroCopyMarketBlock* p = *handle;  // an lvalue handle converts: valid while it lives
  if (*handle && p != nullptr && (*handle)->record_count == (**handle).record_count) {
    (void)handle->data();
  }
#elif defined(ZCP_CASE_publish_lvalue)
  (void)out.publish_block(*loan);  // use after publish would follow: refused
  (*loan)->record_count = 2;
#elif defined(ZCP_CASE_loan_of_temporary)
  ZeroCopyMarketBlock* b = (*out.loan_block()).get();  // the loan dies at the semicolon
  (void)b;
#elif defined(ZCP_CASE_pointer_from_temporary_handle)
  const ZeroCopyMarketBlock* b = *in.receive_block();  // the seed's dangling pointer
  (void)b;
#elif defined(ZCP_CASE_copy_handle)
  BlockHandle copy = *handle;  // two owners of one chunk
  (void)copy;
#elif defined(ZCP_CASE_copy_loan)
  BlockLoan copy = *loan;
  (void)copy;
#else
#error "define one ZCP_CASE_*"
#endif
}
