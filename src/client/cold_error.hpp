// Errors of the noexcept data-path calls (loan, publish, flush, take). Their text is built only
// after a call has failed, out of line, so the fast path carries none of it; and if building
// it throws (std::bad_alloc), the error keeps its code and says "out of memory" instead of
// terminating the process from a noexcept function.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include <zcp/error.hpp>

namespace zcp::detail {

// `text()` returns the message (std::string), or the whole Error.
template <class Text>
[[gnu::cold, gnu::noinline]] Error cold_error(Errc code, Text&& text) noexcept {
  try {
    if constexpr (std::is_same_v<std::invoke_result_t<Text>, Error>) {
      return std::forward<Text>(text)();
    } else {
      return Error{code, 0, std::forward<Text>(text)()};
    }
  } catch (...) {
    return Error{code, 0, "out of memory"};  // 13 bytes: the string's inline buffer, no allocation
  }
}

}  // namespace zcp::detail
