// libzcp's public API without a daemon: what must (and must not) compile, topic parsing,
// error values, and failing cleanly when no daemon runs. The end-to-end behaviour is in
// pubsub_test.cpp; what must not compile is also checked by compiling (compile_fail/).
#include <cstdlib>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include <zcp/asio.hpp>
#include <zcp/zcp.hpp>

namespace {

using namespace zcp;

struct Tick {
  std::uint64_t id;
  double price;
};
struct NotTrivial {
  std::string s;
};

// ---- Move-only value types -------------------------------------------------------------
static_assert(!std::is_copy_constructible_v<Loan<>> &&
              std::is_nothrow_move_constructible_v<Loan<>>);
static_assert(!std::is_copy_constructible_v<Sample<>> &&
              std::is_nothrow_move_constructible_v<Sample<>>);
static_assert(!std::is_copy_constructible_v<Loan<Tick>> &&
              std::is_nothrow_move_constructible_v<Loan<Tick>>);
static_assert(!std::is_copy_constructible_v<Sample<Tick>>);
static_assert(!std::is_copy_constructible_v<Publisher<>> &&
              std::is_nothrow_move_constructible_v<Publisher<>>);
static_assert(!std::is_copy_constructible_v<Subscriber<>> &&
              std::is_nothrow_move_constructible_v<Subscriber<>>);
static_assert(!std::is_copy_constructible_v<Publisher<Tick>> &&
              std::is_move_constructible_v<Publisher<Tick>>);
static_assert(std::is_same_v<Publisher<>, Publisher<void>> &&
              std::is_same_v<UntypedPublisher, Publisher<>>);
static_assert(std::is_same_v<Subscriber<>, Subscriber<void>> &&
              std::is_same_v<UntypedSubscriber, Subscriber<>>);

// ---- Publishing consumes the loan: only an rvalue is accepted --------------------------
template <class P, class L>
concept PublishesLvalue = requires(P& p, L& l) {
  p.publish(l);
};
template <class P, class L>
concept PublishesRvalue = requires(P& p, L& l) {
  p.publish(std::move(l));
};
static_assert(PublishesRvalue<Publisher<>, Loan<>>);
static_assert(!PublishesLvalue<Publisher<>, Loan<>>,
              "publish(loan) must not compile: use std::move");
static_assert(PublishesRvalue<Publisher<Tick>, Loan<Tick>>);
static_assert(!PublishesLvalue<Publisher<Tick>, Loan<Tick>>,
              "publish(loan) must not compile: use std::move");
static_assert(!PublishesRvalue<Publisher<>, Loan<Tick>>,
              "a typed loan does not go to an untyped publisher");
static_assert(!PublishesRvalue<Publisher<Tick>, Loan<>>,
              "an untyped loan does not go to a typed publisher");

// ---- Spans only from lvalues (a span of a temporary would dangle at once) --------------
template <class T>
concept SpanOfRvalue = requires(T t) {
  std::move(t).data();
};
static_assert(!SpanOfRvalue<Loan<>> && !SpanOfRvalue<Sample<>>);

// ---- Typed API shapes ------------------------------------------------------------------
static_assert(std::is_same_v<decltype(std::declval<Loan<Tick>&>().operator->()), Tick*>);
static_assert(std::is_same_v<decltype(*std::declval<Loan<Tick>&>()), Tick&>);
static_assert(std::is_same_v<decltype(std::declval<Sample<Tick>&>().operator->()), const Tick*>);
static_assert(
    std::is_same_v<decltype(std::declval<Publisher<Tick>&>().loan()), Result<Loan<Tick>>>);
static_assert(std::is_same_v<decltype(std::declval<Publisher<Tick>&>().loan_uninitialized()),
                             Result<Loan<Tick>>>);
static_assert(std::is_same_v<decltype(std::declval<Subscriber<Tick>&>().take()),
                             std::optional<Sample<Tick>>>);
static_assert(
    std::is_same_v<decltype(std::declval<Subscriber<>&>().take()), std::optional<Sample<>>>);
static_assert(
    std::is_same_v<decltype(std::declval<Sample<>&>().data()), std::span<const std::byte>>);
static_assert(std::is_same_v<decltype(std::declval<Loan<>&>().data()), std::span<std::byte>>);
static_assert(noexcept(std::declval<Publisher<>&>().loan(1)) && noexcept(
                  std::declval<Subscriber<>&>().take()),
              "the data path does not throw");

// The Asio adapters instantiate (compile-only: never called without a daemon).
[[maybe_unused]] void asio_adapters_compile(asio::io_context& io, Subscriber<Tick>& typed,
                                            Subscriber<>& raw) {
  AsioSubscriber a(io.get_executor(), typed);
  a.async_take([](std::error_code, Sample<Tick>) {});
  a.async_wait([](std::error_code) {});
  auto d = make_wait_descriptor(io.get_executor(), raw);
  async_take(d, raw, [](std::error_code, Sample<>) {});
  async_wait(d, raw, [](std::error_code) {});
}

TEST(TopicTest, ParsesThreeNonEmptyParts) {
  auto t = Topic::parse("md/feed/ticks");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->service, "md");
  EXPECT_EQ(t->instance, "feed");
  EXPECT_EQ(t->event, "ticks");
  EXPECT_EQ(t->str(), "md/feed/ticks");
  for (const char* bad : {"", "a", "a/b", "a/b/c/d", "/b/c", "a//c", "a/b/"}) {
    auto r = Topic::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_NE(r.error().message.find("SERVICE/INSTANCE/EVENT"), std::string::npos)
        << r.error().message;
  }
}

TEST(ErrorTest, CodesConvertToStdErrorCode) {
  std::error_code ec = Errc::kWouldBlock;
  EXPECT_EQ(ec.category().name(), std::string("zcp"));
  EXPECT_EQ(ec.message(), "would block");
  EXPECT_EQ(ec, make_error_code(Errc::kWouldBlock));
  EXPECT_STREQ(to_string(Errc::kPoolExhausted), "pool exhausted");
  EXPECT_STREQ(to_string(Errc::kTooManyHeld), "too many samples held");
}

TEST(LoanTest, EmptyValuesAreInert) {
  Loan<> l;
  EXPECT_FALSE(l);
  EXPECT_TRUE(l.data().empty());
  EXPECT_FALSE(l.resize(1));
  l.reset();  // nothing to give back
  Loan<Tick> t;
  EXPECT_EQ(t.get(), nullptr);
  Sample<> s;
  EXPECT_FALSE(s);
  EXPECT_TRUE(s.data().empty());
  Sample<Tick> st;
  EXPECT_EQ(st.get(), nullptr);
}

TEST(RuntimeTest, NoDaemonIsAClearErrorNotAHang) {
  ::setenv("ZCP_RUNTIME_DIR", "/tmp/zcp-api-test-nowhere", 1);
  auto rt = Runtime::connect({.instance = "no-such-daemon"});
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code, Errc::kDaemonUnavailable);
  EXPECT_NE(rt.error().message.find("no-such-daemon"), std::string::npos) << rt.error().message;
}

}  // namespace
